/**
 * Inputs for the statement fuzzer (issue 11): grammar-aware mutations of valid statements,
 * random bytes, deep nesting and huge literals, all from a seeded PRNG so that a failure
 * reproduces from the printed seed alone.
 */

/** mulberry32: tiny, fast, and the same sequence on every platform for a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Valid statements, taken from the parser tests, that the mutations start from. */
export const CORPUS: readonly string[] = [
  "KILL QUERY ON CLUSTER c3 WHERE user = 'alice' SYNC SETTINGS sync_kill_timeout = 1, distributed_ddl_output_mode = 'throw' FORMAT JSONEachRow;",
  "KILL QUERY WHERE 1 SETTINGS a = 1.5, b = -2, c = 'x', d = never_throw, e = true",
  "KILL MUTATION WHERE mutation_id = 'm1' TEST",
  "KILL MUTATION ON CLUSTER c3 WHERE database = 'default' AND table = 'orders' ASYNC",
  "KILL QUERY WHERE elapsed > 5 AND query LIKE '%SELECT%' OR NOT (user IN ('a', 'b')) SYNC",
  "KILL QUERY WHERE match(query, '^INSERT') AND lower(user) != 'etl' AND elapsed BETWEEN 1 AND 1e3",
  "KILL QUERY USER 'Bob'@'LocalHost'",
  "KILL USER bob@'%'",
  'KILL 40 + 2',
  'KILL CONNECTION USER CURRENT_USER',
  'KILL QUERY ID 4',
  'KILL SOFT QUERY 7;',
  'KILL USER current_user()',
  'kill hard connection 7',
  'SHOW PROCESSLIST',
  'show full processlist on cluster c3 format Vertical;',
  'SELECT 1',
  'SELECT * FROM system.clusters',
  'SELECT * FROM system.kill_policies',
  'SELECT * FROM clusterAllReplicas(c3, system.mutations)',
  "SELECT *, user AS u, lower(query) q, elapsed > 1 FROM clusterAllReplicas('c3', system.processes) WHERE user = 'x' ORDER BY elapsed DESC LIMIT 3 FORMAT PrettyCompact",
  'SELECT * FROM information_schema.PROCESSLIST',
  "SELECT query_id, toString(elapsed) FROM system.processes WHERE query_id = concat('a', 'b') AND -elapsed < 2 SETTINGS max_result_rows = 5",
  "CREATE KILL POLICY long_etl WHERE user = 'etl' AND elapsed > 5 EVERY 5 MINUTES LIMIT 1 DRY",
  "CREATE KILL POLICY IF NOT EXISTS idle ON CLUSTER c3 WHERE command = 'Sleep' KILL CONNECTION",
  'CREATE KILL POLICY p WHERE elapsed > 5 EVERY 1.5 SECONDS',
  'DROP KILL POLICY long_etl',
  'drop kill policy if exists long_etl on cluster c3;',
  'SHOW KILL POLICIES FORMAT Vertical',
];

const KEYWORDS = [
  'KILL', 'QUERY', 'MUTATION', 'WHERE', 'SYNC', 'ASYNC', 'TEST', 'ON', 'CLUSTER', 'SETTINGS', 'FORMAT', 'SELECT', 'FROM',
  'ORDER', 'BY', 'LIMIT', 'AND', 'OR', 'NOT', 'IN', 'LIKE', 'BETWEEN', 'IS', 'NULL', 'AS', 'USER', 'CONNECTION', 'ID',
  'CREATE', 'DROP', 'POLICY', 'EVERY', 'SHOW', 'PROCESSLIST', 'FULL', 'CASE', 'WHEN', 'THEN', 'ELSE', 'END', 'INTERVAL',
];
const OPERATORS = ['(', ')', ',', ';', '=', '==', '!=', '<>', '<', '>', '<=', '>=', '+', '-', '*', '/', '%', '||', '.', '@', '?', '[', ']', '::', '--', '/*', '*/', '`', "'", '"', '\\'];
const LITERALS = [
  "''", "'\\''", "'\\x00'", "'\\u'", '0', '-0', '1e308', '1e309', '-9223372036854775809', '18446744073709551616',
  '0x', '0xFFFFFFFFFFFFFFFFFF', '1.', '.5', 'NaN', 'inf', '-inf', 'NULL', "'\u202e\u0007\x1b[2J'", "'\u{1F600}'", '``', '`a``b`',
];

/** Token-ish pieces: strings, quoted names, numbers, words, spaces, any single character. */
const PIECE = /'(?:[^'\\]|\\.)*'?|`[^`]*`?|"[^"]*"?|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\w+|\s+|[^]/gi;

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function tokens(text: string): string[] {
  return text.match(PIECE) ?? [];
}

/** One to three token-level edits of a corpus statement. */
export function mutate(r: () => number, text: string): string {
  const t = tokens(text);
  const edits = 1 + Math.floor(r() * 3);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(r() * (t.length + 1));
    switch (Math.floor(r() * 8)) {
      case 0: t.splice(at, 1); break;
      case 1: t.splice(at, 0, t[at] ?? ''); break;
      case 2: {
        const other = Math.floor(r() * t.length);
        [t[at], t[other]] = [t[other] ?? '', t[at] ?? ''];
        break;
      }
      case 3: t.splice(at, 1, pick(r, LITERALS)); break;
      case 4: t.splice(at, 0, ` ${pick(r, KEYWORDS)} `); break;
      case 5: t.splice(at, 0, pick(r, OPERATORS)); break;
      case 6: t.length = at; break;
      default: t.splice(at, 0, String.fromCharCode(Math.floor(r() * 0x100))); break;
    }
  }
  return t.join('');
}

/** Random bytes read as latin-1, and random UTF-16 code units (lone surrogates included). */
export function randomText(r: () => number): string {
  const n = Math.floor(r() * 200);
  const wide = r() < 0.3;
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(r() * (wide ? 0x10000 : 0x100)));
  return s;
}

const WHERE = 'KILL QUERY WHERE ';

/** Nesting far past any parser's depth: each must fail with a coded error, never a RangeError. */
export function deepInputs(depth = 10_000): string[] {
  return [
    `${WHERE}${'('.repeat(depth)}1${')'.repeat(depth)}`,
    `${WHERE}${'NOT '.repeat(depth)}1`,
    `${WHERE}${'-'.repeat(depth)}1`,
    `${WHERE}${'- '.repeat(depth)}1`,
    `${WHERE}${'lower('.repeat(depth)}user${')'.repeat(depth)}`,
    `${WHERE}${'tuple('.repeat(depth)}1${')'.repeat(depth)}`,
    `${WHERE}${'('.repeat(depth)}`,
    `${WHERE}1${' + 1'.repeat(depth)}`,
    `${WHERE}user IN (${'('.repeat(depth)}'a'${')'.repeat(depth)})`,
    `SELECT ${'['.repeat(depth)}1${']'.repeat(depth)}`,
    `${WHERE}${'CASE WHEN '.repeat(depth)}1`,
    '('.repeat(depth * 10),
  ];
}

/** Literals of megabytes and numbers of a thousand digits, inside and past the size limit. */
export function hugeInputs(): string[] {
  const mb = 'x'.repeat(1 << 20);
  const digits = '9'.repeat(1000);
  return [
    `${WHERE}user = '${mb}'`,
    `${WHERE}1${' AND 1'.repeat(10_000)}`,
    `${WHERE}1${' OR 0'.repeat(40_000)}`,
    `${WHERE}user = '${'y'.repeat(200_000)}'`,
    `${WHERE}elapsed > ${digits}`,
    `${WHERE}elapsed > 0.${digits}`,
    `${WHERE}elapsed > ${digits}e${digits}`,
    `${WHERE}elapsed > 1e-${digits}`,
    `KILL ${digits}`,
    `KILL QUERY ID ${digits}`,
    `SELECT ${digits}`,
    `SELECT * FROM system.processes LIMIT ${digits}`,
    `${WHERE}1 SETTINGS sync_kill_timeout = ${digits}`,
    `${WHERE}\`${'z'.repeat(100_000)}\` = 1`,
    `${WHERE}user = '${'\\'.repeat(100_001)}'`,
    `/*${' '.repeat(1 << 20)}*/ SELECT 1`,
    `${WHERE}user = '${'\u{1F600}'.repeat(50_000)}'`,
  ];
}

/** `count` inputs for a seed: mostly mutations, then random text, deep nesting and huge literals. */
export function* fuzzInputs(seed: number, count: number): Generator<string> {
  const r = prng(seed);
  for (let i = 0; i < count; i++) {
    const roll = r();
    if (roll < 0.8) yield mutate(r, pick(r, CORPUS));
    else if (roll < 0.95) yield randomText(r);
    else yield mutate(r, mutate(r, pick(r, CORPUS)));
  }
}

/** Statements made of one long word or run, the shapes that made a backtracking recogniser quadratic. */
export function longWordInputs(n = 200_000): string[] {
  const w = 'a'.repeat(n);
  return [
    `SELECT ${w}`,
    `SELECT ${w}()`,
    `SELECT ${w}(`,
    `SELECT @@${w}`,
    `SELECT @@session.${w}`,
    `select ${w} limit 1`,
    `SELECT ${'a, '.repeat(n / 3)}1`,
    `SELECT ${' '.repeat(n)}x`,
    `SELECT ${'\n'.repeat(n)}x`,
    `SELECT 1 ${'/* '.repeat(n / 3)}`,
    `${'# c\n'.repeat(n / 4)}SELECT 1`,
    `SHOW VARIABLES LIKE '${'%_'.repeat(n / 2)}x'`,
    `USE ${w}`,
    `SET ${w} = 1`,
  ];
}

/** Characters a header or parameter must not smuggle: controls, DEL, C1 and beyond Latin-1. */
const NASTY = ['\n', '\r', '\0', '\x1b', '\x7f', '\x85', '\u2603', '\u{1F600}', '\t', '"', '%', '\\'];

/** A token of 1 to 3 pieces: plain text, a nasty character, or a long run. */
function nastyToken(r: () => number): string {
  let out = '';
  const pieces = 1 + Math.floor(r() * 3);
  for (let i = 0; i < pieces; i++) {
    const roll = r();
    if (roll < 0.4) out += pick(r, ['a', 'x-1', 'default', 'JSONEachRow', 'q1', '1']);
    else if (roll < 0.8) out += pick(r, NASTY);
    else out += pick(r, ['a', '%0a', 'é']).repeat(1 + Math.floor(r() * 20_000));
  }
  return out;
}

/** One fuzzed HTTP request: query-string parameters and headers for the ClickHouse HTTP door. */
export interface FuzzedHttpRequest {
  readonly method: 'GET' | 'POST';
  readonly params: readonly (readonly [string, string])[];
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
}

const HTTP_PARAMS = ['query', 'query_id', 'user', 'password', 'default_format', 'database', 'sync_kill_timeout', 'max_result_rows', 'param_x', 'compress', 'nope'];
const HTTP_HEADERS = ['X-ClickHouse-User', 'X-ClickHouse-Key', 'X-ClickHouse-Format', 'X-ClickHouse-Query-Id', 'X-ClickHouse-SSL-Certificate-Auth', 'Authorization', 'Origin', 'Sec-Fetch-Site', 'Content-Encoding', 'X-Anything'];

/** `count` HTTP requests for a seed: real parameter and header names with nasty or long values. */
export function* httpFuzzInputs(seed: number, count: number): Generator<FuzzedHttpRequest> {
  const r = prng(seed);
  for (let i = 0; i < count; i++) {
    const params: [string, string][] = [];
    const headers: [string, string][] = [];
    const nParams = Math.floor(r() * 4);
    for (let j = 0; j < nParams; j++) params.push([r() < 0.9 ? pick(r, HTTP_PARAMS) : nastyToken(r), nastyToken(r)]);
    const nHeaders = Math.floor(r() * 3);
    for (let j = 0; j < nHeaders; j++) headers.push([pick(r, HTTP_HEADERS), nastyToken(r)]);
    const body = r() < 0.5 ? mutate(r, pick(r, CORPUS)) : '';
    yield { method: r() < 0.5 ? 'GET' : 'POST', params, headers, body };
  }
}
