import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choose, MAX_RANKED_LIMIT, rankedLimit } from '../../coordinator/statements/kill/kill-rank';
import type { MemberNode } from '../../coordinator/cluster/membership';
import type { PlannedProcess__Output } from '../../proto/generated/quell/v1/PlannedProcess';
import type { Value__Output } from '../../proto/generated/quell/v1/Value';
import { QuellError } from '../../errors/quell-error';
import { parseStatement } from '../../sql/parser';

// docs/ranked-kills.md: the coordinator's ranking of the nodes' plans, and the LIMIT it accepts.

const node = (id: string): MemberNode => ({ cluster: 'c3', nodeId: id, address: `${id}:1`, host: id, port: 1, active: true });

function planned(id: string, ...values: (number | string | null)[]): PlannedProcess__Output {
  const order_by = values.map((v): Value__Output => (v === null ? { null: true, kind: 'null' } : typeof v === 'number' ? { int: String(v), kind: 'int' } : { str: v, kind: 'str' }) as Value__Output);
  return { process: null, key: id, started_ms: 0, order_by, normalized_query_hash: '0' } as unknown as PlannedProcess__Output;
}

const picked = (r: ReturnType<typeof choose>) => r.map((n) => [n.node.nodeId, n.picks.map((p) => p.key)]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));

test('the n first across all plans, by ClickHouse order: DESC, NULLs last, nodes with nothing chosen left out', () => {
  const plans = [
    { node: node('n1'), planned: [planned('a400', 400), planned('a100', 100)] },
    { node: node('n2'), planned: [planned('b500', 500), planned('bnull', null)] },
    { node: node('n3'), planned: [planned('c600', 600), planned('c300', 300)] },
  ];
  assert.deepEqual(picked(choose(plans, [true], 2)), [['n2', ['b500']], ['n3', ['c600']]]);
  assert.deepEqual(picked(choose(plans, [true], 4)), [['n1', ['a400']], ['n2', ['b500']], ['n3', ['c600', 'c300']]]);
  // ascending: NULL still last
  assert.deepEqual(picked(choose(plans, [false], 6)).flatMap(([, keys]) => keys).length, 6);
  assert.deepEqual(picked(choose(plans, [false], 5)), [['n1', ['a100', 'a400']], ['n2', ['b500']], ['n3', ['c300', 'c600']]]);
  // a LIMIT above the matches takes them all; no plans, nothing
  assert.equal(choose(plans, [true], 1000).reduce((n, x) => n + x.picks.length, 0), 6);
  assert.deepEqual(choose([], [true], 3), []);
});

test('ties: the next key, then the node id that sorts first, then the node’s own order (oldest first)', () => {
  const plans = [
    { node: node('n2'), planned: [planned('n2-old', 5, 'x'), planned('n2-new', 5, 'x')] },
    { node: node('n1'), planned: [planned('n1-b', 5, 'y'), planned('n1-a', 5, 'x')] },
  ];
  assert.deepEqual(picked(choose(plans, [true, false], 3)), [['n1', ['n1-a']], ['n2', ['n2-old', 'n2-new']]]);
  assert.deepEqual(picked(choose(plans, [true], 3)), [['n1', ['n1-b', 'n1-a']], ['n2', ['n2-old']]]);
  // strings bytewise, numbers numerically
  const mixed = [{ node: node('n1'), planned: [planned('nine', 9), planned('ten', 10)] }];
  assert.deepEqual(picked(choose(mixed, [false], 1)), [['n1', ['nine']]]);
});

test('LIMIT: needed with ORDER BY, 1 to MAX_RANKED_LIMIT; neither clause is a plain kill', () => {
  const limitOf = (sql: string) => {
    const s = parseStatement(sql);
    if (s.kind !== 'kill') throw new Error('not a kill');
    return rankedLimit(s.orderBy, s.limit);
  };
  const refused = (re: RegExp) => (e: unknown) => e instanceof QuellError && e.errorName === 'BAD_ARGUMENTS' && e.code === 36 && re.test(e.message);
  assert.equal(limitOf('KILL QUERY WHERE 1'), undefined);
  assert.equal(limitOf('KILL QUERY WHERE 1 LIMIT 3'), 3);
  assert.equal(limitOf(`KILL QUERY WHERE 1 ORDER BY elapsed LIMIT ${MAX_RANKED_LIMIT}`), MAX_RANKED_LIMIT);
  assert.throws(() => limitOf('KILL QUERY WHERE 1 ORDER BY elapsed'), refused(/^ORDER BY in KILL needs LIMIT n/));
  for (const n of [0, -1, MAX_RANKED_LIMIT + 1]) assert.throws(() => limitOf(`KILL QUERY WHERE 1 ORDER BY elapsed LIMIT ${n}`), refused(new RegExp(`^LIMIT ${n} is out of range`)));
});
