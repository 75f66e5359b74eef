import { performance } from 'node:perf_hooks';
import { Pool } from 'pg';
import { errorText } from '../../errors/error-text';
import type { Logger } from '../../common/daemon/logger';
import { processRow } from '../tables/rows';
import { backendError, redactUrl, SERVER_IDS, type Backend, type ServerConnection, type ServerMutation, type ServerQuery } from './backend';

/**
 * A PostgreSQL server behind an agent (`quell agent --backend postgres://user:pass@host:port/db`).
 * Every call reads pg_stat_activity afresh; kills are pg_cancel_backend / pg_terminate_backend.
 * The role needs pg_read_all_stats (to see others' queries) and pg_signal_backend (to signal
 * them), or superuser.
 */

/** Set on every pool connection, so agents (this one and others fronting the same server) never list or kill each other. */
const APP_NAME = 'quell-agent';
/** Below the coordinator's default per-node deadline (10 s), so a stuck server becomes node_error, not node_timeout. */
const STATEMENT_TIMEOUT_MS = 5_000;

/**
 * Client backends only (no autovacuum, walsender, …), and never our own: pool connections carry
 * APP_NAME, and pg_backend_pid() covers the one running this very statement even if a URL
 * parameter ever changed its name.
 */
const CLIENTS = `
  SELECT pid, usename, host(client_addr) AS client_addr, client_port, client_hostname, datname, state, query,
         application_name, (EXTRACT(EPOCH FROM query_start) * 1000000)::int8::text AS query_start_us,
         GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - query_start))::float8 AS query_secs,
         GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - state_change))::float8 AS state_secs
    FROM pg_stat_activity
   WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
     AND application_name IS DISTINCT FROM $1`;

interface ActivityRow {
  pid: number;
  usename: string | null;
  client_addr: string | null;
  client_port: number | null;
  client_hostname: string | null;
  datname: string | null;
  state: string | null;
  query: string | null;
  application_name: string | null;
  query_start_us: string | null;
  query_secs: number | null;
  state_secs: number | null;
}

export class PostgresBackend implements Backend {
  readonly kind = 'postgres' as const;
  readonly description: string;
  private readonly pool: Pool;
  private readonly password: string;

  constructor(url: URL, private readonly log: Logger) {
    this.description = redactUrl(url);
    this.password = decodeURIComponent(url.password);
    // pg lets URL parameters override the config: drop a URL application_name so ours sticks
    const conn = new URL(url.href);
    conn.searchParams.delete('application_name');
    this.pool = new Pool({
      connectionString: conn.href,
      application_name: APP_NAME,
      // a few sessions kept open for good (idleTimeoutMillis 0): a KILL should not pay for a
      // connect and SCRAM handshake; dead ones are dropped on error and reopened on demand
      max: 3,
      idleTimeoutMillis: 0,
      connectionTimeoutMillis: 2_000,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      query_timeout: STATEMENT_TIMEOUT_MS + 1_000,
      keepAlive: true,
    });
    // an idle connection dropped by the server (restart, pg_terminate_backend) errors here; the
    // pool discards it and the next call opens a new one, so logging is all that is needed
    this.pool.on('error', (err) => this.log.warn({ backend: this.description, err: errorText(err, this.password) }, 'postgres connection lost'));
  }

  async queries(ids = SERVER_IDS): Promise<ServerQuery[]> {
    const rows = await this.run<ActivityRow>(`${CLIENTS} AND state = 'active'`, [APP_NAME]);
    const now = performance.now();
    return rows.map((r) => {
      // PostgreSQL 15 exposes no stable per-statement id in pg_stat_activity (query_id is a
      // normalized-text hash shared by all runs of a statement), so a query is named by its pid
      const id = String(r.pid);
      const user = r.usename ?? '';
      const query = r.query ?? '';
      const start = r.query_start_us || null;
      const row = processRow(
        {
          query_id: id,
          user,
          query,
          // every PostgreSQL statement is an initial query (no distributed sub-queries)
          initial_query_id: id,
          initial_user: user,
          address: r.client_addr ?? '',
          port: port(r.client_port),
          client_hostname: r.client_hostname ?? '',
          client_name: r.application_name ?? '',
          current_database: r.datname ?? '',
          query_kind: queryKind(query),
          thread_id: ids(r.pid),
          uncancellable: false,
        },
        now - (r.query_secs ?? 0) * 1000,
      );
      // pid plus the statement's start: a kill or a SYNC wait never mistakes the session's
      // next statement for this one
      return {
        key: `${r.pid}:${start ?? ''}`,
        row,
        kill: (_soft, note) => this.signalStatement('pg_cancel_backend', r.pid, start, note),
        terminate: (note) => this.signalStatement('pg_terminate_backend', r.pid, start, note),
      };
    });
  }

  async ping(): Promise<void> {
    await this.run('SELECT 1', []);
  }

  async connections(ids = SERVER_IDS): Promise<ServerConnection[]> {
    const rows = await this.run<ActivityRow>(CLIENTS, [APP_NAME]);
    const now = performance.now();
    return rows.map((r) => {
      const secs = r.state_secs ?? 0;
      const active = r.state === 'active';
      const id = ids(r.pid);
      return {
        key: String(id),
        row: {
          id,
          user: r.usename ?? '',
          // unix-socket sessions have no address, which MariaDB shows as localhost
          host: r.client_addr ? (port(r.client_port) ? `${r.client_addr}:${r.client_port}` : r.client_addr) : 'localhost',
          db: r.datname ?? '',
          // MariaDB's words where there is one; PostgreSQL's own otherwise ('idle in transaction', …)
          command: active ? 'Query' : r.state === 'idle' ? 'Sleep' : (r.state ?? 'Unknown'),
          commandSince: now - Math.round(secs * 1000 * 1000) / 1000,
          state: r.state ?? '',
          info: active ? (r.query ?? '') : '',
          query_id: 0,
          examined_rows: 0,
          memory_used: 0,
          max_memory_used: 0,
          progress: 0,
        },
        kill: (soft, queryOnly, note) => this.killConnection(r.pid, soft, queryOnly, note),
      };
    });
  }

  /** PostgreSQL has no mutations. */
  mutations(): Promise<ServerMutation[]> {
    return Promise.resolve([]);
  }

  /**
   * Cancels (or, escalating, terminates the session of) the statement that started at `startUs`
   * (µs since the epoch; null: any running statement of the pid), only while it still runs: one
   * that finished meanwhile is already gone, and the session's idle time or next statement is
   * left alone. PostgreSQL has no soft cancel.
   */
  private async signalStatement(fn: 'pg_cancel_backend' | 'pg_terminate_backend', pid: number, startUs: string | null, note = ''): Promise<void> {
    await this.signal(fn, pid, `AND state = 'active' AND ($3::int8 IS NULL OR (EXTRACT(EPOCH FROM query_start) * 1000000)::int8 = $3::int8)`, [startUs], note);
  }

  /** PostgreSQL has no soft kill (MariaDB's SOFT protects critical sections): `soft` is ignored. */
  async killConnection(serverThreadId: number, _soft: boolean, queryOnly: boolean, note = ''): Promise<void> {
    await this.signal(queryOnly ? 'pg_cancel_backend' : 'pg_terminate_backend', serverThreadId, '', [], note);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * Signals a pid only if it is a client backend we would list: an id typed into `KILL <id>`
   * cannot reach autovacuum, replication or the agents' own sessions. No row, or a false result,
   * means the backend is already gone — not an error.
   */
  private async signal(fn: 'pg_cancel_backend' | 'pg_terminate_backend', pid: number, extra: string, params: unknown[], note: string): Promise<void> {
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid > 0x7fffffff) return;
    await this.run(`SELECT ${fn}(pid) AS ok FROM (${CLIENTS} AND pid = $2 ${extra}) c${note}`, [APP_NAME, pid, ...params]);
  }

  private async run<R extends object>(sql: string, params: unknown[]): Promise<R[]> {
    try {
      const res = await this.pool.query<R & Record<string, unknown>>(sql, params);
      return res.rows;
    } catch (err) {
      throw backendError(this.description, err, this.password);
    }
  }
}

/** client_port is -1 for unix sockets and NULL when unknown; system.processes.port is a UInt16. */
function port(p: number | null): number {
  return p !== null && p > 0 ? p : 0;
}

/** ClickHouse-style query_kind from the statement's first word (Select, Insert, …); '' if unknown. */
function queryKind(query: string): string {
  const word = /^[\s(]*([a-z]+)/i.exec(query)?.[1]?.toLowerCase() ?? '';
  const kinds: Record<string, string> = {
    select: 'Select', with: 'Select', values: 'Select', table: 'Select', insert: 'Insert', update: 'Update',
    delete: 'Delete', copy: 'Insert', create: 'Create', drop: 'Drop', alter: 'Alter', truncate: 'Drop',
  };
  return kinds[word] ?? '';
}
