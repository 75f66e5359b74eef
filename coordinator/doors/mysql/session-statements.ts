import { hostname } from 'node:os';
import { AGENT_TABLES } from '../../../sql/tables';
import type { Column, SqlValue } from '../../../sql/types';
import { likeTest } from '../../../sql/compile';
import { scan, type Token } from '../../../sql/tokenizer';
import { MAX_QUERY_SIZE } from '../../../sql/parser';
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
  /** @@server_id (1 when the coordinator has none of its own) */
  readonly serverId?: number;
}

export type LocalAnswer =
  | { readonly kind: 'ok' }
  | { readonly kind: 'useDatabase'; readonly database: string }
  /** keepsDiagnostics: SHOW WARNINGS shows the previous statement's notes and leaves them (any other statement clears them) */
  | { readonly kind: 'rows'; readonly columns: readonly Column[]; readonly rows: readonly (readonly SqlValue[])[]; readonly keepsDiagnostics?: boolean }
  | { readonly kind: 'error'; readonly error: WireError }
  /** `SET [SESSION] kill_reason = '…'`: the session's kills carry it (checked by the session) */
  | { readonly kind: 'setKillReason'; readonly value: string };

export const VERSION_COMMENT = 'quell: KILL across a cluster';

/** Databases a session may USE: where quell's tables live. */
export const DATABASES = ['information_schema', 'system'] as const;

/** Tables of each database: those the agents serve and those the coordinator answers itself (select.ts). */
function tablesOf(db: string): string[] {
  const names = [...AGENT_TABLES.map((t) => t.name), 'system.clusters', 'system.coordinators', 'system.kill_queue', 'system.kill_policies', 'system.one', 'system.sessions'];
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
    // tools read it to tell servers apart (pt-kill on connect); a coordinator is one server
    ['server_id', server.serverId ?? 1],
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
 * A statement's tokens, as the session reads it: the statement path's own tokenizer (linear in
 * the text, whatever it holds), after MariaDB's `#` line comments, without trailing `;`.
 * Undefined when it does not lex, or is longer than any statement may be: such a statement is
 * not the session's, and the statement path refuses it with its own error.
 */
function sessionTokens(sql: string): Token[] | undefined {
  if (sql.length > MAX_QUERY_SIZE) return undefined;
  const scanned = scan(withoutHashComments(sql));
  if (scanned.error) return undefined;
  const tokens = scanned.tokens.slice(0, -1);
  while (tokens.at(-1)?.text === ';') tokens.pop();
  return tokens;
}

/** Lines whose first non-blank character is `#` (MariaDB's comment) become blank; one pass. */
function withoutHashComments(sql: string): string {
  if (!sql.includes('#')) return sql;
  return sql
    .split('\n')
    .map((line) => (line.trimStart().startsWith('#') ? '' : line))
    .join('\n');
}

/** Whether the token is the word `w` (any case). */
function isWord(t: Token | undefined, w: string): boolean {
  return t?.kind === 'word' && t.value.toUpperCase() === w;
}

/** Whether the tokens spell these words, and nothing else. */
function spells(tokens: readonly Token[], ...words: string[]): boolean {
  return tokens.length === words.length && words.every((w, i) => isWord(tokens[i], w));
}

/** A database name: a word or a quoted identifier. */
function nameOf(t: Token | undefined): string | undefined {
  return t?.kind === 'word' || t?.kind === 'quotedIdent' ? t.value : undefined;
}

/** The source text from the first token to the end of the last. */
function sourceOf(sql: string, tokens: readonly Token[]): string {
  const first = tokens[0];
  const last = tokens.at(-1);
  return first && last ? sql.slice(first.pos, last.pos + last.text.length) : '';
}

/** `'pattern'` of SHOW … LIKE as MariaDB keeps it: quotes off, `''` → `'`, backslashes left for LIKE. */
function likePattern(t: Token): string {
  return t.text.slice(1, -1).replace(/''/g, "'");
}

/** One item of a SELECT list: what it is (a variable or a session function) and its column name. */
type SelectItem = { readonly variable: string; readonly name: string } | { readonly fn: string; readonly name: string };

/** `@@[session.|global.|local.]name`, `FUNC()` or `CURRENT_USER`, then `[AS] alias`; undefined for anything else. */
function selectItem(sql: string, item: readonly Token[]): SelectItem | undefined {
  let i = 0;
  let what: { variable: string } | { fn: string } | undefined;
  if (item[0]?.text === '@' && item[1]?.text === '@') {
    i = 2;
    const scope = item[2];
    if (item[3]?.text === '.' && ['SESSION', 'GLOBAL', 'LOCAL'].some((w) => isWord(scope, w))) i = 4;
    const name = item[i];
    if (name?.kind !== 'word') return undefined;
    what = { variable: name.value.toLowerCase() };
    i++;
  } else if (item[0]?.kind === 'word' && item[1]?.text === '(' && item[2]?.text === ')') {
    what = { fn: `${item[0].value.toUpperCase()}()` };
    i = 3;
  } else if (isWord(item[0], 'CURRENT_USER')) {
    what = { fn: 'CURRENT_USER' };
    i = 1;
  } else return undefined;
  const expr = item.slice(0, i);
  if (isWord(item[i], 'AS')) i++;
  const alias = item[i];
  if (alias === undefined) return { ...what, name: sourceOf(sql, expr) };
  if (i !== item.length - 1 || !(alias.kind === 'word' || alias.kind === 'quotedIdent' || alias.kind === 'string')) return undefined;
  return { ...what, name: alias.value };
}

/**
 * `SELECT @@var, DATABASE(), … [LIMIT n]` when every item is a variable or one of the session
 * functions; anything else is not the session's (undefined).
 */
function selectSessionValues(sql: string, tokens: readonly Token[], s: SessionInfo, server: ServerInfo): LocalAnswer | undefined {
  let end = tokens.length;
  const limit = tokens[end - 1];
  if (isWord(tokens[end - 2], 'LIMIT') && limit?.kind === 'number') end -= 2;
  const items: Token[][] = [[]];
  for (let i = 1; i < end; i++) {
    const t = tokens[i] as Token;
    if (t.text === ',') items.push([]);
    else items[items.length - 1]?.push(t);
  }
  const vars = variables(s, server);
  const columns: Column[] = [];
  const row: SqlValue[] = [];
  for (const tokensOfItem of items) {
    const item = selectItem(sql, tokensOfItem);
    if (!item) return undefined;
    let value: SqlValue;
    if ('variable' in item) {
      if (!vars.has(item.variable)) return { kind: 'error', error: MARIADB_ERRORS.unknownVariable(item.variable) };
      value = vars.get(item.variable) ?? null;
    } else {
      const f = FUNCTIONS[item.fn];
      if (!f) return undefined;
      value = f(s, server);
    }
    columns.push(typeof value === 'number' ? int(item.name) : str(item.name));
    row.push(value);
  }
  return { kind: 'rows', columns, rows: [row] };
}

/** SHOW …: the session's own, or undefined. */
function showStatement(tokens: readonly Token[], s: SessionInfo, server: ServerInfo): LocalAnswer | undefined {
  if (spells(tokens, 'SHOW', 'DATABASES') || spells(tokens, 'SHOW', 'SCHEMAS')) return { kind: 'rows', columns: [str('Database')], rows: DATABASES.map((d) => [d]) };
  let i = 1;
  if (isWord(tokens[i], 'FULL')) i++;
  if (isWord(tokens[i], 'TABLES')) {
    i++;
    let db = s.database;
    if (isWord(tokens[i], 'FROM') || isWord(tokens[i], 'IN')) {
      db = nameOf(tokens[i + 1]);
      if (db === undefined) return undefined;
      i += 2;
    }
    if (i !== tokens.length) return undefined;
    if (db === undefined) return { kind: 'error', error: MARIADB_ERRORS.noDatabase() };
    const known = DATABASES.find((d) => d === db.toLowerCase());
    if (!known) return { kind: 'error', error: MARIADB_ERRORS.unknownDatabase(db) };
    return { kind: 'rows', columns: [str(`Tables_in_${known}`)], rows: tablesOf(known).map((t) => [t]) };
  }
  if (isWord(tokens[1], 'WARNINGS') || isWord(tokens[1], 'ERRORS')) {
    if (tokens.length > 2 && !isWord(tokens[2], 'LIMIT')) return undefined;
    const errorsOnly = isWord(tokens[1], 'ERRORS');
    const rows = s.diagnostics.filter((d) => !errorsOnly || d.level === 'Error').map((d) => [d.level, d.code, d.message]);
    return { kind: 'rows', columns: [str('Level'), { name: 'Code', type: 'UInt32' }, str('Message')], rows, keepsDiagnostics: true };
  }
  i = 1;
  if (['GLOBAL', 'SESSION', 'LOCAL'].some((w) => isWord(tokens[i], w))) i++;
  const which = tokens[i];
  if (!isWord(which, 'STATUS') && !isWord(which, 'VARIABLES')) return undefined;
  i++;
  let like: string | undefined;
  const pattern = tokens[i + 1];
  if (isWord(tokens[i], 'LIKE') && pattern?.kind === 'string') {
    like = likePattern(pattern);
    i += 2;
  }
  if (i !== tokens.length) return undefined;
  return nameValueRows(isWord(which, 'STATUS') ? status(s, server) : variables(s, server), like);
}

/**
 * The session's own answer to a statement, or undefined when it goes to the statement path.
 * Recognised on tokens, never by regular expressions over the text: a statement of any length
 * and shape costs one linear pass.
 */
export function sessionStatement(sql: string, s: SessionInfo, server: ServerInfo): LocalAnswer | undefined {
  const tokens = sessionTokens(sql);
  if (!tokens) return undefined;
  const first = tokens[0];
  if (!first) return { kind: 'error', error: MARIADB_ERRORS.queryEmpty() };
  const reason = setKillReason(tokens);
  if (reason !== undefined) return { kind: 'setKillReason', value: reason };
  if (['SET', 'BEGIN', 'COMMIT', 'ROLLBACK'].some((w) => isWord(first, w)) || (isWord(first, 'START') && isWord(tokens[1], 'TRANSACTION'))) return { kind: 'ok' };
  if (isWord(first, 'USE')) {
    const db = nameOf(tokens[1]);
    return db !== undefined && tokens.length === 2 ? useDatabase(db) : undefined;
  }
  if (isWord(first, 'SHOW')) return showStatement(tokens, s, server);
  if (isWord(first, 'SELECT') && !tokens.some((t) => isWord(t, 'FROM'))) return selectSessionValues(sql, tokens, s, server);
  return undefined;
}

/** `USE db` and COM_INIT_DB: one of quell's databases, in any case. */
export function useDatabase(db: string): LocalAnswer {
  const known = DATABASES.find((d) => d === db.toLowerCase());
  return known ? { kind: 'useDatabase', database: known } : { kind: 'error', error: MARIADB_ERRORS.unknownDatabase(db) };
}

/** `SET [SESSION|LOCAL] kill_reason = '…'` (also `@@kill_reason`, `@@session.kill_reason`): the text; undefined for any other statement. */
function setKillReason(tokens: readonly Token[]): string | undefined {
  if (!isWord(tokens[0], 'SET')) return undefined;
  let i = 1;
  if (isWord(tokens[i], 'SESSION') || isWord(tokens[i], 'LOCAL')) i++;
  const rest = tokens.slice(i).map((t) => t.text).join('');
  const value = tokens.at(-1);
  if (value?.kind !== 'string') return undefined;
  const name = rest.slice(0, rest.length - value.text.length).toLowerCase();
  return ['kill_reason=', '@@kill_reason=', '@@session.kill_reason=', '@@local.kill_reason='].includes(name) ? value.value : undefined;
}
