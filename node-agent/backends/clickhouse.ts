import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../common/daemon/logger';
import { statementClass } from '../../sql/normalize';
import { mutationKey, type MutationRow } from '../tables/rows';
import { backendError, redactUrl, type Backend, type MutationKillResult, type ServerConnection, type ServerMutation, type ServerQuery } from './backend';
import { errorText } from '../../errors/error-text';

/** Reading system tables or sending an ASYNC KILL takes milliseconds; longer means the server is stuck. */
const REQUEST_TIMEOUT_MS = 3_000;
/** Every request the agent sends carries a query_id with this prefix, so listings can leave them out. */
export const AGENT_QUERY_ID_PREFIX = 'quell-agent-';
const DEFAULT_HTTP_PORT = 8123;
const SYNTAX_ERROR = 62;

// Columns every version since 18.x has. Others are read only where the server has them
// (18.16 lacks current_database and query_kind in processes, latest_fail_* in mutations).
const PROCESS_COLUMNS = [
  'query_id', 'user', 'query', 'elapsed', 'address', 'port', 'initial_query_id', 'initial_user',
  'client_hostname', 'client_name', 'is_cancelled', 'read_rows', 'read_bytes', 'total_rows_approx',
  'written_rows', 'written_bytes', 'memory_usage', 'peak_memory_usage',
];
const OPTIONAL_PROCESS_COLUMNS = ['current_database', 'query_kind'];
const MUTATION_COLUMNS = ['database', 'table', 'mutation_id', 'command', 'toUInt32(create_time) AS create_time', 'parts_to_do'];
const OPTIONAL_MUTATION_COLUMNS: Record<string, string> = {
  latest_failed_part: 'latest_failed_part',
  latest_fail_time: 'toUInt32(latest_fail_time) AS latest_fail_time',
  latest_fail_reason: 'latest_fail_reason',
};

type Row = Record<string, unknown>;

/** A ClickHouse error: `code` is the server's number (undefined for transport failures). */
class ClickHouseError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
  }
}

/**
 * A ClickHouse server behind an agent, over its HTTP interface (`clickhouse://user:pass@host:8123`).
 * Each call is one stateless POST, so a restarted server is picked up by the next statement.
 * ClickHouse has no idle-connection list and no connection ids: only queries and mutations.
 */
export class ClickHouseBackend implements Backend {
  readonly kind = 'clickhouse' as const;
  readonly description: string;
  private readonly endpoint: string;
  private readonly headers: Record<string, string> = {};
  private readonly password: string;
  /** system.processes / system.mutations column names, read once per server start */
  private columns: Promise<Map<string, Set<string>>> | undefined;

  constructor(url: URL, private readonly log: Logger) {
    this.description = redactUrl(url);
    this.password = decodeURIComponent(url.password);
    this.endpoint = `http://${url.hostname}:${url.port || DEFAULT_HTTP_PORT}/`;
    // credentials in headers, never in the URL: URLs end up in server logs and error texts
    if (url.username) this.headers['X-ClickHouse-User'] = decodeURIComponent(url.username);
    if (this.password) this.headers['X-ClickHouse-Key'] = this.password;
  }

  /** Queries are not tied to a connection id ClickHouse would show: thread_id is 0, and no id needs mapping. */
  async queries(): Promise<ServerQuery[]> {
    const present = (await this.columnsOf()).get('processes') ?? new Set<string>();
    const cols = [...PROCESS_COLUMNS, ...OPTIONAL_PROCESS_COLUMNS.filter((c) => present.has(c))];
    const rows = await this.rows(
      `SELECT ${cols.join(', ')} FROM system.processes WHERE NOT startsWith(query_id, ${quote(AGENT_QUERY_ID_PREFIX)})`,
    );
    const now = performance.now();
    return rows.map((r) => {
      const query = str(r.query);
      const queryId = str(r.query_id);
      // quell's own class, not the server's normalized_query_hash: one hash for a shape on every kind of node
      const cls = statementClass(query);
      return {
        key: queryId,
        row: {
          query_id: queryId,
          user: str(r.user),
          query,
          normalized_query: cls.normalized,
          normalized_query_hash: cls.hash,
          initial_query_id: str(r.initial_query_id),
          initial_user: str(r.initial_user),
          address: str(r.address),
          port: num(r.port),
          client_hostname: str(r.client_hostname),
          client_name: str(r.client_name),
          current_database: str(r.current_database),
          query_kind: r.query_kind === undefined ? queryKind(query) : str(r.query_kind),
          thread_id: 0,
          uncancellable: false,
          startedAt: now - num(r.elapsed) * 1000,
          is_cancelled: num(r.is_cancelled),
          read_rows: num(r.read_rows),
          read_bytes: num(r.read_bytes),
          total_rows_approx: num(r.total_rows_approx),
          written_rows: num(r.written_rows),
          written_bytes: num(r.written_bytes),
          memory_usage: num(r.memory_usage),
          peak_memory_usage: num(r.peak_memory_usage),
        },
        kill: (soft, note) => this.killQuery(queryId, soft, note),
      };
    });
  }

  /** ClickHouse lists running queries only; idle client connections are invisible to SQL. */
  connections(): Promise<ServerConnection[]> {
    return Promise.resolve([]);
  }

  async mutations(): Promise<ServerMutation[]> {
    const present = (await this.columnsOf()).get('mutations') ?? new Set<string>();
    const cols = [...MUTATION_COLUMNS, ...Object.entries(OPTIONAL_MUTATION_COLUMNS).filter(([c]) => present.has(c)).map(([, e]) => e)];
    const rows = await this.rows(`SELECT ${cols.join(', ')} FROM system.mutations WHERE is_done = 0`);
    return rows.map((r) => {
      const row: MutationRow = {
        database: str(r.database),
        table: str(r.table),
        mutation_id: str(r.mutation_id),
        command: str(r.command),
        create_time: num(r.create_time),
        parts_to_do: num(r.parts_to_do),
        parts_done: 0,
        is_killed: 0,
        latest_failed_part: str(r.latest_failed_part),
        latest_fail_time: num(r.latest_fail_time),
        latest_fail_reason: str(r.latest_fail_reason),
      };
      return { key: mutationKey(row), row, kill: (note) => this.killMutation(row, note) };
    });
  }

  /** ClickHouse has no soft kill: `soft` changes nothing. ASYNC: SYNC waits are the agent's (GonePoller). */
  private async killQuery(queryId: string, _soft: boolean, note = ''): Promise<void> {
    if (queryId.startsWith(AGENT_QUERY_ID_PREFIX)) {
      throw backendError(this.description, new Error(`refusing to kill ${queryId}: it is the agent's own query`));
    }
    const sql = `KILL QUERY WHERE query_id IN (${quote(queryId)}) ASYNC${note}`;
    // a query that already ended gives no row: nothing to do, which the agent reports as finished
    await this.rows(sql);
    this.log.info({ backend: this.description, sql }, 'backend kill sent');
  }

  private async killMutation(m: MutationRow, note = ''): Promise<MutationKillResult> {
    const sql = `KILL MUTATION WHERE database = ${quote(m.database)} AND table = ${quote(m.table)} AND mutation_id = ${quote(m.mutation_id)}${note}`;
    let rows: Row[];
    try {
      rows = await this.request(`${sql} FORMAT JSONEachRow`).then(parseRows);
    } catch (err) {
      // servers before 19.x do not know the statement (a syntax error): the mutation cannot be killed there
      if (err instanceof ClickHouseError && err.code === SYNTAX_ERROR) return { status: 'cant_cancel', reason: err.message };
      throw this.wrap(err);
    }
    this.log.info({ backend: this.description, sql }, 'backend kill sent');
    const status = rows[0]?.kill_status;
    // no row: the mutation (or its table) is already gone
    if (status === undefined || status === 'finished') return { status: 'finished' };
    if (status === 'waiting') return { status: 'waiting' };
    return { status: 'cant_cancel', reason: `the server answered kill_status ${str(status)}` };
  }

  close(): Promise<void> {
    return Promise.resolve(); // stateless HTTP: nothing held open but fetch's idle keep-alive sockets
  }

  private async rows(sql: string): Promise<Row[]> {
    try {
      return parseRows(await this.request(`${sql} FORMAT JSONEachRow`));
    } catch (err) {
      throw this.wrap(err);
    }
  }

  private columnsOf(): Promise<Map<string, Set<string>>> {
    if (this.columns) return this.columns;
    const read = this.rows(
      "SELECT table, name FROM system.columns WHERE database = 'system' AND table IN ('processes', 'mutations')",
    ).then((rows) => {
      const byTable = new Map<string, Set<string>>();
      for (const r of rows) {
        const set = byTable.get(str(r.table)) ?? new Set<string>();
        set.add(str(r.name));
        byTable.set(str(r.table), set);
      }
      return byTable;
    });
    this.columns = read;
    // a failed read is not remembered: the next statement asks again
    read.catch(() => {
      if (this.columns === read) this.columns = undefined;
    });
    return read;
  }

  async ping(): Promise<void> {
    await this.request('SELECT 1').catch((err: unknown) => {
      throw this.wrap(err);
    });
  }

  /** One POST; a keep-alive socket the server closed meanwhile gets one retry on a fresh one. */
  private async request(sql: string): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      // unique per request: a second request may not reuse the id of one the server still runs
      const queryId = `${AGENT_QUERY_ID_PREFIX}${randomUUID()}`;
      let res: Response;
      try {
        res = await fetch(`${this.endpoint}?query_id=${queryId}`, {
          method: 'POST',
          headers: this.headers,
          body: sql,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch (err) {
        const why = transportError(err);
        if (attempt === 0 && /ECONNRESET|EPIPE|UND_ERR_SOCKET|other side closed/.test(why)) continue;
        // the server may have restarted as another version: read its columns again
        this.columns = undefined;
        throw new ClickHouseError(why);
      }
      const text = await res.text().catch((err: unknown) => {
        throw new ClickHouseError(transportError(err));
      });
      if (res.ok) return text;
      throw new ClickHouseError(serverError(text, res.status), Number(/^Code: (\d+)/.exec(text.trim())?.[1] ?? NaN));
    }
  }

  private wrap(err: unknown): Error {
    return backendError(this.description, err, this.password);
  }
}

/**
 * The server's error text in one form: 18.16 says `Code: 62, e.displayText() = DB::Exception: …,
 * e.what() = DB::Exception`; newer servers `Code: 62. DB::Exception: … (SYNTAX_ERROR) (version …)`.
 */
export function serverError(body: string, status: number): string {
  const text = body.trim();
  if (!text) return `HTTP ${status}`;
  const old = /^Code: (\d+), e\.displayText\(\) = ([\s\S]*?)(?:, e\.what\(\) = [\w:]+)?$/.exec(text);
  const one = old ? `Code: ${old[1]}. ${old[2]}` : text;
  return one.replace(/\s+/g, ' ').slice(0, 2_000);
}

/** fetch says only "fetch failed": the reason (ECONNREFUSED, timeout) is in its cause. */
function transportError(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `no answer within ${REQUEST_TIMEOUT_MS} ms`;
  }
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const { code, errors } = cause as { code?: unknown; errors?: unknown };
    // happy-eyeballs connect failures are an AggregateError with an empty message
    const msg = cause.message || (Array.isArray(errors) ? errors.map((e) => errorText(e)).join('; ') : '');
    return typeof code === 'string' && !msg.includes(code) ? `${code}: ${msg}` : msg || String(code);
  }
  return errorText(err);
}

function parseRows(text: string): Row[] {
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as Row);
    } catch {
      // an error after the first rows arrives as plain text in the body of a 200 answer
      throw new ClickHouseError(`unexpected answer: ${serverError(line, 200).slice(0, 500)}`);
    }
  }
  return rows;
}

/** A ClickHouse string literal: backslash and quote escaped, as the server's lexer reads them. */
export function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
// UInt64/Int64 arrive as JSON strings (output_format_json_quote_64bit_integers)
const num = (v: unknown): number => {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
};

const KINDS: Record<string, string> = {
  SELECT: 'Select', WITH: 'Select', INSERT: 'Insert', CREATE: 'Create', ATTACH: 'Create', DROP: 'Drop',
  DETACH: 'Drop', TRUNCATE: 'Drop', ALTER: 'Alter', RENAME: 'Rename', SYSTEM: 'System', SHOW: 'Show',
  OPTIMIZE: 'Optimize', KILL: 'KillQuery', DELETE: 'Delete',
};

/** Servers before query_kind (21.x): the kind newer servers would report, from the first word. */
function queryKind(sql: string): string {
  const word = /^[\s(]*(?:\/\*[\s\S]*?\*\/[\s(]*)*([A-Za-z]+)/.exec(sql)?.[1]?.toUpperCase() ?? '';
  return KINDS[word] ?? '';
}
