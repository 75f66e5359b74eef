import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcessTable } from '../../node-agent/tables/process-table';
import type { CancelTarget, Owner } from '../../node-agent/tables/live-table';
import { querySubject } from '../../node-agent/kill/kill-subjects';
import { executeKill, type KillSubject } from '../../node-agent/kill/kill-executor';
import { dueAfter } from '../../node-agent/kill/escalation';
import { memoryKillLog, type MemoryKillLog } from './kill-recorder-fixture';
import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { KillResponse } from '../../proto/generated/quell/v1/KillResponse';
import type { ProcessRow } from '../../node-agent/tables/rows';
import type { LiveEntry } from '../../node-agent/tables/live-table';

// escalate_after on the one kill path: the second, hard stop goes only to a process that
// outlived its cancel, is logged before it is sent, and no timer outlives the wait.

function reg(query_id: string) {
  return {
    query_id, user: 'alice', query: `SELECT '${query_id}'`, initial_query_id: '', initial_user: '', address: '::1', port: 0,
    client_hostname: '', client_name: '', current_database: 'default', query_kind: 'Select', uncancellable: false, thread_id: 0,
  };
}

type Behaviour = 'obey' | 'ignore-cancel' | 'ignore-both';

/** A workload: what it was sent (cancel or terminate, per query id), ending processes as `behaviour` says. */
function workload(table: ProcessTable, behaviour: Behaviour): Owner & { sent: string[] } {
  const o = {
    sessionId: 1,
    sent: [] as string[],
    cancel(target: CancelTarget) {
      if (target.kind !== 'query') throw new Error('queries only here');
      const kind = target.terminate ? 'terminate' : 'cancel';
      o.sent.push(`${kind} ${target.query_id}${target.terminate ? ` ${target.terminate.afterMs}` : ''} ${target.by?.reason ?? ''}`.trim());
      const ends = behaviour === 'obey' || (behaviour === 'ignore-cancel' && kind === 'terminate');
      if (ends) setImmediate(() => table.end(target.query_id, o));
    },
  };
  return o;
}

function request(escalateMs: number, syncMs: number): KillRequest__Output {
  return {
    target: 'KILL_TARGET_QUERY', where: '1', mode: 'KILL_MODE_SYNC', soft: false, user: 'root', may_kill_others: true, sync_timeout_ms: syncMs,
    statement_id: 't', query_only: false, client: '', condition: '', act_by_unix_ms: '0', reason: 'runaway', escalate_after_ms: escalateMs,
    plan: false, order_by: [], picks: [], picked: false, limit: 0,
  };
}

async function run(subject: KillSubject<ProcessRow, LiveEntry<ProcessRow>>, req: KillRequest__Output, log: MemoryKillLog, signal?: AbortSignal): Promise<KillResponse[]> {
  const out: KillResponse[] = [];
  await executeKill(req, subject, () => true, { write: (m) => out.push(m), closed: false, ...(signal ? { signal } : {}) }, log);
  return out;
}

const rows = (msgs: KillResponse[]) => msgs.filter((m) => m.process).map((m) => [m.process?.query_id, m.process?.status, m.process?.escalated === true]);
const steps = (log: MemoryKillLog) => log.entries.map((e) => [e.query_id, e.kill_status, e.escalated]);

test('a process that ignores its cancel gets the terminate after escalate_after, then reads finished and escalated', async () => {
  const table = new ProcessTable();
  const w = workload(table, 'ignore-cancel');
  table.register(reg('q1'), w);
  const log = memoryKillLog();
  const started = Date.now();
  const msgs = await run(querySubject(table), request(100, 5_000), log);
  assert.ok(Date.now() - started < 4_000, 'it did not wait for the deadline');
  assert.deepEqual(w.sent, ['cancel q1 runaway', 'terminate q1 100 runaway']);
  assert.deepEqual(rows(msgs), [['q1', 'KILL_STATUS_FINISHED', true]]);
  assert.deepEqual(steps(log), [['q1', 'pending', 0], ['q1', 'pending', 1], ['q1', 'finished', 1]]);
  assert.match(log.entries[1]?.error ?? '', /^still running 0\.1 s after its cancel$/);
});

test('one that ignores the terminate too reads waiting at the deadline, still marked escalated', async () => {
  const table = new ProcessTable();
  const w = workload(table, 'ignore-both');
  table.register(reg('q1'), w);
  const log = memoryKillLog();
  const msgs = await run(querySubject(table), request(50, 300), log);
  assert.deepEqual(w.sent, ['cancel q1 runaway', 'terminate q1 50 runaway']);
  assert.deepEqual(rows(msgs), [['q1', 'KILL_STATUS_WAITING', true]]);
  assert.deepEqual(steps(log), [['q1', 'pending', 0], ['q1', 'pending', 1], ['q1', 'waiting', 1]]);
});

test('a process that obeys its cancel is never terminated', async () => {
  const table = new ProcessTable();
  const w = workload(table, 'obey');
  table.register(reg('q1'), w);
  const log = memoryKillLog();
  const msgs = await run(querySubject(table), request(50, 2_000), log);
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(w.sent, ['cancel q1 runaway']);
  assert.deepEqual(rows(msgs), [['q1', 'KILL_STATUS_FINISHED', false]]);
  assert.deepEqual(steps(log), [['q1', 'pending', 0], ['q1', 'finished', 0]]);
});

test('the coordinator going away before escalate_after: no terminate is ever sent', async () => {
  const table = new ProcessTable();
  const w = workload(table, 'ignore-both');
  table.register(reg('q1'), w);
  const gone = new AbortController();
  setTimeout(() => gone.abort(), 30);
  const msgs = await run(querySubject(table), request(200, 5_000), memoryKillLog(), gone.signal);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(w.sent, ['cancel q1 runaway']);
  assert.deepEqual(rows(msgs), [['q1', 'KILL_STATUS_WAITING', false]]);
});

test('a table with no harder kill: cant_cancel at escalate_after, with why', async () => {
  const table = new ProcessTable();
  table.register(reg('q1'), workload(table, 'ignore-both'));
  const live = querySubject(table);
  const subject: KillSubject<ProcessRow, LiveEntry<ProcessRow>> = { ...live, hardKill: () => ({ none: 'ClickHouse has no harder kill than KILL QUERY' }) };
  const log = memoryKillLog();
  const started = Date.now();
  const msgs = await run(subject, request(50, 5_000), log);
  assert.ok(Date.now() - started < 4_000, 'the row settles at escalate_after, not the deadline');
  assert.deepEqual(rows(msgs), [['q1', 'KILL_STATUS_CANT_CANCEL', false]]);
  const last = msgs.at(-1)?.process;
  assert.equal(last?.error, 'still running 0.05 s after its cancel, and ClickHouse has no harder kill than KILL QUERY');
  assert.deepEqual(steps(log), [['q1', 'pending', 0], ['q1', 'cant_cancel', 0]]);
});

test('a hard kill that fails or finds nothing to stop went out to nobody: the row says escalated 0, and why when it failed', async () => {
  for (const [outcome, error] of [
    [{ cantCancel: 'the server refused' }, 'still running 0.05 s after its cancel; its hard kill failed: the server refused'],
    [false, ''],
  ] as const) {
    const table = new ProcessTable();
    table.register(reg('q1'), workload(table, 'ignore-both'));
    const subject: KillSubject<ProcessRow, LiveEntry<ProcessRow>> = { ...querySubject(table), hardKill: () => ({ send: () => outcome }) };
    const msgs = await run(subject, request(50, 300), memoryKillLog());
    assert.deepEqual(rows(msgs), [['q1', 'KILL_STATUS_WAITING', false]], String(outcome));
    assert.equal(msgs.at(-1)?.process?.error ?? '', error);
  }
});

test('an escalation that cannot be logged is not sent, and its row says why', async () => {
  const table = new ProcessTable();
  const w = workload(table, 'ignore-cancel');
  table.register(reg('q1'), w);
  const log = memoryKillLog();
  const pending = run(querySubject(table), request(300, 1_000), log);
  // the cancel went out, so its entries are in (they are synced before it); the escalation's
  // append, 300 ms later, fails
  for (let i = 0; i < 100 && w.sent.length === 0; i++) await new Promise((r) => setTimeout(r, 2));
  assert.deepEqual(w.sent, ['cancel q1 runaway']);
  log.failing = true;
  const msgs = await pending;
  assert.deepEqual(w.sent, ['cancel q1 runaway']);
  assert.deepEqual(rows(msgs), [['q1', 'KILL_STATUS_WAITING', false]]);
  assert.match(msgs.at(-1)?.process?.error ?? '', /^still running 0\.3 s after its cancel, not escalated: .*ENOSPC/);
});

test('dueAfter: true once the time passed; false at once when gone or stopped, its timer cleared', async () => {
  const never = new Promise<void>(() => undefined);
  assert.equal(await dueAfter(10, never, new AbortController().signal), true);
  let end!: () => void;
  const gone = new Promise<void>((r) => (end = r));
  const started = Date.now();
  const p = dueAfter(60_000, gone, new AbortController().signal);
  end();
  assert.equal(await p, false);
  const stop = new AbortController();
  const q = dueAfter(60_000, never, stop.signal);
  stop.abort();
  assert.equal(await q, false);
  assert.ok(Date.now() - started < 1_000);
  const stopped = new AbortController();
  stopped.abort();
  assert.equal(await dueAfter(10, never, stopped.signal), false);
});
