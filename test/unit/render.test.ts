import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderExpr } from '../../sql/render';
import { parseExpression } from '../../sql/parser';
import type { Expr } from '../../sql/ast';

function noPos<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (k, x: unknown) => (k === 'pos' ? undefined : x))) as T;
}

/** parse → render → parse gives the same tree; returns the rendered text. */
function roundTrip(e: Expr): string {
  const text = renderExpr(e);
  const back = parseExpression(text);
  // JSON loses NaN/-0/Infinity, so compare those literals directly first
  if (e.kind === 'literal' && typeof e.value === 'number') {
    assert.ok(back.kind === 'literal' && Object.is(back.value, e.value), `${text}: ${String(e.value)}`);
    assert.equal(back.isFloat === true, e.isFloat === true, text);
  }
  assert.deepEqual(noPos(back), noPos(e), text);
  return text;
}

test('operators render as ClickHouse function calls', () => {
  assert.equal(renderExpr(parseExpression("user = 'alice'")), "equals(user, 'alice')");
  assert.equal(
    renderExpr(parseExpression("user = 'a' AND (elapsed > 1.5 OR query LIKE '%x%') AND NOT is_cancelled")),
    "and(equals(user, 'a'), or(greater(elapsed, 1.5), like(query, '%x%')), not(is_cancelled))",
  );
  assert.equal(renderExpr(parseExpression('x BETWEEN 1 AND 2')), 'and(greaterOrEquals(x, 1), lessOrEquals(x, 2))');
  assert.equal(renderExpr(parseExpression("user NOT IN ('a', 'b')")), "notIn(user, ('a', 'b'))");
  assert.equal(renderExpr(parseExpression('-x + -1')), 'plus(negate(x), -1)');
  assert.equal(renderExpr(parseExpression('x IS NULL')), 'isNull(x)');
});

test('literals: NULL, integers, floats keep a dot, inf and nan, strings escaped', () => {
  const lit = (value: number | string | null, isFloat?: boolean): Expr => ({ kind: 'literal', value, pos: 0, ...(isFloat === undefined ? {} : { isFloat }) });
  assert.equal(renderExpr(lit(null)), 'NULL');
  assert.equal(renderExpr(lit(42, false)), '42');
  assert.equal(renderExpr(lit(-7, false)), '-7');
  assert.equal(renderExpr(lit(1.5, true)), '1.5');
  assert.equal(renderExpr(lit(1, true)), '1.');
  assert.equal(renderExpr(lit(-0, true)), '-0.');
  assert.equal(renderExpr(lit(1e300, true)), '1e+300');
  assert.equal(renderExpr(lit(Infinity, true)), 'inf');
  assert.equal(renderExpr(lit(-Infinity, true)), '-inf');
  assert.equal(renderExpr(lit(NaN, true)), 'nan');
  assert.equal(renderExpr(lit("it's")), "'it\\'s'");
  assert.equal(renderExpr(lit('a\\b')), "'a\\\\b'");
  assert.equal(renderExpr(lit('tab\there\nnl\0\r\x01\x7f')), "'tab\\there\\nnl\\0\\r\\x01\\x7f'");
  assert.equal(renderExpr(lit('é 😀')), "'é 😀'");
});

test('identifiers are bare when plain, back-quoted otherwise', () => {
  const ident = (name: string): Expr => ({ kind: 'identifier', name, pos: 0 });
  assert.equal(renderExpr(ident('user')), 'user');
  assert.equal(renderExpr(ident('ID')), 'ID');
  assert.equal(renderExpr(ident('my col')), '`my col`');
  assert.equal(renderExpr(ident('test')), '`test`');
  assert.equal(renderExpr(ident('Format')), '`Format`');
  assert.equal(renderExpr(ident('a`b')), '`a\\`b`');
  assert.equal(renderExpr(ident('1x')), '`1x`');
});

test('tuples render in parentheses', () => {
  assert.equal(renderExpr({ kind: 'tuple', items: [], pos: 0 }), '()');
  assert.equal(renderExpr(parseExpression("(1, 'b', NULL)")), "(1, 'b', NULL)");
});

test('parse(render(e)) == e for a corpus of expressions', () => {
  const corpus = [
    "user = 'alice'",
    "user = 'alice' AND elapsed > 10 OR query_id IN ('a', 'b', 'c')",
    "query LIKE '%\\\\%%'",
    "query NOT ILIKE 'select\\_%'",
    'x BETWEEN -1.5 AND 2e3',
    'x NOT BETWEEN 1 AND 2',
    'NOT NOT is_cancelled',
    '-(-x)',
    '- -1',
    '-0.0 = -0',
    '1e999 > -1e999',
    'inf != nan',
    "concat(user, '@', toString(port)) = 'a@1'",
    "if(elapsed > 1, 'slow', 'fast')",
    "substring(query, 1, 10) = 'SELECT sle'",
    'length(query) % 7 * 3 / 2 - 1 + 0x10',
    'match(query, \'^(a+)+$\')',
    'isNull(NULL) AND x IS NOT NULL',
    'hostName() = `node_id`',
    '`test` = 1 AND `select` = 2 AND `my col` = "x y"',
    "'\\t\\n\\0\\x05\\\\\\''",
    'x IN ()',
    'f()',
    'startsWith(query, lower(upper(x)))',
    'TRUE AND FALSE',
    '18446744073709551615 + 100000000000000000000',
    '0.1 + 0.2',
    'a = b = c',
    "not(a) = 1",
  ];
  for (const text of corpus) roundTrip(parseExpression(text));
  // NOT is an operator even when written like a call, so it takes the whole comparison
  assert.equal(roundTrip(parseExpression('not(a) = 1')), 'not(equals(a, 1))');
});

test('parse(render(e)) == e for random trees', () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const names = ['user', 'query', 'and', 'NOT', 'select', 'a b', 'x`y', 'Elapsed', 'inf', 'null'];
  const strings = ['', 'a', "it's", 'back\\slash', 'tab\t', '%_', 'é', '\x00\x1f', '`"'];
  const numbers: [number, boolean][] = [
    [0, false],
    [1, false],
    [-3, false],
    [255, false],
    [1.5, true],
    [2, true],
    [-0.25, true],
    [1e-7, true],
    [1e21, true],
    [Infinity, true],
    [-Infinity, true],
  ];
  const fns = ['equals', 'and', 'or', 'not', 'plus', 'negate', 'in', 'lower', 'concat', 'if', 'like', 'isNull', 'f'];
  const gen = (depth: number): Expr => {
    const k = depth > 4 ? rnd(4) : rnd(7);
    if (k === 0) return { kind: 'literal', value: null, pos: 0 };
    if (k === 1) return { kind: 'literal', value: strings[rnd(strings.length)] ?? '', pos: 0 };
    if (k === 2) {
      const [value, isFloat] = numbers[rnd(numbers.length)] ?? [0, false];
      return { kind: 'literal', value, isFloat, pos: 0 };
    }
    if (k === 3) return { kind: 'identifier', name: names[rnd(names.length)] ?? 'x', pos: 0 };
    if (k === 4) {
      const n = rnd(4);
      // a 1-item tuple has no syntax of its own: `(x)` is x
      return { kind: 'tuple', items: Array.from({ length: n === 1 ? 2 : n }, () => gen(depth + 1)), pos: 0 };
    }
    const name = fns[rnd(fns.length)] ?? 'f';
    // the parser only ever makes not() with one argument: `not(a, b)` is NOT applied to a tuple
    const argc = name === 'not' ? 1 : rnd(4);
    return { kind: 'call', name, args: Array.from({ length: argc }, () => gen(depth + 1)), pos: 0 };
  };
  for (let i = 0; i < 2000; i++) {
    const e = gen(0);
    const text = renderExpr(e);
    const back = parseExpression(text);
    assert.equal(renderExpr(back), text);
    assert.deepEqual(noPos(back), noPos(e), text);
  }
});
