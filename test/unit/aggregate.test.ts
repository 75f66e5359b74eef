import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStatement } from '../../sql/parser';
import type { SelectStatement } from '../../sql/ast';
import type { Column, SqlValue } from '../../sql/types';
import { Aggregation, planAggregate } from '../../coordinator/statements/select/aggregate';
import { QuellError } from '../../errors/quell-error';

const COLUMNS: Column[] = [
  { name: 'user', type: 'String' },
  { name: 'memory_usage', type: 'UInt64' },
  { name: 'elapsed', type: 'Float64' },
  { name: 'node', type: 'String' },
];
const ROWS: SqlValue[][] = [
  ['alice', 100, 1.5, 'n1'],
  ['alice', 300, 2.5, 'n2'],
  ['bob', 50, 10, 'n1'],
  ['carol', 700, 0.5, 'n3'],
  ['bob', 50, 3, 'n3'],
];

/** Runs a grouped SELECT over ROWS as select.ts does: leaves per row, then the groups. */
function run(sql: string): { names: string[]; rows: SqlValue[][] } {
  const stmt = parseStatement(sql) as SelectStatement;
  const plan = planAggregate(stmt, COLUMNS);
  assert.ok(plan, `${sql} aggregates`);
  const leaves = plan.leaves.map((l) => {
    // the leaves here are plain columns or simple expressions of them
    const at = COLUMNS.findIndex((c) => l.kind === 'identifier' && c.name === l.name);
    return (r: SqlValue[]): SqlValue => (at >= 0 ? (r[at] ?? null) : null);
  });
  const g = new Aggregation(plan, 0);
  g.add(ROWS.map((r) => leaves.map((f) => f(r))));
  return { names: plan.columns.map((c) => c.name), rows: g.rows() };
}

test('GROUP BY with count, sum and a positional ORDER BY, as ClickHouse answers it', () => {
  assert.deepEqual(run('SELECT user, count(), sum(memory_usage) FROM t GROUP BY user ORDER BY 3 DESC'), {
    names: ['user', 'count()', 'sum(memory_usage)'],
    rows: [
      ['carol', 1, 700],
      ['alice', 2, 400],
      ['bob', 2, 100],
    ],
  });
});

test('min, max, avg, any, uniq; HAVING on an aggregate; aliases; LIMIT', () => {
  const r = run('SELECT user AS u, min(memory_usage), max(elapsed), avg(memory_usage) AS a, uniq(node) FROM t GROUP BY u HAVING count() > 1 ORDER BY a LIMIT 5');
  assert.deepEqual(r.names, ['u', 'min(memory_usage)', 'max(elapsed)', 'a', 'uniq(node)']);
  assert.deepEqual(r.rows, [
    ['bob', 50, 10, 50, 2],
    ['alice', 100, 2.5, 200, 2],
  ]);
  assert.deepEqual(run('SELECT any(user) FROM t').rows, [['alice']]);
});

test('without GROUP BY: one row, even over no rows (count 0, sum 0)', () => {
  assert.deepEqual(run('SELECT count(), sum(memory_usage), max(memory_usage) FROM t').rows, [[5, 1200, 700]]);
  const stmt = parseStatement('SELECT count(), sum(memory_usage), avg(memory_usage) FROM t') as SelectStatement;
  const plan = planAggregate(stmt, COLUMNS);
  assert.ok(plan);
  const [row] = new Aggregation(plan, 0).rows();
  assert.deepEqual(row?.slice(0, 2), [0, 0]);
  assert.ok(Number.isNaN(row?.[2]));
});

test('errors before any node is asked: a column not grouped, nested aggregates, wrong arity, SELECT *', () => {
  const plan = (sql: string): unknown => planAggregate(parseStatement(sql) as SelectStatement, COLUMNS);
  assert.throws(() => plan('SELECT user, count() FROM t'), (e: unknown) => e instanceof QuellError && e.errorName === 'NOT_AN_AGGREGATE' && /Column `user` is not under aggregate function and not in GROUP BY/.test(e.message));
  assert.throws(() => plan('SELECT sum(count()) FROM t'), (e: unknown) => e instanceof QuellError && e.errorName === 'ILLEGAL_AGGREGATION');
  assert.throws(() => plan('SELECT sum() FROM t'), (e: unknown) => e instanceof QuellError && e.errorName === 'NUMBER_OF_ARGUMENTS_DOESNT_MATCH');
  assert.throws(() => plan('SELECT sum(user) FROM t'), (e: unknown) => e instanceof QuellError && e.errorName === 'ILLEGAL_TYPE_OF_ARGUMENT');
  assert.throws(() => plan('SELECT * FROM t GROUP BY user'), (e: unknown) => e instanceof QuellError && e.errorName === 'NOT_AN_AGGREGATE');
  assert.throws(() => plan('SELECT user FROM t GROUP BY 4'), (e: unknown) => e instanceof QuellError && e.errorName === 'BAD_ARGUMENTS');
  assert.equal(plan('SELECT user FROM t ORDER BY user'), undefined, 'a plain read is not grouped');
});

test('the group count is bounded by max_result_rows', () => {
  const stmt = parseStatement('SELECT node, count() FROM t GROUP BY node') as SelectStatement;
  const plan = planAggregate(stmt, COLUMNS);
  assert.ok(plan);
  const g = new Aggregation(plan, 2);
  assert.throws(() => g.add(ROWS.map((r) => [r[3] ?? null])), (e: unknown) => e instanceof QuellError && e.errorName === 'TOO_MANY_ROWS_OR_BYTES');
});
