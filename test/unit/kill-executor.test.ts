import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcessTable } from '../../node-agent/process-table';
import type { ProcessStart } from '../../node-agent/rows';
import type { CancelTarget, Owner } from '../../node-agent/live-table';
import { querySubject } from '../../node-agent/kill-subjects';
import { processResolver } from '../../node-agent/process-columns';
import { FilterCache } from '../../node-agent/filter-cache';
import { executeKill } from '../../node-agent/kill-executor';
import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { KillResponse } from '../../proto/generated/quell/v1/KillResponse';

const NODE = { nodeId: 'n1', host: '127.0.0.1', port: 9701, address: '127.0.0.1:9701', clusters: ['c3'] };

function reg(query_id: string, user: string, extra: Partial<ProcessStart> = {}): ProcessStart {
  return {
    query_id, user, query: `SELECT '${query_id}'`, initial_query_id: '', initial_user: '', address: '::1', port: 0,
    client_hostname: '', client_name: '', current_database: 'default', query_kind: 'Select', uncancellable: false, thread_id: 0, ...extra,
  };
}

/** A workload that ends a process when told (or never, or after a delay). */
function owner(table: ProcessTable, behaviour: 'obey' | 'ignore' = 'obey'): Owner & { cancels: string[] } {
  const o = {
    sessionId: 1,
    cancels: [] as string[],
    cancel(target: CancelTarget) {
      if (target.kind !== 'query') throw new Error('queries only here');
      o.cancels.push(target.query_id);
      if (behaviour === 'obey') setImmediate(() => table.end(target.query_id, o));
    },
  };
  return o;
}

function request(where: string, mode: KillRequest__Output['mode'], user = 'root', mayKillOthers = true, syncMs = 1000): KillRequest__Output {
  return { target: 'KILL_TARGET_QUERY', where, mode, soft: false, user, may_kill_others: mayKillOthers, sync_timeout_ms: syncMs, statement_id: 't', query_only: false };
}

async function run(table: ProcessTable, req: KillRequest__Output): Promise<KillResponse[]> {
  const out: KillResponse[] = [];
  const filter = new FilterCache(processResolver(NODE), { hostName: 'n1', now: () => 0 }).get(req.where);
  await executeKill(req, querySubject(table), filter, { write: (m) => out.push(m), closed: false });
  return out;
}

const statuses = (msgs: KillResponse[]) => msgs.filter((m) => m.process).map((m) => [m.process?.query_id, m.process?.status]);

test('ASYNC: plan first, then waiting rows; only matching processes are cancelled', async () => {
  const table = new ProcessTable();
  const w = owner(table);
  table.register(reg('a1', 'alice'), w);
  table.register(reg('b1', 'bob'), w);
  const msgs = await run(table, request("equals(user, 'alice')", 'KILL_MODE_ASYNC'));
  assert.deepEqual(msgs[0], { plan: { eligible: 1, skipped: 0, skipped_owner: '', skipped_id: '' } });
  assert.deepEqual(statuses(msgs), [['a1', 'KILL_STATUS_WAITING']]);
  assert.deepEqual(w.cancels, ['a1']);
  assert.equal(table.get('a1')?.row.is_cancelled, 1);
});

test('SYNC: finished as each process ends; waiting for those that ignore the cancel', async () => {
  const table = new ProcessTable();
  const obey = owner(table);
  const stubborn = owner(table, 'ignore');
  table.register(reg('q1', 'alice'), obey);
  table.register(reg('q2', 'alice'), stubborn);
  const msgs = await run(table, request("equals(user, 'alice')", 'KILL_MODE_SYNC', 'root', true, 50));
  assert.deepEqual(statuses(msgs), [['q1', 'KILL_STATUS_FINISHED'], ['q2', 'KILL_STATUS_WAITING']]);
  assert.equal(table.get('q1'), undefined);
  assert.ok(table.get('q2'));
});

test('TEST sends nothing; uncancellable processes are cant_cancel', async () => {
  const table = new ProcessTable();
  const w = owner(table);
  table.register(reg('q1', 'alice'), w);
  table.register(reg('q2', 'alice', { uncancellable: true }), w);
  assert.deepEqual(statuses(await run(table, request("equals(user, 'alice')", 'KILL_MODE_TEST'))), [
    ['q1', 'KILL_STATUS_UNKNOWN_STATUS'],
    ['q2', 'KILL_STATUS_UNKNOWN_STATUS'],
  ]);
  assert.deepEqual(w.cancels, []);
  const sync = await run(table, request("equals(user, 'alice')", 'KILL_MODE_SYNC'));
  assert.deepEqual(statuses(sync), [['q2', 'KILL_STATUS_CANT_CANCEL'], ['q1', 'KILL_STATUS_FINISHED']]);
  assert.deepEqual(w.cancels, ['q1']);
});

test("without the grant, others' processes are skipped and counted in the plan", async () => {
  const table = new ProcessTable();
  const w = owner(table);
  table.register(reg('a1', 'alice'), w);
  table.register(reg('c1', 'carol'), w);
  const msgs = await run(table, request('1', 'KILL_MODE_ASYNC', 'carol', false));
  assert.deepEqual(msgs[0], { plan: { eligible: 1, skipped: 1, skipped_owner: 'alice', skipped_id: 'a1' } });
  assert.deepEqual(statuses(msgs), [['c1', 'KILL_STATUS_WAITING']]);
  assert.deepEqual(w.cancels, ['c1']);
});

test('a dropped workload ends all its processes and wakes SYNC waiters', async () => {
  const table = new ProcessTable();
  const w = owner(table, 'ignore');
  table.register(reg('q1', 'alice'), w);
  table.register(reg('q2', 'alice'), w);
  const pending = run(table, request('1', 'KILL_MODE_SYNC', 'root', true, 5_000));
  setImmediate(() => table.endAllOf(w));
  assert.deepEqual(statuses(await pending), [['q1', 'KILL_STATUS_FINISHED'], ['q2', 'KILL_STATUS_FINISHED']]);
  assert.equal(table.size, 0);
});
