import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStatement } from '../../sql/parser';
import type { SelectStatement } from '../../sql/ast';
import type { SqlValue } from '../../sql/types';
import { ReadRows, type Projection } from '../../coordinator/statements/select/read-rows';
import type { ResultSink } from '../../coordinator/context';
import { QuellError } from '../../errors/quell-error';

/** The read-side merge: rows from several nodes, in the order they arrive, into one result. */
function reader(sql: string, p: Projection, maxRows = 0) {
  const sent: SqlValue[][] = [];
  const sink: ResultSink = {
    header: () => undefined,
    rows: (rows) => {
      for (const r of rows) sent.push([...r]);
      return Promise.resolve();
    },
    warn: () => undefined,
  };
  return { out: new ReadRows(p, parseStatement(sql) as SelectStatement, sink, maxRows), sent };
}

const plain: Projection = { columns: [{ name: 'id', type: 'String' }], exprs: [], orderKeys: [] };
// id, then the hidden ORDER BY key (elapsed)
const sorted: Projection = { columns: [{ name: 'id', type: 'String' }], exprs: [], orderKeys: [{ index: 1, desc: true }] };

test('without ORDER BY rows stream as they come, OFFSET and LIMIT applied across nodes, then nothing more is wanted', async () => {
  const { out, sent } = reader('SELECT id FROM t LIMIT 3 OFFSET 1', plain);
  await out.add([['a'], ['b']]);
  assert.deepEqual(sent, [['b']], 'the first row is the offset');
  assert.equal(out.wanted, true);
  await out.add([['c'], ['d'], ['e']]);
  assert.deepEqual(sent, [['b'], ['c'], ['d']]);
  assert.equal(out.wanted, false, 'LIMIT reached: the open calls may be cancelled');
  await out.end();
  assert.equal(out.rows, 3);
});

test('with ORDER BY every node is heard first; only the best OFFSET + LIMIT are kept; hidden keys dropped', async () => {
  const { out, sent } = reader('SELECT id FROM t ORDER BY elapsed DESC LIMIT 2', sorted);
  await out.add([['n1-a', 5], ['n1-b', 50]]);
  await out.add([['n2-a', 20]]);
  assert.deepEqual(sent, [], 'nothing goes out before every node is done');
  for (let i = 0; i < 3_000; i++) await out.add([[`bulk-${i}`, 1]]);
  await out.end();
  assert.deepEqual(sent, [['n1-b'], ['n2-a']]);
});

test('max_result_rows bounds what a sorted read without LIMIT holds, and what any read sends', async () => {
  const gathered = reader('SELECT id FROM t ORDER BY elapsed DESC', sorted, 2);
  await assert.rejects(gathered.out.add([['a', 1], ['b', 2], ['c', 3]]), (e: unknown) => e instanceof QuellError && e.errorName === 'TOO_MANY_ROWS_OR_BYTES');
  const streamed = reader('SELECT id FROM t', plain, 2);
  await assert.rejects(streamed.out.add([['a'], ['b'], ['c']]), (e: unknown) => e instanceof QuellError && /max rows: 2, current rows: 3/.test(e.message));
});
