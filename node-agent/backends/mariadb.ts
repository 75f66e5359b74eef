import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { errorText } from '../../errors/error-text';
import type { Logger } from '../../common/daemon/logger';
import { statementClass } from '../../sql/normalize';
import { backendError, redactUrl, SERVER_IDS, type Backend, type ServerConnection, type ServerMutation, type ServerQuery } from './backend';

/** A dead server must turn into a node_error row well inside the coordinator's 10 s deadline. */
const CONNECT_TIMEOUT_MS = 2_000;
/** Listing PROCESSLIST or sending KILL takes milliseconds; longer means the server is stuck. */
const QUERY_TIMEOUT_MS = 5_000;

// Unknown thread id / unknown query id: the target already ended, which a kill reports as finished.
const ER_NO_SUCH_THREAD = 1094;
const ER_NO_SUCH_QUERY = 1957;

// Errors after which the pooled connection is useless; the statement is retried once on a new one.
const CONNECTION_LOST = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED']);

const THREADS_SQL = `SELECT ID, USER, HOST, DB, COMMAND, TIME, TIME_MS, STATE, INFO, PROGRESS,
  MEMORY_USED, MAX_MEMORY_USED, EXAMINED_ROWS, QUERY_ID
  FROM information_schema.PROCESSLIST
  WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon' AND USER NOT IN ('system user', 'event_scheduler')`;

interface ThreadRow extends RowDataPacket {
  ID: number;
  USER: string;
  HOST: string;
  DB: string | null;
  COMMAND: string;
  TIME: number;
  TIME_MS: string | number; // DECIMAL arrives as a string
  STATE: string | null;
  INFO: string | null;
  PROGRESS: string | number;
  MEMORY_USED: number;
  MAX_MEMORY_USED: number;
  EXAMINED_ROWS: number;
  QUERY_ID: number;
}

/** The "pool" shape mysql2 hands to its 'connection' event: the callback-style connection. */
interface CoreConnection {
  readonly threadId: number | null;
  on(event: 'end' | 'error', fn: (err?: unknown) => void): unknown;
}

/**
 * A MariaDB (or MySQL) server behind an agent. Every call reads information_schema.PROCESSLIST
 * afresh and kills with the server's own KILL. The pool opens new connections on demand, so a
 * server that restarts is picked up by the next statement without restarting the agent.
 */
export class MariaDbBackend implements Backend {
  readonly kind = 'mariadb' as const;
  readonly description: string;
  private readonly pool: Pool;
  private readonly password: string;
  /** thread ids of the pool's live connections: never listed, never killed */
  private readonly own = new Set<number>();

  constructor(url: URL, private readonly log: Logger) {
    this.description = redactUrl(url);
    this.password = decodeURIComponent(url.password);
    const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
    this.pool = mysql.createPool({
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port ? Number(url.port) : 3306,
      user: decodeURIComponent(url.username),
      password: this.password,
      ...(database ? { database } : {}),
      connectTimeout: CONNECT_TIMEOUT_MS,
      connectionLimit: 3,
      maxIdle: 1,
      idleTimeout: 60_000,
      enableKeepAlive: true,
    });
    this.pool.on('connection', (c) => this.track(c as unknown as CoreConnection));
  }

  private track(c: CoreConnection): void {
    const id = c.threadId;
    if (id === null) return;
    this.own.add(id);
    this.log.debug({ backend: this.description, thread_id: id }, 'backend connection opened');
    const forget = (): void => {
      this.own.delete(id); // thread ids restart after a server restart: a stale one could hide a client
    };
    c.on('end', forget);
    // also keeps a second socket error on an idle connection from becoming an uncaught 'error'
    c.on('error', forget);
  }

  /** Runs one statement; a server error whose errno is in `gone` resolves to undefined. */
  private async run<T>(sql: string, gone: readonly number[] = []): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      let conn: PoolConnection | undefined;
      try {
        conn = await this.pool.getConnection();
        const [rows] = await conn.query({ sql, timeout: QUERY_TIMEOUT_MS });
        conn.release();
        return rows as T;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        const errno = (err as { errno?: unknown }).errno;
        const lost = (err as { fatal?: unknown }).fatal === true || CONNECTION_LOST.has(String(code));
        // a timed-out query leaves its command queued on the connection: never hand it out again
        if (conn) {
          if (lost || code === 'PROTOCOL_SEQUENCE_TIMEOUT') conn.destroy();
          else conn.release();
        }
        // a pooled connection the server dropped (restart, wait_timeout): one retry on a fresh one
        if (conn && lost && attempt === 0) {
          this.log.info({ backend: this.description, err: errorText(err, this.password) }, 'backend connection lost; reconnecting');
          continue;
        }
        if (typeof errno === 'number' && gone.includes(errno)) return undefined;
        throw backendError(this.description, err, this.password);
      }
    }
  }

  private async threads(): Promise<ThreadRow[]> {
    const rows = (await this.run<ThreadRow[]>(THREADS_SQL)) ?? [];
    return rows.filter((r) => !this.own.has(Number(r.ID)));
  }

  async queries(ids = SERVER_IDS): Promise<ServerQuery[]> {
    // 'Killed' is a statement still unwinding after a kill: it runs until it leaves the list
    const rows = (await this.threads()).filter((r) => (r.COMMAND === 'Query' || r.COMMAND === 'Killed') && r.INFO !== null);
    const now = performance.now();
    return rows.map((r) => {
      const { address, port } = splitHost(r.HOST);
      const query = r.INFO ?? '';
      const queryId = String(r.QUERY_ID);
      const threadId = Number(r.ID);
      const cls = statementClass(query);
      return {
        key: queryId,
        row: {
          query_id: queryId,
          user: r.USER,
          query,
          normalized_query: cls.normalized,
          normalized_query_hash: cls.hash,
          initial_query_id: queryId,
          initial_user: r.USER,
          address,
          port,
          client_hostname: '',
          client_name: '',
          current_database: r.DB ?? '',
          query_kind: queryKind(query),
          thread_id: ids(threadId),
          uncancellable: false,
          startedAt: now - Number(r.TIME_MS),
          is_cancelled: r.COMMAND === 'Killed' ? 1 : 0,
          read_rows: Number(r.EXAMINED_ROWS),
          read_bytes: 0,
          total_rows_approx: 0,
          written_rows: 0,
          written_bytes: 0,
          memory_usage: Number(r.MEMORY_USED),
          peak_memory_usage: Number(r.MAX_MEMORY_USED),
        },
        kill: (soft, note) => this.killQuery(queryId, threadId, soft, note),
        terminate: (note) => this.terminateQuery(queryId, threadId, note),
      };
    });
  }

  async connections(ids = SERVER_IDS): Promise<ServerConnection[]> {
    const now = performance.now();
    return (await this.threads()).map((r) => {
      const threadId = Number(r.ID);
      const id = ids(threadId);
      return {
        key: String(id),
        row: {
          id,
          user: r.USER,
          host: r.HOST,
          db: r.DB ?? '',
          command: r.COMMAND,
          commandSince: now - Number(r.TIME_MS),
          state: r.STATE ?? '',
          info: r.INFO ?? '',
          query_id: ids(Number(r.QUERY_ID)),
          examined_rows: Number(r.EXAMINED_ROWS),
          memory_used: Number(r.MEMORY_USED),
          max_memory_used: Number(r.MAX_MEMORY_USED),
          progress: Number(r.PROGRESS),
        },
        kill: (soft, queryOnly, note) => this.killConnection(threadId, soft, queryOnly, note),
      };
    });
  }

  async ping(): Promise<void> {
    await this.run('SELECT 1');
  }

  /** MariaDB has no mutations. */
  mutations(): Promise<ServerMutation[]> {
    return Promise.resolve([]);
  }

  /** By query id, so a connection that has moved on to its next statement is left alone. */
  private async killQuery(queryId: string, threadId: number, soft: boolean, note = ''): Promise<void> {
    await this.kill(`KILL ${soft ? 'SOFT' : 'HARD'} QUERY ID ${positiveId(queryId, this.description)}${note}`, threadId);
  }

  /**
   * The escalation of a KILL QUERY the statement outlived: KILL CONNECTION of its thread, which
   * the server acts on even where a statement does not check for KILL QUERY. Only while the
   * thread still runs that statement (its next one, or a new session on a reused id, is left
   * alone); the server offers no KILL CONNECTION by query id, so this is a check, then the kill.
   */
  private async terminateQuery(queryId: string, threadId: number, note = ''): Promise<void> {
    const id = positiveId(String(threadId), this.description);
    const running = await this.run<RowDataPacket[]>(`SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ${id} AND QUERY_ID = ${positiveId(queryId, this.description)}`);
    if (!running || running.length === 0) return;
    await this.kill(`KILL HARD CONNECTION ${id}${note}`, id);
  }

  /** MariaDB KILL [HARD|SOFT] [QUERY|CONNECTION] by the server's own thread id; an unknown id is already gone. */
  async killConnection(serverThreadId: number, soft: boolean, queryOnly: boolean, note = ''): Promise<void> {
    const id = positiveId(String(serverThreadId), this.description);
    await this.kill(`KILL ${soft ? 'SOFT' : 'HARD'} ${queryOnly ? 'QUERY' : 'CONNECTION'} ${id}${note}`, id);
  }

  private async kill(sql: string, threadId: number): Promise<void> {
    if (this.own.has(threadId)) {
      throw backendError(this.description, new Error(`refusing to kill thread ${threadId}: it is the agent's own connection`));
    }
    await this.run(sql, [ER_NO_SUCH_THREAD, ER_NO_SUCH_QUERY]);
    this.log.info({ backend: this.description, sql }, 'backend kill sent');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Ids go into the KILL text, so only plain positive integers pass. */
function positiveId(s: string, description: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n <= 0) throw backendError(description, new Error(`not a valid MariaDB id: ${s}`));
  return n;
}

/** PROCESSLIST HOST is "ip:port" for TCP clients and "localhost" for the socket. */
function splitHost(host: string): { address: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(host);
  return m ? { address: m[1] ?? host, port: Number(m[2]) } : { address: host, port: 0 };
}

const KINDS: Record<string, string> = {
  SELECT: 'Select', WITH: 'Select', INSERT: 'Insert', REPLACE: 'Insert', UPDATE: 'Update', DELETE: 'Delete',
  CREATE: 'Create', DROP: 'Drop', ALTER: 'Alter', RENAME: 'Rename', SHOW: 'Show', TRUNCATE: 'Drop',
};

/** ClickHouse's query_kind from the statement's first word ('' when it says nothing). */
function queryKind(sql: string): string {
  const word = /^[\s(]*(?:\/\*[\s\S]*?\*\/[\s(]*)*([A-Za-z]+)/.exec(sql)?.[1]?.toUpperCase() ?? '';
  return KINDS[word] ?? '';
}
