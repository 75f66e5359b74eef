import { hostname } from 'node:os';
import { AGENT_TABLES } from '../../sql/tables';
import type { Column, SqlValue } from '../../sql/types';
import { likeTest } from '../../sql/compile';
import { MARIADB_ERRORS, type WireError } from './results';

/**
 * What MySQL clients and drivers send around the statements that matter, answered by the session
 * itself: `select @@version_comment limit 1` (the `mariadb` client on connect), `SELECT
 * DATABASE()`, `SET NAMES …` and other SETs, `USE db`, `SHOW WARNINGS`, `SHOW DATABASES`, `SHOW
 * TABLES`, `SHOW STATUS|VARIABLES [LIKE …]`, transaction statements. None of it reaches the
 * cluster; everything else goes to the statement path.
 */

/** One row of SHOW WARNINGS: the previous statement's warnings, or its error. */
export interface Diagnostic {
  readonly level: 'Warning' | 'Error' | 'Note';
  readonly code: number;
  readonly message: string;
}

/** What a session knows about itself. */
export interface SessionInfo {
  readonly id: number;
  readonly user: string;
  /** the client's host as MariaDB names it in `user@host` */
  readonly host: string;
  readonly database: string | undefined;
  readonly diagnostics: readonly Diagnostic[];
  /** the negotiated TLS cipher and protocol, when the session is encrypted */
  readonly tls: { readonly cipher: string; readonly version: string } | undefined;
}

/** What the door as a whole knows. */
export interface ServerInfo {
  readonly version: string;
  readonly startedAt: number;
  readonly sessions: () => number;
  readonly tls: boolean;
}

export type LocalAnswer =
  | { readonly kind: 'ok' }
  | { readonly kind: 'useDatabase'; readonly database: string }
  /** keepsDiagnostics: SHOW WARNINGS shows the previous statement's notes and leaves them (any other statement clears them) */
  | { readonly kind: 'rows'; readonly columns: readonly Column[]; readonly rows: readonly (readonly SqlValue[])[]; readonly keepsDiagnostics?: boolean }
  | { readonly kind: 'error'; readonly error: WireError };

export const VERSION_COMMENT = 'quell: KILL across a cluster';

/** Databases a session may USE: where quell's tables live. */
export const DATABASES = ['information_schema', 'system'] as const;

/** Tables of each database: those the agents serve and those the coordinator answers itself (select.ts). */
function tablesOf(db: string): string[] {
  const names = [...AGENT_TABLES.map((t) => t.name), 'system.clusters', 'system.kill_queue', 'system.one'];
  return names
    .filter((n) => n.toLowerCase().startsWith(`${db.toLowerCase()}.`))
    .map((n) => n.slice(db.length + 1))
    .sort();
}

const str = (name: string): Column => ({ name, type: 'String' });
const int = (name: string): Column => ({ name, type: 'UInt64' });

/** Server variables a client may read (`SELECT @@x`, `SHOW VARIABLES`): MariaDB's names, quell's values. */
function variables(s: SessionInfo, server: ServerInfo): Map<string, SqlValue> {
  return new Map<string, SqlValue>([
    ['version', server.version],
    ['version_comment', VERSION_COMMENT],
    ['version_compile_os', process.platform],
    ['hostname', hostname()],
    ['max_allowed_packet', MAX_ALLOWED_PACKET],
    ['character_set_client', 'utf8mb4'],
    ['character_set_connection', 'utf8mb4'],
    ['character_set_results', 'utf8mb4'],
    ['character_set_server', 'utf8mb4'],
    ['character_set_database', 'utf8mb4'],
    ['collation_connection', 'utf8mb4_general_ci'],
    ['collation_server', 'utf8mb4_general_ci'],
    ['collation_database', 'utf8mb4_general_ci'],
    ['autocommit', 1],
    ['sql_mode', ''],
    ['time_zone', 'SYSTEM'],
    ['system_time_zone', Intl.DateTimeFormat().resolvedOptions().timeZone],
    ['tx_isolation', 'REPEATABLE-READ'],
    ['transaction_isolation', 'REPEATABLE-READ'],
    ['tx_read_only', 0],
    ['transaction_read_only', 0],
    ['auto_increment_increment', 1],
    ['lower_case_table_names', 0],
    ['wait_timeout', 28800],
    ['interactive_timeout', 28800],
    ['net_read_timeout', 30],
    ['net_write_timeout', 60],
    ['have_ssl', server.tls ? 'YES' : 'DISABLED'],
    ['require_secure_transport', server.tls ? 'ON' : 'OFF'],
    ['warning_count', s.diagnostics.length],
    ['error_count', s.diagnostics.filter((d) => d.level === 'Error').length],
    ['pseudo_thread_id', s.id],
  ]);
}

/** Status counters (`SHOW STATUS`): what a client checks, such as whether it is on TLS. */
function status(s: SessionInfo, server: ServerInfo): Map<string, SqlValue> {
  return new Map<string, SqlValue>([
    ['Ssl_cipher', s.tls?.cipher ?? ''],
    ['Ssl_version', s.tls?.version ?? ''],
    ['Threads_connected', server.sessions()],
    ['Uptime', Math.floor((Date.now() - server.startedAt) / 1000)],
  ]);
}

/** MariaDB's max_allowed_packet default: the most one statement may take on the wire. */
export const MAX_ALLOWED_PACKET = 16 * 1024 * 1024;

function nameValueRows(all: Map<string, SqlValue>, like: string | undefined): LocalAnswer {
  // MariaDB's SHOW … LIKE is case-insensitive; the patterns are the statement path's own LIKE
  const match = like === undefined ? undefined : likeTest(like, true);
  const rows = [...all]
    .filter(([name]) => !match || match(name))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => [name, value === null ? null : String(value)]);
  return { kind: 'rows', columns: [str('Variable_name'), str('Value')], rows };
}

/** A name as written: `x`, "x" or bare. */
function unquote(name: string): string {
  return name.replace(/^[`"]|[`"]$/g, '');
}

const FUNCTIONS: Record<string, (s: SessionInfo, server: ServerInfo) => SqlValue> = {
  'DATABASE()': (s) => s.database ?? null,
  'SCHEMA()': (s) => s.database ?? null,
  'USER()': (s) => `${s.user}@${s.host}`,
  'SESSION_USER()': (s) => `${s.user}@${s.host}`,
  'SYSTEM_USER()': (s) => `${s.user}@${s.host}`,
  'CURRENT_USER()': (s) => `${s.user}@%`,
  CURRENT_USER: (s) => `${s.user}@%`,
  'CONNECTION_ID()': (s) => s.id,
  'VERSION()': (_s, server) => server.version,
};

/**
 * `SELECT @@var, DATABASE(), … [LIMIT n]` when every item is a variable or one of the session
 * functions; anything else is not the session's (undefined).
 */
function selectSessionValues(list: string, s: SessionInfo, server: ServerInfo): LocalAnswer | undefined {
  const vars = variables(s, server);
  const columns: Column[] = [];
  const row: SqlValue[] = [];
  for (const raw of list.split(',')) {
    const m = /^\s*(.+?)(?:\s+(?:AS\s+)?(`[^`]+`|"[^"]+"|'[^']+'|\w+))?\s*$/i.exec(raw);
    if (!m) return undefined;
    const expr = (m[1] as string).trim();
    const alias = m[2] === undefined ? undefined : unquote(m[2]).replace(/^'|'$/g, '');
    let value: SqlValue;
    const v = /^@@(?:(?:session|global|local)\.)?(\w+)$/i.exec(expr);
    if (v) {
      const name = (v[1] as string).toLowerCase();
      if (!vars.has(name)) return { kind: 'error', error: MARIADB_ERRORS.unknownVariable(name) };
      value = vars.get(name) ?? null;
    } else {
      const f = FUNCTIONS[expr.replace(/\s+/g, '').toUpperCase()];
      if (!f) return undefined;
      value = f(s, server);
    }
    columns.push(typeof value === 'number' ? int(alias ?? expr) : str(alias ?? expr));
    row.push(value);
  }
  return { kind: 'rows', columns, rows: [row] };
}

/** A statement as the session compares it: comments, outer blanks and one trailing `;` gone. */
export function normalize(sql: string): string {
  return sql
    .replace(/\/\*(?!!)[\s\S]*?\*\//g, ' ')
    .replace(/^\s*(--|#)[^\n]*$/gm, ' ')
    .trim()
    .replace(/;\s*$/, '')
    .trim();
}

/** The session's own answer to a statement, or undefined when it goes to the statement path. */
export function sessionStatement(sql: string, s: SessionInfo, server: ServerInfo): LocalAnswer | undefined {
  const q = normalize(sql);
  if (q === '') return { kind: 'error', error: MARIADB_ERRORS.queryEmpty() };
  if (/^(SET|BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION)\b/i.test(q)) return { kind: 'ok' };
  let m = /^USE\s+(`[^`]+`|\w+)$/i.exec(q);
  if (m) return useDatabase(unquote(m[1] as string));
  if (/^SHOW\s+(DATABASES|SCHEMAS)$/i.test(q)) return { kind: 'rows', columns: [str('Database')], rows: DATABASES.map((d) => [d]) };
  m = /^SHOW\s+(?:FULL\s+)?TABLES(?:\s+(?:FROM|IN)\s+(`[^`]+`|\w+))?$/i.exec(q);
  if (m) {
    const db = m[1] === undefined ? s.database : unquote(m[1]);
    if (db === undefined) return { kind: 'error', error: MARIADB_ERRORS.noDatabase() };
    const known = DATABASES.find((d) => d === db.toLowerCase());
    if (!known) return { kind: 'error', error: MARIADB_ERRORS.unknownDatabase(db) };
    return { kind: 'rows', columns: [str(`Tables_in_${known}`)], rows: tablesOf(known).map((t) => [t]) };
  }
  if (/^SHOW\s+(WARNINGS|ERRORS)(\s+LIMIT\s+.*)?$/i.test(q)) {
    const errorsOnly = /^SHOW\s+ERRORS/i.test(q);
    const rows = s.diagnostics.filter((d) => !errorsOnly || d.level === 'Error').map((d) => [d.level, d.code, d.message]);
    return { kind: 'rows', columns: [str('Level'), { name: 'Code', type: 'UInt32' }, str('Message')], rows, keepsDiagnostics: true };
  }
  m = /^SHOW\s+(?:(?:GLOBAL|SESSION|LOCAL)\s+)?(STATUS|VARIABLES)(?:\s+LIKE\s+'((?:[^'\\]|\\.|'')*)')?$/i.exec(q);
  if (m) {
    const all = (m[1] as string).toUpperCase() === 'STATUS' ? status(s, server) : variables(s, server);
    return nameValueRows(all, m[2]?.replace(/''/g, "'"));
  }
  m = /^SELECT\s+([\s\S]+?)(?:\s+LIMIT\s+\d+)?$/i.exec(q);
  if (m && /@@|\w+\s*\(\s*\)|\bCURRENT_USER\b/i.test(m[1] as string) && !/\bFROM\b/i.test(m[1] as string)) return selectSessionValues(m[1] as string, s, server);
  return undefined;
}

/** `USE db` and COM_INIT_DB: one of quell's databases, in any case. */
export function useDatabase(db: string): LocalAnswer {
  const known = DATABASES.find((d) => d === db.toLowerCase());
  return known ? { kind: 'useDatabase', database: known } : { kind: 'error', error: MARIADB_ERRORS.unknownDatabase(db) };
}
