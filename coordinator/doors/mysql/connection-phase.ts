import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../../common/daemon/logger';
import type { TlsFiles } from './tls-upgrade';
import { identityOfCertificate, type Identity } from '../../../common/tls/identity';
import { errorText } from '../../../errors/error-text';
import { QuellError } from '../../../errors/quell-error';
import type { StatementRunner } from '../../statements/statement-runner';
import type { User } from '../../auth/users';
import { authSwitchPacket, greetingPacket, newScramble, parseHandshakeResponse, SERVER_CAPABILITIES, type HandshakeResponse } from './handshake';
import { CHARSET_UTF8MB4, CLIENT, MalformedPacket, NATIVE_PASSWORD_PLUGIN } from './protocol';
import { errPacket, MARIADB_ERRORS, okPacket, type WireError } from './results';
import { MAX_ALLOWED_PACKET, useDatabase } from './session-statements';
import { MAX_QUERY_SIZE } from '../../../sql/parser';
import { PacketDropped, type Packet } from './framing';
import type { Wire } from './wire';

/** MariaDB's connect_timeout: the whole handshake, TLS included, within this. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** A handshake response is small; garbage that claims more is refused at its first header. */
export const HANDSHAKE_PACKET_LIMIT = 64 * 1024;
/**
 * After the login a packet may be max_allowed_packet long, but one longer than a statement may be
 * (max_query_size, and its command byte) is thrown away as it arrives, never held: the session
 * answers it with the statement's error without having kept its bytes.
 */
export const COMMAND_PACKET_KEEP = 1 + MAX_QUERY_SIZE;

/** Admits a logged-in user's session: its release, or undefined when the user has its most sessions. */
export type AdmitSession = (user: string) => (() => void) | undefined;

/** What the connection phase needs to know. */
export interface ConnectionPhaseDeps {
  readonly runner: StatementRunner;
  readonly serverVersion: string;
  /** the certificate for the SSL upgrade; undefined: plaintext (loopback with --insecure) */
  readonly tlsFiles: (() => TlsFiles) | undefined;
  readonly trustDomain: string;
  readonly admit: AdmitSession;
  readonly log: Logger;
}

/** A session that logged in. */
export interface LoggedIn {
  readonly user: User;
  /** the verified identity of the client certificate, if any */
  readonly peer: Identity | undefined;
  readonly tls: { readonly cipher: string; readonly version: string } | undefined;
  readonly database: string | undefined;
  /** gives the user's session place back (the session's end) */
  readonly release: () => void;
}

/** A packet of the connection phase; a dropped one (the door's packet budget was in use) ends it. */
function kept(p: Packet | undefined): Packet | undefined {
  if (p?.dropped) throw new PacketDropped(p.dropped);
  return p;
}

/** The client certificate's quell identity, when it sent one that our CA signed. */
function verifiedPeer(tls: TLSSocket, trustDomain: string): Identity | undefined {
  if (!tls.authorized) return undefined;
  const cert = tls.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const found = identityOfCertificate(cert, trustDomain);
  return found.ok ? found.identity : undefined;
}

/**
 * The connection phase of one MySQL connection: greeting, the SSL upgrade (required when the
 * coordinator has a certificate), an auth switch to mysql_native_password when the client
 * answered for another plugin, one login through the statement runner, the database named in
 * the handshake, then OK. Undefined when the session is over (refused, gone, timed out).
 * Throws MalformedPacket, PacketTooLarge and OutOfOrder for a client that breaks the protocol,
 * PacketDropped for a packet the door had no room for.
 */
export class ConnectionPhase {
  private tls: LoggedIn['tls'];
  private peer: Identity | undefined;

  constructor(
    private readonly wire: Wire,
    private readonly deps: ConnectionPhaseDeps,
    private readonly connectionId: number,
    /** host:port, for throttling and the log */
    private readonly address: string,
    /** the client's host as MariaDB names it in 'user'@'host' */
    private readonly host: string,
  ) {}

  async run(): Promise<LoggedIn | undefined> {
    const timer = setTimeout(() => {
      this.deps.log.info({ client: this.address }, 'no complete handshake within the connect timeout: connection closed');
      this.wire.destroy();
    }, CONNECT_TIMEOUT_MS);
    let response: HandshakeResponse | undefined;
    const scramble = newScramble();
    try {
      const capabilities = SERVER_CAPABILITIES | (this.deps.tlsFiles ? CLIENT.SSL : 0);
      this.wire.send(greetingPacket({ serverVersion: this.deps.serverVersion, connectionId: this.connectionId, scramble, capabilities, charset: CHARSET_UTF8MB4 }));
      response = await this.handshakeResponse(capabilities);
      if (!response) return undefined;
      if (this.deps.tlsFiles && !this.wire.tls) {
        // every hop is encrypted (docs/front-doors.md §Connection phase): the client must ask for TLS; its password is not checked
        this.deps.log.info({ user: response.user, client: this.address }, 'login refused: the client did not ask for TLS');
        this.refuse(MARIADB_ERRORS.accessDenied(response.user, this.host, response.authResponse.length > 0, ': this server requires TLS (mariadb --ssl, or ssl-mode=REQUIRED)'));
        return undefined;
      }
      if (response.plugin !== '' && response.plugin !== NATIVE_PASSWORD_PLUGIN) {
        // the client answered for another plugin (caching_sha2_password, ed25519): ask for ours
        this.wire.send(authSwitchPacket(scramble));
        const reply = kept(await this.wire.next());
        if (!reply) return undefined;
        response = { ...response, authResponse: reply.payload, plugin: NATIVE_PASSWORD_PLUGIN };
      }
    } finally {
      // the login's own wait (the throttle) is not the client's to answer for
      clearTimeout(timer);
    }
    return this.login(response, scramble);
  }

  /** The handshake response, after the SSL upgrade if the client asks for one. */
  private async handshakeResponse(capabilities: number): Promise<HandshakeResponse | undefined> {
    const first = kept(await this.wire.next());
    if (!first) return undefined;
    const response = parseHandshakeResponse(first.payload, capabilities);
    if (!response.sslRequest) return response;
    const files = this.deps.tlsFiles;
    if (!files) throw new MalformedPacket('an SSLRequest to a server that did not offer TLS');
    let tls: TLSSocket;
    try {
      tls = await this.wire.upgrade(files(), CONNECT_TIMEOUT_MS);
    } catch (err) {
      this.deps.log.info({ client: this.address, reason: errorText(err) }, 'TLS handshake failed: connection closed');
      return undefined;
    }
    this.tls = { cipher: tls.getCipher().name, version: tls.getProtocol() ?? '' };
    this.peer = verifiedPeer(tls, this.deps.trustDomain);
    const second = kept(await this.wire.next());
    if (!second) return undefined;
    const after = parseHandshakeResponse(second.payload, capabilities);
    if (after.sslRequest) throw new MalformedPacket('a second SSLRequest');
    return after;
  }

  /** One login through the runner (certificate, or the throttled mysql_native_password check). */
  private async login(response: HandshakeResponse, scramble: Buffer): Promise<LoggedIn | undefined> {
    let user: User;
    try {
      user = await this.deps.runner.login({
        user: response.user,
        credentials: { kind: 'nativePassword', scramble, reply: response.authResponse },
        peer: this.peer,
        address: this.address,
      });
    } catch (err) {
      if (!(err instanceof QuellError)) throw err;
      // the client learns only MariaDB's words; the log says why
      this.deps.log.info({ user: response.user, client: this.address, reason: err.message }, 'login refused');
      this.refuse(MARIADB_ERRORS.accessDenied(response.user, this.host, response.authResponse.length > 0));
      return undefined;
    }
    let database: string | undefined;
    if (response.database !== undefined) {
      const use = useDatabase(response.database);
      if (use.kind === 'error') {
        this.refuse(use.error);
        return undefined;
      }
      if (use.kind === 'useDatabase') database = use.database;
    }
    if (this.deps.runner.refusing) {
      this.refuse(MARIADB_ERRORS.serverShutdown());
      return undefined;
    }
    // MariaDB's max_user_connections: checked and taken at once, after the login as MariaDB does
    const release = this.deps.admit(user.name);
    if (!release) {
      this.deps.log.info({ user: user.name, client: this.address }, 'login refused: the user has its most sessions (--mysql-max-sessions-per-user)');
      this.refuse(MARIADB_ERRORS.tooManyUserConnections(user.name));
      return undefined;
    }
    this.wire.setPacketLimits({ max: MAX_ALLOWED_PACKET, keep: COMMAND_PACKET_KEEP });
    this.wire.send(okPacket());
    return { user, peer: this.peer, tls: this.tls, database, release };
  }

  private refuse(error: WireError): void {
    this.wire.send(errPacket(error));
  }
}
