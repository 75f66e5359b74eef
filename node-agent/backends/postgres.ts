import { Pool } from 'pg';
import { errorText } from '../../errors/error-text';
import type { Logger } from '../../common/logger';
import {
  backendError,
  NO_QUERY_COUNTERS,
  redactUrl,
  type Backend,
  type BackendConnection,
  type BackendMutation,
  type BackendQuery,
  type MutationKillResult,
} from './backend';

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

  async queries(): Promise<BackendQuery[]> {
    const rows = await this.run<ActivityRow>(`${CLIENTS} AND state = 'active'`, [APP_NAME]);
    return rows.map((r) => {
      // PostgreSQL 15 exposes no stable per-statement id in pg_stat_activity (query_id is a
      // normalized-text hash shared by all runs of a statement), so a query is named by its pid
      const id = String(r.pid);
      const user = r.usename ?? '';
      const query = r.query ?? '';
      return {
        // pid plus the statement's start: a kill or a SYNC wait never mistakes the session's
        // next statement for this one
        key: `${r.pid}:${r.query_start_us ?? ''}`,
        query_id: id,
        user,
        query,
        elapsed: r.query_secs ?? 0,
        address: r.client_addr ?? '',
        port: port(r.client_port),
        current_database: r.datname ?? '',
        client_hostname: r.client_hostname ?? '',
        client_name: r.application_name ?? '',
        // every PostgreSQL statement is an initial query (no distributed sub-queries)
        initial_query_id: id,
        initial_user: user,
        query_kind: queryKind(query),
        ...NO_QUERY_COUNTERS,
        server_thread_id: r.pid,
      };
    });
  }

  async connections(): Promise<BackendConnection[]> {
    const rows = await this.run<ActivityRow>(CLIENTS, [APP_NAME]);
    return rows.map((r) => {
      const secs = r.state_secs ?? 0;
      const active = r.state === 'active';
      return {
        server_thread_id: r.pid,
        user: r.usename ?? '',
        // unix-socket sessions have no address, which MariaDB shows as localhost
        host: r.client_addr ? (port(r.client_port) ? `${r.client_addr}:${r.client_port}` : r.client_addr) : 'localhost',
        db: r.datname,
        // MariaDB's words where there is one; PostgreSQL's own otherwise ('idle in transaction', …)
        command: active ? 'Query' : r.state === 'idle' ? 'Sleep' : (r.state ?? 'Unknown'),
        time_ms: Math.round(secs * 1000 * 1000) / 1000,
        state: r.state ?? '',
        info: active ? r.query : null,
        memory_used: 0,
        max_memory_used: 0,
        examined_rows: 0,
        server_query_id: 0,
        progress: 0,
      };
    });
  }

  mutations(): Promise<BackendMutation[]> {
    return Promise.resolve([]);
  }

  /** PostgreSQL has no soft cancel: `soft` is ignored. */
  async killQuery(q: BackendQuery, _soft: boolean): Promise<void> {
    // "pid:start" from queries(); a bare pid is accepted too (then any running statement of it)
    const m = /^(\d+)(?::(\d*))?$/.exec(q.key);
    if (!m) throw backendError(this.description, new Error(`not a PostgreSQL query key: ${q.key}`));
    // only while that statement still runs: one that finished meanwhile is already gone, and the
    // session's idle time or next statement is left alone
    const start = m[2] ? m[2] : null;
    await this.signal('pg_cancel_backend', Number(m[1]), `AND state = 'active' AND ($3::int8 IS NULL OR (EXTRACT(EPOCH FROM query_start) * 1000000)::int8 = $3::int8)`, [start]);
  }

  /** PostgreSQL has no soft kill (MariaDB's SOFT protects critical sections): `soft` is ignored. */
  async killConnection(serverThreadId: number, _soft: boolean, queryOnly: boolean): Promise<void> {
    await this.signal(queryOnly ? 'pg_cancel_backend' : 'pg_terminate_backend', serverThreadId, '', []);
  }

  killMutation(_m: BackendMutation): Promise<MutationKillResult> {
    return Promise.resolve({ status: 'cant_cancel', reason: 'PostgreSQL has no mutations' });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * Signals a pid only if it is a client backend we would list: an id typed into `KILL <id>`
   * cannot reach autovacuum, replication or the agents' own sessions. No row, or a false result,
   * means the backend is already gone — not an error.
   */
  private async signal(fn: 'pg_cancel_backend' | 'pg_terminate_backend', pid: number, extra: string, params: unknown[]): Promise<void> {
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid > 0x7fffffff) return;
    await this.run(`SELECT ${fn}(pid) AS ok FROM (${CLIENTS} AND pid = $2 ${extra}) c`, [APP_NAME, pid, ...params]);
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
