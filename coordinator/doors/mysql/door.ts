import { createServer, type Server, type Socket } from 'node:net';
import { logEscape } from '../../../common/daemon/escape-guard';
import type { Logger } from '../../../common/daemon/logger';
import type { TransportSecurity } from '../../../common/tls';
import { addressHost } from '../../../common/tls/options';
import type { StatementRunner } from '../../statements/statement-runner';
import type { SessionRegistry } from '../sessions';
import { MysqlSession } from './session';
import { PacketBudget } from './framing';
import type { AdmitSession } from './connection-phase';
import type { TlsFiles } from './tls-upgrade';

/** What the door says it is: a MariaDB 10.11 for clients that look (mysql2 and others test for "MariaDB"), then quell. */
export const SERVER_VERSION = '10.11.99-MariaDB-quell';
/** `--mysql-max-sessions-per-user`'s default (MariaDB's max_user_connections; 0: no limit). */
export const DEFAULT_MAX_SESSIONS_PER_USER = 64;
/** The bytes all sessions together may hold for packets still arriving (framing.ts PacketBudget). */
export const PACKET_BUDGET_BYTES = 64 * 1024 * 1024;

export interface MysqlDoorOptions {
  /** H:P to listen on (`--mysql-listen`); port 0 takes a free one */
  readonly listen: string;
  readonly security: TransportSecurity;
  readonly runner: StatementRunner;
  readonly sessions: SessionRegistry;
  /** sessions one user may have open at once (0: no limit; default DEFAULT_MAX_SESSIONS_PER_USER) */
  readonly maxSessionsPerUser?: number;
  /** bytes of packets still arriving that all sessions together may hold (default PACKET_BUDGET_BYTES) */
  readonly packetBudgetBytes?: number;
  readonly log: Logger;
}

/** Counts each user's open sessions; admits one more while the user has fewer than `max` (0: any number). */
function sessionCap(max: number): AdmitSession {
  const open = new Map<string, number>();
  return (user) => {
    const n = open.get(user) ?? 0;
    if (max > 0 && n >= max) return undefined;
    open.set(user, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (open.get(user) ?? 1) - 1;
      if (left > 0) open.set(user, left);
      else open.delete(user);
    };
  };
}

/**
 * `--mysql-listen`: the MySQL client/server protocol in front of the statement path, for the
 * stock `mariadb` client and MySQL drivers. With a certificate every session is TLS (the
 * protocol's SSL upgrade); without one only loopback with --insecure (as every listener).
 */
export class MysqlDoor {
  private constructor(
    private readonly server: Server,
    private readonly open: ReadonlySet<MysqlSession>,
    /** the bound host:port */
    readonly address: string,
  ) {}

  static async start(o: MysqlDoorOptions): Promise<MysqlDoor> {
    // throws for plaintext unless --insecure on loopback, before anything listens; each TLS
    // upgrade takes the files as they are then (a rotation reaches the next connection)
    let current: TlsFiles | undefined;
    const secure = o.security.followServerCertificate(o.listen, (files) => (current = files));
    const tlsFiles = secure ? (): TlsFiles => current as TlsFiles : undefined;
    const startedAt = Date.now();
    const server = createServer();
    const open = new Set<MysqlSession>();
    const log = o.log.child({ service: 'mysql' });
    const budget = new PacketBudget(o.packetBudgetBytes ?? PACKET_BUDGET_BYTES);
    const admit = sessionCap(o.maxSessionsPerUser ?? DEFAULT_MAX_SESSIONS_PER_USER);
    server.on('connection', (socket: Socket) => {
      let session: MysqlSession;
      try {
        session = new MysqlSession(socket, {
          runner: o.runner,
          registry: o.sessions,
          server: { version: SERVER_VERSION, startedAt, sessions: () => o.sessions.size, tls: tlsFiles !== undefined, serverId: o.sessions.serverId || undefined },
          tlsFiles,
          trustDomain: o.security.trustDomain,
          budget,
          admit,
          log,
        });
      } catch (err) {
        // every session id of this coordinator's server id is in use (2^16 - 1 sessions)
        log.warn({ err: String(err) }, 'MySQL connection refused');
        socket.destroy();
        return;
      }
      open.add(session);
      session
        .run()
        .catch(logEscape(log, 'MySQL session', () => socket.destroy()))
        .finally(() => open.delete(session));
    });
    const host = addressHost(o.listen);
    const port = Number(/:(\d+)$/.exec(o.listen)?.[1] ?? 'NaN');
    if (!Number.isInteger(port)) throw new Error(`--mysql-listen ${o.listen}: expected HOST:PORT`);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    // a failing accept must not crash the coordinator
    server.on('error', (err) => log.warn({ err: String(err) }, 'MySQL listener error'));
    const bound = server.address();
    const actual = typeof bound === 'object' && bound ? bound.port : port;
    const address = `${host.includes(':') ? `[${host}]` : host}:${actual}`;
    log.info({ address, tls: tlsFiles !== undefined }, 'MySQL protocol serving');
    return new MysqlDoor(server, open, address);
  }

  /** Stops taking connections; open sessions go on (the runner refuses their new statements while it drains). */
  stopAccepting(): void {
    this.server.close();
  }

  /** Ends every session: running statements with MariaDB's shutdown error, idle ones closed. */
  close(): void {
    this.server.close();
    for (const s of this.open) s.shutdown();
  }

  /** The hard stop: drops every connection. */
  destroy(): void {
    this.server.close();
    for (const s of this.open) s.destroy();
  }
}
