import type { Socket } from 'node:net';
import type { Logger } from '../../../common/daemon/logger';
import type { TlsFiles } from './tls-upgrade';
import { formatIdentity, type Identity } from '../../../common/tls/identity';
import { errorText } from '../../../errors/error-text';
import { chError, QuellError } from '../../../errors/quell-error';
import { maxQuerySizeExceeded } from '../../../sql/parser';
import type { StatementRunner } from '../../statements/statement-runner';
import { killReason } from '../../statements/settings';
import type { SessionHandle, SessionKill, SessionProcess, SessionRegistry } from '../sessions';
import type { User } from '../../auth/users';
import { PacketDropped, PacketTooLarge, type Dropped, type PacketBudget } from './framing';
import { COM, MalformedPacket, PayloadWriter } from './protocol';
import { MysqlResultSink } from './result-sink';
import { expandExecutableComments, versionNumber } from './executable-comments';
import { eofPacket, errPacket, MARIADB_ERRORS, okPacket, resultSetPackets, wireError, type WireError } from './results';
import { sessionStatement, useDatabase, type Diagnostic, type LocalAnswer, type ServerInfo, type SessionInfo } from './session-statements';
import { OutOfOrder, Wire } from './wire';
import { ConnectionPhase, HANDSHAKE_PACKET_LIMIT, type AdmitSession } from './connection-phase';

/** The code of quell's warnings in SHOW WARNINGS: they have no MariaDB number of their own (ER_UNKNOWN_ERROR). */
const WARNING_CODE = 1105;

export interface SessionDeps {
  readonly runner: StatementRunner;
  readonly registry: SessionRegistry;
  readonly server: ServerInfo;
  /** the certificate for the SSL upgrade; undefined: plaintext (loopback with --insecure) */
  readonly tlsFiles: (() => TlsFiles) | undefined;
  readonly trustDomain: string;
  /** the door's bytes for packets still arriving, shared by its connections */
  readonly budget: PacketBudget;
  /** the per-user session cap */
  readonly admit: AdmitSession;
  readonly log: Logger;
}

/** A packet refused because the door's packet budget was in use: ClickHouse's error for a memory limit. */
function budgetExceeded(size: number, limit: number): WireError {
  return wireError(chError('MEMORY_LIMIT_EXCEEDED', `Memory limit (MySQL door, packets being received) exceeded: a packet of ${size} bytes would take the door past its maximum of ${limit} bytes; try again later`, true));
}

/** The client's host as MariaDB shows it in 'user'@'host': the address without port or IPv4-mapped prefix. */
function hostOf(socket: Socket): string {
  return (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
}

/**
 * One MySQL connection: handshake (with the SSL upgrade when the coordinator has a
 * certificate), one login through the statement runner, then commands until the client quits.
 * Statements run one at a time through the shared statement path as the logged-in user; the
 * session's own chatter (SET, USE, SHOW WARNINGS, @@variables) is answered here. It has a
 * connection id, so `KILL [QUERY] <id>` from another session ends its running statement.
 */
export class MysqlSession implements SessionHandle {
  readonly id: number;
  private readonly wire: Wire;
  private readonly host: string;
  private readonly address: string;
  private userName = '';
  private database: string | undefined;
  private diagnostics: Diagnostic[] = [];
  /** `SET kill_reason`: sent with the session's kills ('' none) */
  private killReason = '';
  private tlsInfo: SessionInfo['tls'];
  private peer: Identity | undefined;
  /** the running statement's abort, while one runs */
  private running: AbortController | undefined;
  /** why the running statement was ended by the session (KILL, shutdown) */
  private interrupted: WireError | undefined;
  private connectionKilled = false;
  /** the statement running now (SHOW PROCESSLIST's Info), and since when the session is in its command */
  private statement: string | undefined;
  private since = Date.now();
  private readonly log: Logger;

  constructor(
    socket: Socket,
    private readonly deps: SessionDeps,
  ) {
    this.id = deps.registry.allocate();
    this.host = hostOf(socket);
    this.address = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;
    this.log = deps.log.child({ session: this.id });
    this.wire = new Wire(socket, { max: HANDSHAKE_PACKET_LIMIT }, deps.budget);
    // a client that goes away cancels what it was running
    this.wire.onGone(() => this.running?.abort());
  }

  get user(): string {
    return this.userName;
  }

  /** Runs the connection to its end; never rejects. */
  async run(): Promise<void> {
    let release: (() => void) | undefined;
    try {
      const loggedIn = await new ConnectionPhase(this.wire, { ...this.deps, serverVersion: this.deps.server.version }, this.id, this.address, this.host).run();
      if (!loggedIn) return;
      release = loggedIn.release;
      const user = loggedIn.user;
      this.userName = user.name;
      this.peer = loggedIn.peer;
      this.tlsInfo = loggedIn.tls;
      this.database = loggedIn.database;
      this.deps.registry.add(this);
      this.log.info({ user: user.name, client: this.address, tls: this.tlsInfo?.version ?? false, ...(this.peer ? { peer: formatIdentity(this.peer) } : {}) }, 'session opened');
      await this.commands(user);
    } catch (err) {
      this.protocolFailure(err);
    } finally {
      release?.();
      this.deps.registry.remove(this.id);
      this.wire.close();
    }
  }

  /** SessionHandle: what `KILL [CONNECTION|QUERY] <id>` does to this session. */
  kill(scope: SessionKill, reason: string): void {
    if (scope === 'connection') {
      this.connectionKilled = true;
      if (!this.running) this.wire.close();
    }
    // a KILL QUERY that finds the session idle is dropped: it does not hit the next statement (MariaDB)
    if (!this.running) return;
    this.interrupted ??= scope === 'connection' ? MARIADB_ERRORS.connectionKilled(reason) : MARIADB_ERRORS.interrupted(reason);
    this.running.abort();
  }

  /** SessionHandle: the session's SHOW PROCESSLIST row. */
  process(): SessionProcess {
    return {
      id: this.id,
      user: this.userName,
      host: this.host,
      db: this.database,
      command: this.statement === undefined ? 'Sleep' : 'Query',
      timeMs: Date.now() - this.since,
      info: this.statement,
    };
  }

  /** The coordinator stops: a running statement ends with MariaDB's shutdown error, an idle session is closed. */
  shutdown(): void {
    this.connectionKilled = true;
    if (!this.running) {
      this.wire.close();
      return;
    }
    this.interrupted ??= MARIADB_ERRORS.serverShutdown();
    this.running.abort();
  }

  /** Drops the connection at once (the coordinator's hard stop). */
  destroy(): void {
    this.running?.abort();
    this.wire.destroy();
  }

  private info(): SessionInfo {
    return { id: this.id, user: this.userName, host: this.host, database: this.database, diagnostics: this.diagnostics, tls: this.tlsInfo };
  }

  // ---- command phase ----------------------------------------------------------------------

  private async commands(user: User): Promise<void> {
    for (;;) {
      if (this.connectionKilled) return;
      this.wire.beginCommand();
      const packet = await this.wire.next();
      if (!packet) return;
      if (packet.dropped) {
        if (this.refuseDropped(packet.payload[0], packet.dropped)) continue;
        return;
      }
      if (packet.payload.length === 0) return;
      const body = packet.payload.subarray(1);
      switch (packet.payload[0]) {
        case COM.QUIT:
          return;
        case COM.PING:
          this.wire.send(okPacket());
          break;
        case COM.INIT_DB:
          this.answer(useDatabase(body.toString('utf8')));
          break;
        case COM.QUERY:
          await this.query(body.toString('utf8'), user);
          break;
        case COM.PROCESS_KILL:
          // the old command form of KILL <id> (mysqladmin kill)
          await this.query(`KILL CONNECTION ${body.length >= 4 ? body.readUInt32LE(0) : 0}`, user);
          break;
        case COM.FIELD_LIST:
          // no table here has columns to list this way; an empty list ends the client's completion
          this.wire.send(eofPacket());
          break;
        case COM.STATISTICS:
          this.wire.send(new PayloadWriter().bytes(Buffer.from(`Uptime: ${Math.floor((Date.now() - this.deps.server.startedAt) / 1000)}  Threads: ${this.deps.server.sessions()}`)).build());
          break;
        case COM.RESET_CONNECTION:
          this.diagnostics = [];
          this.wire.send(okPacket());
          break;
        case COM.SET_OPTION:
          this.wire.send(eofPacket());
          break;
        case COM.STMT_CLOSE:
        case COM.STMT_SEND_LONG_DATA:
          // these have no answer
          break;
        case COM.STMT_PREPARE:
        case COM.STMT_EXECUTE:
        case COM.STMT_RESET:
        case COM.STMT_FETCH:
          this.wire.send(errPacket(MARIADB_ERRORS.unsupportedPrepared()));
          break;
        default:
          this.wire.send(errPacket(MARIADB_ERRORS.unknownCommand()));
      }
    }
  }

  /** One COM_QUERY: the session's own answer, or the statement path. */
  private async query(text: string, user: User): Promise<void> {
    const sql = expandExecutableComments(text, versionNumber(this.deps.server.version));
    const local = sessionStatement(sql, this.info(), this.deps.server);
    if (local) {
      this.answer(local);
      return;
    }
    const abort = new AbortController();
    this.running = abort;
    this.interrupted = undefined;
    this.statement = sql;
    this.since = Date.now();
    const sink = new MysqlResultSink(this.wire, () => this.interrupted);
    try {
      await this.deps.runner.run(
        {
          sql,
          dialect: 'mariadb',
          loggedIn: user,
          sessionId: this.id,
          peer: this.peer,
          address: this.address,
          signal: abort.signal,
          // KILL QUERY WHERE query_id = … reaches the statement through its session: 1317 with the reason
          onKill: (reason) => this.kill('query', reason),
          ...(this.killReason ? { settings: [{ name: 'kill_reason', value: this.killReason, pos: 0 }] } : {}),
        },
        sink,
      );
    } finally {
      this.running = undefined;
      this.statement = undefined;
      this.since = Date.now();
    }
    const { error, warnings } = sink.result();
    this.diagnostics = [
      ...warnings.map((message): Diagnostic => ({ level: 'Warning', code: WARNING_CODE, message })),
      ...(error ? [{ level: 'Error' as const, code: error.code, message: error.message }] : []),
    ];
  }

  /**
   * A packet whose bytes were thrown away as they arrived: a statement over max_query_size, or
   * any packet while the door's budget was in use. A COM_QUERY gets the statement's error and the
   * session goes on; any other command gets the error and the connection closes (false).
   */
  private refuseDropped(command: number | undefined, dropped: Dropped): boolean {
    const query = command === COM.QUERY;
    let error: WireError;
    if (dropped.reason === 'budget') {
      error = budgetExceeded(dropped.size, this.deps.budget.limit);
    } else {
      error = query ? wireError(maxQuerySizeExceeded(String(dropped.size - 1))) : MARIADB_ERRORS.packetTooLarge();
    }
    this.log.info({ user: this.userName, client: this.address, command, bytes: dropped.size, reason: dropped.reason, code: error.code }, 'packet refused unread');
    this.answer({ kind: 'error', error });
    return query;
  }

  private answer(a: LocalAnswer): void {
    if (!(a.kind === 'rows' && a.keepsDiagnostics)) this.diagnostics = [];
    switch (a.kind) {
      case 'ok':
        this.wire.send(okPacket());
        return;
      case 'useDatabase':
        this.database = a.database;
        this.wire.send(okPacket());
        return;
      case 'setKillReason':
        try {
          this.killReason = killReason({ name: 'kill_reason', value: a.value, pos: 0 });
        } catch (err) {
          if (!(err instanceof QuellError)) throw err;
          this.answer({ kind: 'error', error: wireError(err) });
          return;
        }
        this.wire.send(okPacket());
        return;
      case 'rows':
        this.wire.send(...resultSetPackets(a.columns, a.rows, 'mariadb'));
        return;
      case 'error':
        this.diagnostics = [{ level: 'Error', code: a.error.code, message: a.error.message }];
        this.wire.send(errPacket(a.error));
    }
  }

  /** A client that broke the protocol gets MariaDB's error for it, then the connection closes. */
  private protocolFailure(err: unknown): void {
    let error: WireError | undefined;
    if (err instanceof PacketTooLarge) error = MARIADB_ERRORS.packetTooLarge();
    else if (err instanceof PacketDropped) error = budgetExceeded(err.dropped.size, this.deps.budget.limit);
    else if (err instanceof OutOfOrder) error = MARIADB_ERRORS.outOfOrder();
    else if (err instanceof MalformedPacket) error = MARIADB_ERRORS.badHandshake();
    if (error) {
      this.log.info({ client: this.address, reason: errorText(err) }, 'protocol error: connection closed');
      this.wire.send(errPacket(error));
    } else if (!this.wire.closed) {
      this.log.warn({ client: this.address, err: errorText(err) }, 'session failed: connection closed');
    } else {
      this.log.debug({ client: this.address, err: errorText(err) }, 'session ended with its connection');
    }
  }
}
