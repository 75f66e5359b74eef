import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { DurableKills } from '../../node-agent/durable-kills';
import { MutationTable } from '../../node-agent/mutation-table';
import type { CancelTarget, Owner } from '../../node-agent/live-table';
import type { MutationRow } from '../../node-agent/rows';
import { killIntentKey, type KillIntent } from '../../common/etcd-layout';
import { componentLogger } from '../../common/logger';
import { memoryKillLog } from './kill-recorder-fixture';

const NODE = { nodeId: 'n1', host: '127.0.0.1', port: 9701, address: '127.0.0.1:9701', clusters: ['c3'] };

/** Just what claiming an application needs: every create-if-absent succeeds. */
const ETCD = {
  if: () => ({ then: () => ({ commit: () => Promise.resolve({ succeeded: true }) }) }),
  put: () => ({ value: () => ({ lease: () => undefined }) }),
} as unknown as Etcd3;

/** A workload that records which mutations it was told to cancel. */
function workload(): Owner & { cancels: string[] } {
  const o = {
    sessionId: 1,
    cancels: [] as string[],
    cancel(target: CancelTarget) {
      if (target.kind === 'mutation') o.cancels.push(target.mutation_id);
    },
  };
  return o;
}

test('an intent that arrives while the agent runs kills only the registered mutations its WHERE names', async () => {
  const mutations = new MutationTable();
  const owner = workload();
  const now = Math.floor(Date.now() / 1000);
  for (const [id, table] of [['m1', 't3'], ['m2', 'other']] as const) {
    mutations.register({ database: 'db', table, mutation_id: id, command: 'DELETE WHERE 1', create_time: now - 60, parts_to_do: 1 }, owner);
  }
  const log = memoryKillLog();
  const kills = new DurableKills({
    etcd: ETCD,
    node: NODE,
    mutations,
    filterFor: (where) => (r: MutationRow) => r.table === where,
    recorder: log.recorder,
    log: componentLogger('test'),
  });
  const intent: KillIntent = { id: 'k1', cluster: 'c3', where: 't3', user: 'admin', created_at: now, expires_at: now + 3600, nodes: ['n1'], lease: '1' };
  // as the watch delivers a new intent
  (kills as unknown as { intents: { put(key: string, value: string, live: boolean): void } }).intents.put(killIntentKey('k1'), JSON.stringify(intent), true);
  for (let i = 0; i < 20 && owner.cancels.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(owner.cancels, ['m1']);
  assert.deepEqual(log.entries.map((e) => [e.statement_id, e.mutation_id, e.kill_status, e.query]), [['k1', 'm1', 'waiting', 'ALTER TABLE db.t3 DELETE WHERE 1']]);
  await kills.close();
});
