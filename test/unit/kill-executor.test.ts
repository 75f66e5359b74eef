import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcessTable } from '../../node-agent/tables/process-table';
import type { ProcessStart } from '../../node-agent/tables/rows';
import type { CancelTarget, Owner } from '../../node-agent/tables/live-table';
import { querySubject } from '../../node-agent/kill/kill-subjects';
import { processResolver } from '../../node-agent/tables/process-columns';
import { ExpressionCache, FilterCache } from '../../node-agent/tables/filter-cache';
import { rowOrder } from '../../node-agent/kill/kill-order';
import { executeKill } from '../../node-agent/kill/kill-executor';
import { normalizedQueryHash } from '../../sql/normalize';
import { memoryKillLog, type MemoryKillLog } from './kill-recorder-fixture';
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
function owner(table: ProcessTable, behaviour: 'obey' | 'ignore' = 'obey'): Owner & { cancels: string[]; killers: unknown[] } {
  const o = {
    sessionId: 1,
    cancels: [] as string[],
    killers: [] as unknown[],
    cancel(target: CancelTarget) {
      if (target.kind !== 'query') throw new Error('queries only here');
      o.cancels.push(target.query_id);
      o.killers.push(target.by);
      if (behaviour === 'obey') setImmediate(() => table.end(target.query_id, o));
    },
  };
  return o;
}

function request(where: string, mode: KillRequest__Output['mode'], user = 'root', mayKillOthers = true, syncMs = 1000, actBy = 0): KillRequest__Output {
  return { target: 'KILL_TARGET_QUERY', where, mode, soft: false, user, may_kill_others: mayKillOthers, sync_timeout_ms: syncMs, statement_id: 't', query_only: false, client: 'spiffe://quell/user/root', condition: '', act_by_unix_ms: String(actBy), reason: '', plan: false, order_by: [], picks: [], picked: false, limit: 0, escalate_after_ms: 0 };
}

async function run(table: ProcessTable, req: KillRequest__Output, log: MemoryKillLog = memoryKillLog(), sink: { closed: boolean } = { closed: false }): Promise<KillResponse[]> {
  const out: KillResponse[] = [];
  const filter = new FilterCache(processResolver(NODE), { hostName: 'n1', now: () => 0 }).get(req.where);
  await executeKill(req, querySubject(table), filter, { write: (m) => out.push(m), get closed() { return sink.closed; } }, log);
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

test("SYNC at its deadline: a wait that ends because it was stopped (a database backend's poller) reads waiting, not finished", async () => {
  const table = new ProcessTable();
  table.register(reg('q1', 'alice'), owner(table, 'ignore'));
  const live = querySubject(table);
  // the backends' whenGone (node-agent/backends/gone-poller.ts) resolves when told to stop, whether or not the query ended
  const subject = { ...live, whenGone: (_c: unknown, stop: AbortSignal) => new Promise<void>((resolve) => (stop.aborted ? resolve() : stop.addEventListener('abort', () => resolve(), { once: true }))) };
  const out: KillResponse[] = [];
  const req = request("equals(user, 'alice')", 'KILL_MODE_SYNC', 'root', true, 50);
  const filter = new FilterCache(processResolver(NODE), { hostName: 'n1', now: () => 0 }).get(req.where);
  const log = memoryKillLog();
  await executeKill(req, subject, filter, { write: (m) => out.push(m), closed: false }, log);
  assert.deepEqual(statuses(out), [['q1', 'KILL_STATUS_WAITING']]);
  assert.ok(table.get('q1'), 'the query still runs');
  assert.deepEqual(log.entries.map((e) => e.kill_status), ['pending', 'waiting']);
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

const logged = (log: MemoryKillLog) => log.entries.map((e) => [e.query_id, e.kill_status]);

test('kill log: every entry is synced before its cancel is sent and before its row is written', async () => {
  const table = new ProcessTable();
  const log = memoryKillLog();
  const seenAtCancel: number[] = [];
  const w = owner(table);
  const cancel = w.cancel.bind(w);
  w.cancel = (...args: Parameters<typeof cancel>) => {
    seenAtCancel.push(log.entries.length);
    cancel(...args);
  };
  table.register(reg('a1', 'alice'), w);
  table.register(reg('b1', 'bob'), w);
  const out: [string, number][] = [];
  const filter = new FilterCache(processResolver(NODE), { hostName: 'n1', now: () => 0 }).get("equals(user, 'alice')");
  await executeKill(request("equals(user, 'alice')", 'KILL_MODE_ASYNC'), querySubject(table), filter, { write: (m) => out.push([m.plan ? 'plan' : String(m.process?.status), log.entries.length]), closed: false }, log);
  assert.deepEqual(seenAtCancel, [1], 'the entry was in the log when the cancel went out');
  assert.deepEqual(out, [['plan', 1], ['KILL_STATUS_WAITING', 1]], 'ASYNC waiting is what was logged: one entry, no second append');
  const [e] = log.entries;
  assert.ok(e);
  assert.deepEqual(
    { ...e, event_time: 0 },
    {
      event_time: 0, statement_id: 't', user: 'root', client: 'spiffe://quell/user/root', coordinator: 'spiffe://quell/coordinator', target: 'QUERY',
      mode: 'ASYNC', condition: "equals(user, 'alice')", query_id: 'a1', mutation_id: '', thread_id: 0, process_user: 'alice', query: "SELECT 'a1'",
      kill_status: 'waiting', error: '', policy: '', normalized_query_hash: normalizedQueryHash("SELECT 'a1'"), reason: '', escalated: 0,
    },
  );
  assert.ok(Math.abs(e.event_time - Date.now() / 1000) < 60);
});

test('kill log: SYNC logs pending first, then finished or waiting before each row', async () => {
  const table = new ProcessTable();
  table.register(reg('q1', 'alice'), owner(table));
  table.register(reg('q2', 'alice'), owner(table, 'ignore'));
  const log = memoryKillLog();
  const msgs = await run(table, request("equals(user, 'alice')", 'KILL_MODE_SYNC', 'root', true, 50), log);
  assert.deepEqual(statuses(msgs), [['q1', 'KILL_STATUS_FINISHED'], ['q2', 'KILL_STATUS_WAITING']]);
  assert.deepEqual(logged(log), [['q1', 'pending'], ['q2', 'pending'], ['q1', 'finished'], ['q2', 'waiting']]);
  assert.ok(log.entries.every((e) => e.mode === 'SYNC'));
});

test('kill log: TEST listings and processes skipped for lack of rights are logged; nothing is cancelled', async () => {
  const table = new ProcessTable();
  const w = owner(table);
  table.register(reg('a1', 'alice'), w);
  table.register(reg('c1', 'carol'), w);
  const log = memoryKillLog();
  const msgs = await run(table, request('1', 'KILL_MODE_TEST', 'carol', false), log);
  assert.deepEqual(statuses(msgs), [['c1', 'KILL_STATUS_UNKNOWN_STATUS']]);
  assert.deepEqual(logged(log), [['a1', 'access_denied'], ['c1', 'unknown_status']]);
  assert.match(log.entries[0]?.error ?? '', /^not killed: carol has no grant to kill processes of other users \(owner alice\)$/);
  assert.ok(log.entries.every((e) => e.mode === 'TEST' && e.user === 'carol'));
  assert.deepEqual(w.cancels, []);
});

test('kill log: a kill that cannot be logged is not carried out, and every row says why', async () => {
  const table = new ProcessTable();
  const w = owner(table);
  table.register(reg('q1', 'alice'), w);
  table.register(reg('q2', 'alice'), w);
  const log = memoryKillLog();
  log.failing = true;
  for (const mode of ['KILL_MODE_SYNC', 'KILL_MODE_ASYNC', 'KILL_MODE_TEST'] as const) {
    const msgs = await run(table, request('1', mode), log);
    assert.deepEqual(msgs[0], { plan: { eligible: 2, skipped: 0, skipped_owner: '', skipped_id: '' } });
    assert.deepEqual(statuses(msgs), [['q1', 'KILL_STATUS_CANT_CANCEL'], ['q2', 'KILL_STATUS_CANT_CANCEL']]);
    for (const m of msgs.slice(1)) assert.equal(m.process?.error, 'not killed: kill log unwritable: ENOSPC: no space left on device, write (dir /kill-log)');
  }
  assert.deepEqual(w.cancels, []);
  assert.equal(table.size, 2);
  log.failing = false;
  assert.deepEqual(statuses(await run(table, request('1', 'KILL_MODE_SYNC'), log)), [['q1', 'KILL_STATUS_FINISHED'], ['q2', 'KILL_STATUS_FINISHED']]);
});

test('kill log: a final status that cannot be logged is still reported, saying it is not in the log', async () => {
  const table = new ProcessTable();
  const w = owner(table, 'ignore');
  table.register(reg('q1', 'alice'), w);
  const log = memoryKillLog();
  const pending = run(table, request('1', 'KILL_MODE_SYNC', 'root', true, 5_000), log);
  // the pending entry is in; the disk fills before the process ends
  while (log.entries.length === 0) await new Promise((r) => setImmediate(r));
  log.failing = true;
  setImmediate(() => table.endAllOf(w));
  const msgs = await pending;
  assert.deepEqual(statuses(msgs), [['q1', 'KILL_STATUS_FINISHED']]);
  assert.match(msgs[1]?.process?.error ?? '', /^final status not logged: kill log unwritable: ENOSPC/);
  assert.deepEqual(w.cancels, ['q1'], 'the kill itself was logged and carried out');
  assert.deepEqual(logged(log), [['q1', 'pending']]);
});

test('kill log: when the coordinator is gone once the entries are synced, nothing is cancelled', async () => {
  const table = new ProcessTable();
  const w = owner(table);
  table.register(reg('q1', 'alice'), w);
  const log = memoryKillLog();
  const sink = { closed: false };
  const append = log.recorder.append.bind(log.recorder);
  log.recorder.append = async (entries) => {
    await append(entries);
    sink.closed = true;
  };
  await run(table, request('1', 'KILL_MODE_ASYNC'), log, sink);
  assert.deepEqual(w.cancels, []);
  assert.deepEqual(logged(log), [['q1', 'waiting'], ['q1', 'cant_cancel']]);
  assert.match(log.entries[1]?.error ?? '', /^not killed: the coordinator ended the call/);
});

test('a request that arrives after its act-by time (the agent was stalled) cancels nothing', async () => {
  const table = new ProcessTable();
  const o = owner(table);
  table.register(reg('late-1', 'alice'), o);
  const msgs = await run(table, request("equals(user, 'alice')", 'KILL_MODE_ASYNC', 'root', true, 1000, Date.now() - 5_000));
  assert.deepEqual(o.cancels, []);
  assert.deepEqual(statuses(msgs), [['late-1', 'KILL_STATUS_CANT_CANCEL']]);
  // its own reason, not the coordinator's: the deadline passed by this agent's clock (stalled, or a clock ahead)
  const p = msgs.find((m) => m.process)?.process;
  assert.match(String(p?.error), /^not killed: the request reached this agent \d+ ms past its deadline by this agent's clock$/);
  const past = Number(p?.past_deadline_ms);
  assert.ok(past >= 5_000 && past < 6_000, `past_deadline_ms ${past}`);
});

test('kill_reason: the cancel carries the reason, the killing user and the statement; the log entry the reason', async () => {
  const table = new ProcessTable();
  const w = owner(table);
  table.register(reg('a1', 'alice'), w);
  const log = memoryKillLog();
  await run(table, { ...request("equals(user, 'alice')", 'KILL_MODE_SYNC'), reason: 'runaway etl' }, log);
  assert.deepEqual(w.killers, [{ reason: 'runaway etl', user: 'root', statement_id: 't', policy: '' }]);
  assert.ok(log.entries.length > 0);
  assert.ok(log.entries.every((e) => e.reason === 'runaway etl'));
});

/** A ranked kill's call on this node: phase one (plan) or two (picked), ordered by memory_usage DESC. */
async function ranked(table: ProcessTable, req: KillRequest__Output, log: MemoryKillLog = memoryKillLog()): Promise<KillResponse[]> {
  const out: KillResponse[] = [];
  const ctx = { hostName: 'n1', now: () => 0 };
  const filter = new FilterCache(processResolver(NODE), ctx).get(req.where);
  const order = rowOrder(req.order_by, new ExpressionCache(processResolver(NODE), ctx));
  await executeKill(req, querySubject(table), filter, { write: (m) => out.push(m), closed: false }, log, order);
  return out;
}

function sized(table: ProcessTable, w: Owner, mbs: Record<string, number>): void {
  for (const [id, mb] of Object.entries(mbs)) table.register(reg(id, 'big'), w, mb * 1024 * 1024);
}

const BY_MEMORY = [{ expr: 'memory_usage', desc: true }];

test('ranked plan: the first LIMIT eligible matches by the order, with identity and values; nothing logged, nothing cancelled', async () => {
  const table = new ProcessTable();
  const w = owner(table);
  sized(table, w, { a: 100, b: 300, c: 200 });
  table.register(reg('other', 'carol'), w, 900 * 1024 * 1024);
  const log = memoryKillLog();
  const msgs = await ranked(table, { ...request("equals(user, 'big')", 'KILL_MODE_TEST', 'big', false), plan: true, order_by: BY_MEMORY, limit: 2 }, log);
  assert.equal(msgs.length, 1, 'the plan alone');
  const plan = msgs[0]?.plan;
  assert.equal(plan?.eligible, 3);
  assert.deepEqual(plan?.planned?.map((p) => [p.process?.query_id, p.key, p.order_by?.map((v) => v.int)]), [['b', 'b', [String(300 * 1024 * 1024)]], ['c', 'c', [String(200 * 1024 * 1024)]]]);
  assert.equal(plan?.planned?.[0]?.started_ms, table.get('b')?.row.startedAt);
  assert.equal(plan?.planned?.[0]?.process?.status, 'KILL_STATUS_UNKNOWN_STATUS');
  assert.deepEqual(w.cancels, []);
  assert.deepEqual(log.entries, []);
});

test('ranked kill: exactly the picks are killed; a pick that ended, was replaced or no longer matches is finished with why, and nothing else is touched', async () => {
  const table = new ProcessTable();
  const w = owner(table, 'ignore');
  sized(table, w, { keep: 50, gone: 100, swapped: 200, shrunk: 300, chosen: 400 });
  const planMsgs = await ranked(table, { ...request('greater(memory_usage, 0)', 'KILL_MODE_TEST'), plan: true, order_by: BY_MEMORY, limit: 4 });
  const picks = planMsgs[0]?.plan?.planned ?? [];
  assert.deepEqual(picks.map((p) => p.key), ['chosen', 'shrunk', 'swapped', 'gone']);
  // between the phases: one ends, one ends and its id is taken by a new process, one stops matching
  table.end('gone', w);
  table.end('swapped', w);
  table.register(reg('swapped', 'big'), w, 999);
  (table.get('swapped')?.row as { startedAt: number }).startedAt += 5_000;
  const shrunk = table.get('shrunk');
  if (shrunk) shrunk.row.memory_usage = 0;
  const log = memoryKillLog();
  const msgs = await ranked(table, { ...request('greater(memory_usage, 0)', 'KILL_MODE_ASYNC'), condition: 'greater(memory_usage, 0) ORDER BY memory_usage DESC LIMIT 4', picked: true, picks: picks.map((p) => ({ ...p, process: { ...p.process } })) as never }, log);
  assert.deepEqual(w.cancels, ['chosen'], 'only the pick that is still the process planned');
  assert.deepEqual(msgs[0], { plan: { eligible: 4, skipped: 0, skipped_owner: '', skipped_id: '' } });
  const rows = msgs.filter((m) => m.process).map((m) => [m.process?.query_id, m.process?.status, m.process?.error ?? '']);
  assert.deepEqual(rows, [
    ['shrunk', 'KILL_STATUS_FINISHED', 'not killed: it no longer matches the WHERE'],
    ['swapped', 'KILL_STATUS_FINISHED', 'not killed: it ended between the plan and the kill, and another process with id swapped started since'],
    ['gone', 'KILL_STATUS_FINISHED', 'not killed: it ended between the plan and the kill'],
    ['chosen', 'KILL_STATUS_WAITING', ''],
  ]);
  assert.deepEqual(log.entries.map((e) => [e.query_id, e.kill_status, e.condition]), [
    ['shrunk', 'finished', 'greater(memory_usage, 0) ORDER BY memory_usage DESC LIMIT 4'],
    ['swapped', 'finished', 'greater(memory_usage, 0) ORDER BY memory_usage DESC LIMIT 4'],
    ['gone', 'finished', 'greater(memory_usage, 0) ORDER BY memory_usage DESC LIMIT 4'],
    ['chosen', 'waiting', 'greater(memory_usage, 0) ORDER BY memory_usage DESC LIMIT 4'],
  ]);
  assert.equal(log.entries[2]?.normalized_query_hash, normalizedQueryHash("SELECT 'gone'"));
  // a picked call with no picks acts on nothing
  const none = await ranked(table, { ...request('1', 'KILL_MODE_ASYNC'), picked: true, picks: [] });
  assert.deepEqual(none, [{ plan: { eligible: 0, skipped: 0, skipped_owner: '', skipped_id: '' } }]);
  assert.deepEqual(w.cancels, ['chosen']);
});
