import type { Expr } from './ast';

/**
 * Canonical text of an expression, in ClickHouse's column-name style: every operator as its
 * function (`equals(user, 'alice')`). The coordinator sends this text to agents for WHERE
 * pushdown, so parseExpression(renderExpr(e)) must give back `e` (positions aside).
 */

/**
 * Words the expression parser does not take as bare identifiers (clause keywords, operators,
 * literals). A column with such a name is written back-quoted.
 */
export const RESERVED_WORDS: ReadonlySet<string> = new Set([
  'AND', 'OR', 'NOT', 'LIKE', 'ILIKE', 'IN', 'BETWEEN', 'IS', 'NULL', 'TRUE', 'FALSE', 'INF', 'NAN',
  'AS', 'FROM', 'WHERE', 'ORDER', 'BY', 'LIMIT', 'OFFSET', 'SETTINGS', 'FORMAT', 'SYNC', 'ASYNC',
  'TEST', 'ON', 'ASC', 'DESC', 'SELECT', 'GROUP', 'HAVING', 'UNION',
]);

const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;

export function renderExpr(e: Expr): string {
  switch (e.kind) {
    case 'literal':
      if (e.value === null) return 'NULL';
      if (typeof e.value === 'string') return quoteString(e.value);
      return renderNumber(e.value, e.isFloat === true);
    case 'identifier':
      return quoteIdentifier(e.name);
    case 'call':
      return `${e.name}(${e.args.map(renderExpr).join(', ')})`;
    case 'tuple':
      return `(${e.items.map(renderExpr).join(', ')})`;
  }
}

export function quoteIdentifier(name: string): string {
  if (PLAIN_NAME.test(name) && !RESERVED_WORDS.has(name.toUpperCase())) return name;
  return '`' + escapeChars(name, '`') + '`';
}

export function quoteString(s: string): string {
  return "'" + escapeChars(s, "'") + "'";
}

// Control characters are escaped so the text stays on one line and survives any transport.
const NEEDS_ESCAPE = /[\\'`\x00-\x1f\x7f]/;

function escapeChars(s: string, quote: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += '\\' + quote;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\0') out += '\\0';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out;
}

function renderNumber(v: number, isFloat: boolean): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (Object.is(v, -0)) return isFloat ? '-0.' : '0';
  const s = String(v);
  // A float with an integral value keeps a dot (ClickHouse writes `1.`) so it parses back as a float.
  if (isFloat && !/[.e]/.test(s)) return s + '.';
  return s;
}

/** ORDER BY keys as text (`memory_usage DESC, elapsed ASC`): for kill logs, logs and system.kill_policies. */
export function renderOrderKeys(keys: readonly { readonly expr: string; readonly desc: boolean }[]): string {
  return keys.map((k) => `${k.expr} ${k.desc ? 'DESC' : 'ASC'}`).join(', ');
}
