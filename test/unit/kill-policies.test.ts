import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ProcessTable } from '../../node-agent/tables/process-table';
import type { ProcessStart } from '../../node-agent/tables/rows';
import type { CancelTarget, Owner } from '../../node-agent/tables/live-table';
import { querySubject } from '../../node-agent/kill/kill-subjects';
import { processResolver } from '../../node-agent/tables/process-columns';
import { tableSource } from '../../node-agent/tables/table-source';
import { serve, type Served } from '../../node-agent/tables/served-table';
import { PolicyRun, POLICY_MEMORY_MS, type PolicyTurn } from '../../node-agent/policies/policy-run';
import { PolicyLoop, POLICY_AFTER_ESCALATION_MS, policyRequest } from '../../node-agent/policies/policy-loop';
import { memoryKillLog, type MemoryKillLog } from './kill-recorder-fixture';
import { parsePolicyKey, policyKey } from '../../common/etcd/etcd-layout';
import { isUnreadable, parsePolicyRecord, type PolicyRecord } from '../../common/etcd/kill-policy-record';
import { chError } from '../../errors/quell-error';
import pino from 'pino';
import { componentLogger, type Logger } from '../../common/daemon/logger';
import { until } from './until';

const NODE = { nodeId: 'n1', host: '127.0.0.1', port: 9701, address: '127.0.0.1:9701', clusters: ['c3'] };
const LOG = componentLogger('test');

function reg(query_id: string, user: string): ProcessStart {
  return {
    query_id, user, query: `SELECT '${query_id}'`, initial_query_id: '', initial_user: '', address: '::1', port: 0,
    client_hostname: '', client_name: '', current_database: 'default', query_kind: 'Select', uncancellable: false, thread_id: 0,
  };
}

/** A workload that records cancels and keeps running (a cancel takes a while to act). */
function stubborn(): Owner & { cancels: string[]; killers: unknown[] } {
  const o = {
    sessionId: 1,
    cancels: [] as string[],
    killers: [] as unknown[],
    cancel(target: CancelTarget) {
      if (target.kind === 'query') o.cancels.push(target.query_id);
      if (target.kind === 'query') o.killers.push(target.by);
    },
  };
  return o;
}

function policy(over: Partial<PolicyRecord> = {}): PolicyRecord {
  return {
    cluster: 'c3', name: 'p1', condition: "equals(user, 'alice')", action: 'KILL QUERY', every_s: 1, limit: 0,
    dry_run: false, escalate_after_s: 0, reason: '', creator: 'admin', may_kill_others: true, created: 1_700_000_000, ...over,
  };
}

/** A process table with processes registered in this order (the first is the oldest), served as KILL statements see it. */
function processes(...regs: [string, string][]): { table: ProcessTable; served: Served; owner: ReturnType<typeof stubborn> } {
  const table = new ProcessTable();
  const owner = stubborn();
  let t = 0;
  for (const [id, user] of regs) {
    const e = table.register(reg(id, user), owner);
    // registration order is age order, however fast the test registers
    (e.row as { startedAt: number }).startedAt = ++t;
  }
  const served = serve(tableSource(processResolver(NODE), { hostName: 'n1', now: () => 0 }), querySubject(table));
  return { table, served, owner };
}

/** One run of a policy through Served.kill, as the policy loop makes it. */
/** One run: a turn of `run` that ends with the kill, or a `turn` as given, left open (a run still waiting). */
async function runPolicy(served: Served, rec: PolicyRecord, run: PolicyRun | PolicyTurn, log: MemoryKillLog): Promise<void> {
  const turn = run instanceof PolicyRun ? run.turn() : run;
  try {
    await served.kill(policyRequest(rec, 'run-1'), { write: () => undefined, closed: false }, { recorder: log.recorder, coordinator: '', policy: turn });
  } finally {
    if (run instanceof PolicyRun) turn.end();
  }
}

const logged = (log: MemoryKillLog) => log.entries.map((e) => [e.query_id, e.kill_status]);

test('a policy run is logged as mode POLICY with its name, the creator as user, and no client or coordinator', async () => {
  const { served, owner } = processes(['a1', 'alice'], ['b1', 'bob']);
  const log = memoryKillLog();
  await runPolicy(served, policy(), new PolicyRun('p1', 0), log);
  assert.deepEqual(owner.cancels, ['a1']);
  // the victim's cancel names the policy, its creator and the run
  assert.deepEqual(owner.killers, [{ reason: '', user: 'admin', statement_id: 'run-1', policy: 'p1' }]);
  assert.equal(log.entries.length, 1);
  const [e] = log.entries;
  assert.equal(e?.mode, 'POLICY');
  assert.equal(e?.policy, 'p1');
  assert.equal(e?.user, 'admin');
  assert.equal(e?.process_user, 'alice');
  assert.equal(e?.target, 'QUERY');
  assert.equal(e?.condition, "equals(user, 'alice')");
  assert.equal(e?.kill_status, 'waiting');
  assert.equal(e?.client, '');
  assert.equal(e?.coordinator, '');
});

test('LIMIT: the oldest matches are killed, the rest logged as skipped_limit and left running', async () => {
  const { served, owner, table } = processes(['old', 'alice'], ['mid', 'alice'], ['new', 'alice']);
  const log = memoryKillLog();
  const run = new PolicyRun('p1', 1);
  await runPolicy(served, policy({ limit: 1 }), run, log);
  assert.deepEqual(owner.cancels, ['old']);
  assert.deepEqual(logged(log).sort(), [['mid', 'skipped_limit'], ['new', 'skipped_limit'], ['old', 'waiting']]);
  assert.match(log.entries.find((e) => e.query_id === 'mid')?.error ?? '', /^not killed: over the policy's LIMIT 1 \(the oldest matches go first\)$/);
  assert.ok(table.get('mid') && table.get('new'), 'the skipped processes still run');

  // the next run: `old` was signalled a moment ago and is left alone; the next oldest goes, and
  // `new`, already logged as over the LIMIT, is not logged again
  log.entries.length = 0;
  await runPolicy(served, policy({ limit: 1 }), run, log);
  assert.deepEqual(owner.cancels, ['old', 'mid']);
  assert.deepEqual(logged(log), [['mid', 'waiting']]);
});

test('ORDER BY: a run takes its LIMIT by the order (ties: the oldest first), logs the rest as over it', async () => {
  const { served, owner, table } = processes(['small', 'alice'], ['large', 'alice'], ['mid-old', 'alice'], ['mid-new', 'alice']);
  const mb = { small: 100, large: 600, 'mid-old': 300, 'mid-new': 300 } as Record<string, number>;
  for (const e of table.values()) e.row.memory_usage = (mb[e.row.query_id] ?? 0) * 1024 * 1024;
  const log = memoryKillLog();
  const run = new PolicyRun('p1', 2);
  const rec = policy({ limit: 2, order_by: [{ expr: 'memory_usage', desc: true }] });
  await runPolicy(served, rec, run, log);
  assert.deepEqual(owner.cancels, ['large', 'mid-old']);
  assert.match(log.entries.find((e) => e.query_id === 'small')?.error ?? '', /^not killed: over the policy's LIMIT 2 \(it takes the first by its ORDER BY\)$/);
  // the next run: those two were just signalled; the next by the order goes
  await runPolicy(served, rec, run, log);
  assert.deepEqual(owner.cancels, ['large', 'mid-old', 'mid-new', 'small']);
});

test('a policy remembers what it acted on for POLICY_MEMORY_MS, then acts (and logs) again', async () => {
  const { served, owner } = processes(['a1', 'alice']);
  const log = memoryKillLog();
  let now = 1_000_000;
  const run = new PolicyRun('p1', 0, () => now);
  await runPolicy(served, policy(), run, log);
  await runPolicy(served, policy(), run, log);
  assert.deepEqual(owner.cancels, ['a1'], 'one cancel while the first is on its way');
  now += POLICY_MEMORY_MS;
  await runPolicy(served, policy(), run, log);
  assert.deepEqual(owner.cancels, ['a1', 'a1']);
  assert.deepEqual(logged(log), [['a1', 'waiting'], ['a1', 'waiting']]);
});

test("a run's turn holds what it acted on until it ends (a run waiting to escalate), and the memory counts from its end", async () => {
  const { served, owner } = processes(['a1', 'alice']);
  const log = memoryKillLog();
  let now = 1_000_000;
  const run = new PolicyRun('p1', 0, () => now);
  const waiting = run.turn();
  await runPolicy(served, policy(), waiting, log);
  now += POLICY_MEMORY_MS + 30_000;
  await runPolicy(served, policy(), run.turn(), log);
  assert.deepEqual(owner.cancels, ['a1'], 'still held by the run that waits for it');
  waiting.end();
  now += POLICY_MEMORY_MS - 1;
  await runPolicy(served, policy(), run.turn(), log);
  assert.deepEqual(owner.cancels, ['a1'], 'remembered for POLICY_MEMORY_MS after that run ended');
  now += 1;
  await runPolicy(served, policy(), run.turn(), log);
  assert.deepEqual(owner.cancels, ['a1', 'a1']);
});

test('DRY RUN lists (unknown_status) and cancels nothing; LIMIT holds for it too', async () => {
  const { served, owner } = processes(['a1', 'alice'], ['a2', 'alice']);
  const log = memoryKillLog();
  await runPolicy(served, policy({ dry_run: true, limit: 1 }), new PolicyRun('p1', 1), log);
  assert.deepEqual(owner.cancels, []);
  assert.deepEqual(logged(log), [['a2', 'skipped_limit'], ['a1', 'unknown_status']]);
  assert.ok(log.entries.every((e) => e.mode === 'POLICY' && e.policy === 'p1'));
});

test("a creator without the grant: only the creator's own processes; the others are neither killed nor logged", async () => {
  const { served, owner } = processes(['mine', 'carol'], ['theirs', 'alice']);
  const log = memoryKillLog();
  await runPolicy(served, policy({ condition: '1', creator: 'carol', may_kill_others: false }), new PolicyRun('p1', 0), log);
  assert.deepEqual(owner.cancels, ['mine']);
  assert.deepEqual(logged(log), [['mine', 'waiting']]);
});

test('a run that fails for good disables the policy on this node with a kill-log entry; a server that is down is retried', async () => {
  const log = memoryKillLog();
  let fail: Error = chError('ALL_CONNECTION_TRIES_FAILED', 'mariadb://agent@127.0.0.1:3306: connect ECONNREFUSED', true);
  const failing: Served = { scan: () => Promise.resolve(), kill: () => Promise.reject(fail) };
  const tables = { processes: failing, mutations: failing, connections: failing };
  const loop = new PolicyLoop(policy({ every_s: 3600 }), '{}', { nodeId: 'n1', tables, recorder: log.recorder, log: LOG });
  try {
    assert.equal(await loop.once(), true, 'a transient failure keeps the policy');
    assert.equal(log.entries.length, 0);
    fail = chError('UNKNOWN_FUNCTION', 'Unknown function frobnicate');
    assert.equal(await loop.once(), false, 'any other failure stops it here');
    assert.equal(log.entries.length, 1);
    const [e] = log.entries;
    assert.equal(e?.kill_status, 'policy_disabled');
    assert.equal(e?.mode, 'POLICY');
    assert.equal(e?.policy, 'p1');
    assert.equal(e?.error, 'kill policy p1 stopped on node n1: Unknown function frobnicate');
    assert.equal(await loop.once(), false, 'a run after that does nothing');
    assert.equal(log.entries.length, 1, 'the policy is disabled once');
  } finally {
    await loop.close();
  }
});

/** A policy's loop on n1 whose every table is `served`, closed after the test `t` (closing twice is harmless). */
function loopOver(t: TestContext, served: Served, rec: PolicyRecord, o: { log?: Logger; after?: Promise<void> } = {}): PolicyLoop {
  const loop = new PolicyLoop(rec, '{}', { nodeId: 'n1', tables: { processes: served, mutations: served, connections: served }, recorder: memoryKillLog().recorder, log: o.log ?? LOG }, o.after);
  t.after(() => loop.close());
  return loop;
}

test('EVERY 1 SECONDS ESCALATE AFTER 60: a run that waits for its victims lets the next runs start; close() ends every waiting run', async (t) => {
  let calls = 0;
  let ended = 0;
  const waits: Served = {
    scan: () => Promise.resolve(),
    kill: (_req, sink) => {
      calls++;
      if (calls > 2) return Promise.resolve();
      // the first two runs' cancels are out, and they wait for their victims until the loop closes
      sink.waiting?.();
      return new Promise<void>((resolve) => sink.signal?.addEventListener('abort', () => resolve(void ended++)));
    },
  };
  const loop = loopOver(t, waits, policy({ every_s: 1, escalate_after_s: 60 }));
  await until('a third run started while two wait', () => calls >= 3);
  await loop.close();
  assert.equal(ended, 2, 'both waiting runs ended at close');
});

test('one warning per outage: a run that began before the failure and ends after it does not end the streak', async (t) => {
  const said: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void said.push((JSON.parse(line) as { msg: string }).msg) });
  let mode: 'wait' | 'fail' | 'ok' = 'wait';
  let release = (): void => undefined;
  const served: Served = {
    scan: () => Promise.resolve(),
    kill: () => (mode === 'wait' ? new Promise<void>((resolve) => (release = resolve)) : mode === 'fail' ? Promise.reject(chError('ALL_CONNECTION_TRIES_FAILED', 'connect ECONNREFUSED', true)) : Promise.resolve()),
  };
  const loop = loopOver(t, served, policy({ every_s: 3600, escalate_after_s: 60 }), { log });
  // a run waits for its victims; the server goes down under the next ones
  const waiting = loop.once();
  mode = 'fail';
  assert.equal(await loop.once(), true);
  assert.equal(await loop.once(), true);
  release();
  assert.equal(await waiting, true);
  assert.equal(await loop.once(), true);
  mode = 'ok';
  assert.equal(await loop.once(), true);
  assert.deepEqual(said, ['kill policy run failed; tried again at each interval', 'kill policy runs again']);
});

test("a changed policy's new loop runs only once the old loop's runs have ended", async (t) => {
  let calls = 0;
  const served: Served = { scan: () => Promise.resolve(), kill: () => Promise.resolve(void calls++) };
  let oldEnded = (): void => undefined;
  const old = new Promise<void>((resolve) => (oldEnded = resolve));
  // (first: the new loop's close waits for the old one)
  t.after(() => oldEnded());
  loopOver(t, served, policy({ every_s: 1 }), { after: old });
  await new Promise((r) => setTimeout(r, 1_300));
  assert.equal(calls, 0, 'no run while the old loop still has one');
  oldEnded();
  await until('the first run once the old loop ended', () => calls >= 1);
});

test('a run that has not reached its wait (a slow server) holds the next one back', async (t) => {
  let calls = 0;
  let release = (): void => undefined;
  const slow: Served = {
    scan: () => Promise.resolve(),
    kill: () => {
      calls++;
      return calls === 1 ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
    },
  };
  t.after(() => release());
  loopOver(t, slow, policy({ every_s: 1, escalate_after_s: 60 }));
  await until('the first run', () => calls === 1);
  await new Promise((r) => setTimeout(r, 2_200));
  assert.equal(calls, 1, 'no run started beside one still listing or cancelling');
  release();
  await until('the next run, after the first ended', () => calls >= 2);
});

test('policy keys and records: a record that is not complete and well-typed is unreadable', () => {
  assert.equal(policyKey('c3', 'p1'), '/quell/v1/policies/c3/p1');
  assert.deepEqual(parsePolicyKey('/quell/v1/policies/c3/p1'), { cluster: 'c3', name: 'p1' });
  assert.equal(parsePolicyKey('/quell/v1/policies/c3'), undefined);
  assert.equal(parsePolicyKey('/quell/v1/policies/c3/p1/x'), undefined);
  const at = { cluster: 'c3', name: 'p1' };
  const good = policy();
  assert.deepEqual(parsePolicyRecord(at, JSON.stringify(good)), good);
  // the key names the policy, whatever the value says
  assert.deepEqual(parsePolicyRecord(at, JSON.stringify({ ...good, name: 'other' })), good);
  const reason = (raw: string) => {
    const r = parsePolicyRecord(at, raw);
    return isUnreadable(r) ? r.unreadable : 'readable';
  };
  assert.equal(reason('{'), 'not JSON');
  assert.equal(reason('[]'), 'not a JSON object');
  assert.equal(reason(JSON.stringify({ ...good, action: 'KILL EVERYTHING' })), 'field action must be KILL QUERY, KILL CONNECTION, KILL MUTATION');
  assert.equal(reason(JSON.stringify({ ...good, every_s: 0 })), 'field every_s must be an integer from 1 to 86400');
  assert.equal(reason(JSON.stringify({ ...good, limit: -1 })), 'field limit must be a non-negative integer');
  assert.equal(reason(JSON.stringify({ ...good, may_kill_others: 'yes' })), 'field may_kill_others must be true or false');
  const ordered = policy({ limit: 1, order_by: [{ expr: 'memory_usage', desc: true }] });
  assert.deepEqual(parsePolicyRecord(at, JSON.stringify(ordered)), ordered);
  for (const bad of [[], [{ expr: '', desc: true }], [{ expr: 'elapsed' }], 'elapsed']) {
    assert.equal(reason(JSON.stringify({ ...good, order_by: bad })), 'field order_by must be absent, or a non-empty list of { expr: non-empty string, desc: true or false }');
  }
  const { creator: _creator, ...noCreator } = good;
  assert.equal(reason(JSON.stringify(noCreator)), 'field creator must be a user name');
});

test('records: ESCALATE AFTER and REASON read 0 and \'\' when absent (records from before them), and are checked when present', () => {
  const at = { cluster: 'c3', name: 'p1' };
  const { escalate_after_s: _e, reason: _r, ...old } = policy();
  const read = parsePolicyRecord(at, JSON.stringify(old));
  assert.ok(!isUnreadable(read));
  assert.deepEqual([read.escalate_after_s, read.reason], [0, '']);
  const unreadable = (raw: object) => {
    const r = parsePolicyRecord(at, JSON.stringify(raw));
    return isUnreadable(r) ? r.unreadable : 'readable';
  };
  assert.equal(unreadable({ ...policy(), escalate_after_s: -1 }), 'field escalate_after_s must be absent, or an integer from 0 to 3600');
  assert.equal(unreadable({ ...policy(), escalate_after_s: 1.5 }), 'field escalate_after_s must be absent, or an integer from 0 to 3600');
  for (const reason of [7, 'two\nlines', 'x'.repeat(1025)]) assert.equal(unreadable({ ...policy(), reason }), 'field reason must be absent, or one line of at most 1024 characters');
  assert.equal(unreadable({ ...policy(), reason: 'é'.repeat(1024) }), 'readable');
});

test('a run with ESCALATE AFTER is SYNC and waits past the escalation; its REASON reaches the victim', () => {
  const plain = policyRequest(policy({ reason: 'why' }), 'run');
  assert.deepEqual([plain.mode, plain.sync_timeout_ms, plain.escalate_after_ms, plain.reason], ['KILL_MODE_ASYNC', 0, 0, 'why']);
  const escalating = policyRequest(policy({ escalate_after_s: 2 }), 'run');
  assert.deepEqual([escalating.mode, escalating.sync_timeout_ms, escalating.escalate_after_ms], ['KILL_MODE_SYNC', 2000 + POLICY_AFTER_ESCALATION_MS, 2000]);
  const dry = policyRequest(policy({ escalate_after_s: 2, dry_run: true }), 'run');
  assert.deepEqual([dry.mode, dry.escalate_after_ms], ['KILL_MODE_TEST', 0]);
});

test('a policy run escalates on a victim that ignores its cancel, with its REASON and name in every step', async () => {
  const { table, served, owner } = processes(['q1', 'alice']);
  const log = memoryKillLog();
  const sent: string[] = [];
  const cancel = owner.cancel.bind(owner);
  owner.cancel = (target: CancelTarget, soft: boolean) => {
    if (target.kind === 'query') sent.push(target.terminate ? 'terminate' : 'cancel');
    if (target.kind === 'query' && target.terminate) setImmediate(() => table.end(target.query_id, owner));
    cancel(target, soft);
  };
  const rec = policy({ escalate_after_s: 1, reason: 'r' });
  await served.kill(policyRequest(rec, 'run-1'), { write: () => undefined, closed: false }, { recorder: log.recorder, coordinator: '', policy: new PolicyRun(rec.name, 0).turn() });
  assert.deepEqual(sent, ['cancel', 'terminate']);
  assert.deepEqual(log.entries.map((e) => [e.kill_status, e.escalated, e.mode, e.policy, e.reason]), [
    ['pending', 0, 'POLICY', 'p1', 'r'],
    ['pending', 1, 'POLICY', 'p1', 'r'],
    ['finished', 1, 'POLICY', 'p1', 'r'],
  ]);
  assert.deepEqual(owner.killers.map((k) => (k as { reason: string; policy: string }).reason), ['r', 'r']);
});
