import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { DurableKills } from '../../node-agent/durable/durable-kills';
import { MutationTable } from '../../node-agent/tables/mutation-table';
import type { CancelTarget, Owner } from '../../node-agent/tables/live-table';
import type { MutationRow } from '../../node-agent/tables/rows';
import { KILL_APPLIED_PREFIX, killAppliedKey, killIntentKey, type KillIntent } from '../../common/etcd/etcd-layout';
import { componentLogger } from '../../common/daemon/logger';
import { serve, type Served } from '../../node-agent/tables/served-table';
import { mutationSubject } from '../../node-agent/kill/kill-subjects';
import type { TableSource } from '../../node-agent/tables/table-source';
import { backendSubjects } from '../../node-agent/backends/backend-subjects';
import { ScriptedServer } from './scripted-backend';
import { memoryKillLog, type MemoryKillLog } from './kill-recorder-fixture';
import { unixNow } from '../../sql/compile';
import { until } from './until';

const NODE = { nodeId: 'n1', host: '127.0.0.1', port: 9701, address: '127.0.0.1:9701', clusters: ['c3'] };
const NOW = unixNow();
const filterFor = (where: string) => (r: MutationRow) => r.table === where;

/**
 * The part of etcd the application records use, in memory: create-if-absent under a lease, and
 * a prefix listing. `failing` makes writes reject (etcd unreachable). One instance outlives an
 * agent's restart, as etcd does.
 */
class FakeEtcd {
  readonly kv = new Map<string, string>();
  failing = false;
  writes = 0;

  if(key: string) {
    return {
      then: (op: { key: string; value: string }) => ({
        commit: () => {
          this.writes++;
          if (this.failing) return Promise.reject(new Error('etcd unreachable'));
          if (this.kv.has(key)) return Promise.resolve({ succeeded: false });
          this.kv.set(op.key, op.value);
          return Promise.resolve({ succeeded: true });
        },
      }),
    };
  }

  put(key: string) {
    return { value: (value: string) => ({ lease: () => ({ key, value }) }) };
  }

  getAll() {
    return { prefix: (p: string) => ({ keys: () => Promise.resolve([...this.kv.keys()].filter((k) => k.startsWith(p))) }) };
  }

  /** the intent's applied count, as system.kill_queue shows it */
  applied(id: string): number {
    return [...this.kv.keys()].filter((k) => k.startsWith(`${KILL_APPLIED_PREFIX}${id}/`)).length;
  }
}

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

function row(table: string, id: string, createdAgo = 60): MutationRow {
  return {
    database: 'db', table, mutation_id: id, command: 'DELETE WHERE 1', create_time: NOW - createdAgo, parts_to_do: 1, parts_done: 0, is_killed: 0,
    latest_failed_part: '', latest_fail_time: 0, latest_fail_reason: '',
  };
}

const intent = (id: string, where: string): KillIntent => ({ id, cluster: 'c3', where, user: 'admin', created_at: NOW, expires_at: NOW + 3600, nodes: ['n1'], lease: '1' });

/** The kill path of a KILL MUTATION over a table whose WHERE is a table name (filterFor). */
function servedOver(subject: Parameters<typeof serve<MutationRow>>[1]): Served {
  const source = { filters: { get: filterFor } } as unknown as TableSource<MutationRow>;
  return serve(source, subject);
}

/** closed after the tests, a failed one's too: a pending retry would keep the process alive */
const started: DurableKills[] = [];
after(async () => {
  await Promise.all(started.map((k) => k.close()));
});

/** Durable kills as an agent runs them, with the etcd watch replaced by `deliver`. */
async function durable(etcd: FakeEtcd, mutations: Served, log: MemoryKillLog, pollMs?: number, listed: KillIntent[] = []) {
  const history = async function* () {
    yield* log.entries;
  };
  const kills = new DurableKills({ etcd: etcd as unknown as Etcd3, node: NODE, mutations, filterFor, pollMs, recorder: log.recorder, history, log: componentLogger('test') });
  const inner = (kills as unknown as { intents: { start(): Promise<void>; put(key: string, value: string, live: boolean): void } }).intents;
  // as the first list finds them
  inner.start = () => {
    for (const i of listed) inner.put(killIntentKey(i.id), JSON.stringify(i), false);
    return Promise.resolve();
  };
  await kills.start();
  started.push(kills);
  return {
    kills,
    /** as the watch delivers an intent */
    deliver: (i: KillIntent) => inner.put(killIntentKey(i.id), JSON.stringify(i), true),
  };
}


const settle = (ms = 50) => new Promise((resolve) => setTimeout(resolve, ms));

test('an intent that arrives while the agent runs kills only the registered mutations its WHERE names, and is recorded after', async () => {
  const mutations = new MutationTable();
  const owner = workload();
  mutations.register(row('t3', 'm1'), owner);
  mutations.register(row('other', 'm2'), owner);
  mutations.register(row('t3', 'm3', -60), owner); // created after the KILL: never its match
  const log = memoryKillLog();
  const etcd = new FakeEtcd();
  const { kills, deliver } = await durable(etcd, servedOver(mutationSubject(mutations)), log);
  deliver(intent('k1', 't3'));
  await until('the cancel', () => owner.cancels.length > 0);
  await until('the record', () => etcd.applied('k1') === 1);
  assert.deepEqual(owner.cancels, ['m1']);
  assert.deepEqual(log.entries.map((e) => [e.statement_id, e.mode, e.condition, e.mutation_id, e.kill_status, e.query]), [['k1', 'ASYNC', 't3', 'm1', 'waiting', 'ALTER TABLE db.t3 DELETE WHERE 1']]);
  assert.ok(etcd.kv.has(killAppliedKey('k1', 'n1', row('t3', 'm1'))));
  // a registration starts another round: nothing is cancelled twice
  mutations.register(row('t3', 'm4'), owner);
  kills.registered();
  await until('the new one', () => owner.cancels.length === 2);
  await settle();
  assert.deepEqual(owner.cancels, ['m1', 'm4']);
  assert.equal(etcd.applied('k1'), 2);
  await kills.close();
});

test('a kill log that cannot be written: the mutation is not cancelled nor counted applied, and is killed once the log takes it', async () => {
  const mutations = new MutationTable();
  const owner = workload();
  mutations.register(row('t', 'm1'), owner);
  const log = memoryKillLog();
  log.failing = true;
  const etcd = new FakeEtcd();
  const { kills, deliver } = await durable(etcd, servedOver(mutationSubject(mutations)), log);
  deliver(intent('k1', 't'));
  // a few retries with the log still full
  await settle(400);
  assert.deepEqual(owner.cancels, [], 'not cancelled: the kill could not be logged');
  assert.equal(etcd.applied('k1'), 0, 'still pending: not recorded as applied');
  assert.equal(etcd.writes, 0);
  log.failing = false;
  await until('the retry', () => owner.cancels.length > 0, 3_000);
  await until('the record', () => etcd.applied('k1') === 1);
  await settle(300);
  assert.deepEqual(owner.cancels, ['m1']);
  assert.deepEqual(log.entries.map((e) => [e.mutation_id, e.kill_status]), [['m1', 'waiting']]);
  await kills.close();
});

test('a backend kill that throws leaves the intent pending; it is tried again and recorded once it succeeds', async () => {
  const server = new ScriptedServer([row('t', 'm1'), row('u', 'm2')], true);
  server.failKills = 2;
  const log = memoryKillLog();
  const etcd = new FakeEtcd();
  // a poll far longer than the test: only the backoff retries
  const { kills, deliver } = await durable(etcd, servedOver(backendSubjects(server, () => 0).mutations), log, 60_000);
  deliver(intent('k1', 't'));
  await until('the first attempt', () => server.killed.length >= 1);
  assert.equal(etcd.applied('k1'), 0, 'a failed kill is not recorded as applied');
  await until('the third attempt', () => server.killed.length === 3, 4_000);
  await until('the record', () => etcd.applied('k1') === 1);
  await settle(300);
  assert.deepEqual(server.killed, ['m1', 'm1', 'm1'], 'two failures, then the kill that took; never again after');
  assert.equal(etcd.applied('k1'), 1);
  // each attempt is in the kill log: logged before its cancel, its failure after
  assert.deepEqual(log.entries.map((e) => e.kill_status), ['waiting', 'cant_cancel', 'waiting', 'cant_cancel', 'waiting']);
  await kills.close();
});

test('a record that etcd refuses is written again later, and the mutation is not cancelled again meanwhile', async () => {
  const mutations = new MutationTable();
  const owner = workload();
  mutations.register(row('t', 'm1'), owner);
  const log = memoryKillLog();
  const etcd = new FakeEtcd();
  etcd.failing = true;
  const { kills, deliver } = await durable(etcd, servedOver(mutationSubject(mutations)), log);
  deliver(intent('k1', 't'));
  await until('the cancel', () => owner.cancels.length > 0);
  await until('a few record attempts', () => etcd.writes >= 3, 3_000);
  assert.equal(etcd.applied('k1'), 0);
  etcd.failing = false;
  await until('the record', () => etcd.applied('k1') === 1, 3_000);
  await settle(300);
  assert.deepEqual(owner.cancels, ['m1'], 'cancelled once');
  assert.equal(log.entries.length, 1, 'logged once');
  await kills.close();
});

test('an agent that dies between a kill and its record: after the restart nothing is cancelled twice and the count is right', async () => {
  const etcd = new FakeEtcd();
  const log = memoryKillLog();
  const k1 = intent('k1', 't');

  // Workloads: the first cancel reached m1, which ended; m2's cancel was lost with the agent.
  const first = new MutationTable();
  const before = workload();
  first.register(row('t', 'm1'), before);
  first.register(row('t', 'm2'), before);
  etcd.failing = true; // the records never reach etcd: the agent dies before it writes them
  const a = await durable(etcd, servedOver(mutationSubject(first)), log);
  a.deliver(k1);
  await until('both cancels', () => before.cancels.length === 2);
  await a.kills.close(); // SIGKILL: nothing after the cancels is kept but the kill log and etcd
  etcd.failing = false;
  assert.equal(etcd.applied('k1'), 0);

  // The returning agent: the workload registers what still runs, m2 (its cancel never arrived).
  const second = new MutationTable();
  const after = workload();
  second.register(row('t', 'm2'), after);
  const b = await durable(etcd, servedOver(mutationSubject(second)), log);
  b.deliver(k1);
  await until('the record', () => etcd.applied('k1') === 1);
  await settle(200);
  assert.deepEqual(after.cancels, ['m2'], 'one cancel reaches the mutation that still ran');
  await b.kills.close();
});

test('a polling agent that dies between a KILL MUTATION and its record: the kill log tells it, so the count is right and a gone mutation is not killed again', async () => {
  const etcd = new FakeEtcd();
  const log = memoryKillLog();
  const k1 = intent('k1', 't');
  // m1 is killed and leaves the listing; m2 stays listed a while (a slow server)
  const server = new ScriptedServer([row('t', 'm1'), row('t', 'm2')], true);
  const slow = server.running[1];
  etcd.failing = true;
  const a = await durable(etcd, servedOver(backendSubjects(server, () => 0).mutations), log, 60_000);
  a.deliver(k1);
  await until('both kills', () => server.killed.length === 2);
  await a.kills.close(); // SIGKILL before the records
  assert.deepEqual(server.killed, ['m1', 'm2']);
  if (slow) server.running.push(slow);
  etcd.failing = false;
  assert.equal(etcd.applied('k1'), 0);

  // the returning agent lists the intent at start
  const b = await durable(etcd, servedOver(backendSubjects(server, () => 0).mutations), log, 60_000, [k1]);
  await until('the records', () => etcd.applied('k1') === 2);
  await settle(300);
  // m1: gone, recorded from the kill log without a KILL; m2: still listed, so killed again (a no-op on a server killing it)
  assert.deepEqual(server.killed, ['m1', 'm2', 'm2']);
  assert.ok(etcd.kv.has(killAppliedKey('k1', 'n1', row('t', 'm1'))));
  assert.ok(etcd.kv.has(killAppliedKey('k1', 'n1', row('t', 'm2'))));
  await b.kills.close();
});
