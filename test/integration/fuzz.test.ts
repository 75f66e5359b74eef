import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuellError, renderError } from '../../errors/quell-error';
import { deepInputs, fuzzInputs, hugeInputs } from '../unit/fuzz-inputs';
import { TestCluster, useCluster } from './harness';

// Issue 11: fuzzed statements sent to a real coordinator (TLS, etcd, agents as processes)
// each get a result or one coded line, and the coordinator stays up throughout.

const SEED = Number(process.env.QUELL_FUZZ_SEED ?? 11_2026);
const COUNT = 300;
const ONE_LINE = /^(Code: \d+\. [A-Z_]+: [^\n\r]*|ERROR \d+ \([0-9A-Z]{5}\): [^\n\r]*)$/;

let c: TestCluster;
useCluster({ cluster: 'c3', nodes: 2 }, (started) => (c = started));

test(`fuzz: ${COUNT} fuzzed statements (seed ${SEED}) through a real coordinator get a result or a coded line; it stays up`, async () => {
  console.log(`# fuzz seed ${SEED}`);
  const inputs = [...fuzzInputs(SEED, COUNT), ...deepInputs().slice(0, 3), ...hugeInputs().slice(0, 3)];
  let answered = 0;
  let failed = 0;
  for (const [i, sql] of inputs.entries()) {
    try {
      await c.query(sql);
      answered++;
    } catch (e) {
      const where = `seed ${SEED}, input ${i}: ${JSON.stringify(sql.slice(0, 200))}`;
      assert.ok(e instanceof QuellError, `${where}: ${String(e)}`);
      assert.match(renderError(e), ONE_LINE, where);
      failed++;
    }
    assert.equal(c.coordinator.proc.exitCode, null, `coordinator exited after input ${i}`);
  }
  assert.equal(answered + failed, inputs.length);
  assert.ok(failed > 0, 'most fuzzed statements are invalid');
  const alive = await c.query('SELECT node_id FROM system.clusters WHERE is_active = 1 ORDER BY node_id');
  assert.deepEqual(alive.rows, [['n1'], ['n2']]);
});
