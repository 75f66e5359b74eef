import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, spawnQuell, type Child } from '../../common/daemon/child-processes';
import { QuellClient } from '../../client/coordinator-client';
import { QuellError } from '../../errors/quell-error';
import { eventsOf, records, sleep } from './harness';
import { testPki, type TestPki } from './tls-fixture';
import { AuthEtcd, ETCD_PASSWORDS } from './etcd-auth-fixture';
import { HealthProbe } from './probe-clients';
import { ALIVE_PREFIX } from '../../common/etcd/etcd-layout';

// etcd as the README sets it up (TLS, client certificates, `auth enable`) restarted under a
// live cluster: etcd's simple auth tokens live in its memory, so the etcd that comes back can
// refuse the daemons' tokens ("invalid auth token"). The daemons log in again, re-grant their leases and
// serve every node within seconds; while etcd is down or hangs, statements that write to it
// fail within their timeout with one line, and SIGTERM still ends each daemon in time.

const NODES = ['n1', 'n2', 'n3'] as const;
/** how soon after etcd answers again every node must be live and killable */
const RECOVERY_MS = 5_000;
/** SIGTERM: the 5 s drain bound, then a forced stop */
const EXIT_MS = 6_500;

let etcd: AuthEtcd;
let pki: TestPki;
let client: QuellClient;
let coordinator: Child;
const agents = new Map<string, { child: Child; address: string }>();
let coordinatorAddress: string;
const children: Child[] = [];

function quell(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = spawnQuell(args, env);
  children.push(child);
  return child;
}

async function sim(nodeId: string, args: string[]): Promise<Child> {
  const child = quell(['sim', '--agent', agents.get(nodeId)?.address ?? '', ...pki.argv(pki.workload()), ...args]);
  await child.waitFor((e) => e.event === 'started');
  return child;
}

/** node_id, query_id and kill_status of each row, sorted */
function statuses(rows: Record<string, unknown>[]): string[][] {
  return rows.map((r) => [String(r.node_id), String(r.query_id), String(r.kill_status)]).sort((a, b) => a.join().localeCompare(b.join()));
}

/** The lease of each node's alive key, read from etcd by a client of its own (a fresh login). */
async function aliveLeases(): Promise<Map<string, string>> {
  const admin = etcd.connect('quell-admin');
  try {
    const res = await admin.getAll().prefix(ALIVE_PREFIX).exec();
    return new Map(res.kvs.map((kv) => [kv.key.toString().slice(ALIVE_PREFIX.length), kv.lease]));
  } finally {
    admin.close();
  }
}

/** Whether every daemon's health answers SERVING: the coordinator's view is current, each agent's lease is live. */
async function allServing(): Promise<string[]> {
  const notServing: string[] = [];
  for (const [name, address] of [['coordinator', coordinatorAddress], ...NODES.map((n) => [n, agents.get(n)?.address ?? ''])] as const) {
    const probe = new HealthProbe(address, pki.ca);
    const status = await probe.check().catch((err: unknown) => String(err));
    probe.close();
    if (status !== 'SERVING') notServing.push(`${name}: ${status}`);
  }
  return notServing;
}

/** Milliseconds until SIGTERM ends the child, failing past EXIT_MS. */
async function sigtermExit(child: Child): Promise<number> {
  const started = Date.now();
  const code = await child.stop('SIGTERM', EXIT_MS);
  const ms = Date.now() - started;
  assert.equal(code, 0, `${child.proc.spawnargs.slice(2, 5).join(' ')} did not exit on SIGTERM within ${EXIT_MS} ms; stderr: ${child.stderr().slice(-3000)}`);
  return ms;
}

/** The statement fails with one line naming etcd, within `withinMs`. */
async function failsNamingEtcd(sql: string, withinMs: number): Promise<{ ms: number; message: string }> {
  const started = Date.now();
  const err = await client.query(sql).then(
    () => undefined,
    (e: unknown) => e,
  );
  const ms = Date.now() - started;
  assert.ok(err instanceof QuellError, `${sql}: expected an error, got ${String(err)}`);
  assert.match(err.message, /^etcd at https:\/\/127\.0\.0\.1:\d+ is unreachable: /);
  assert.doesNotMatch(err.message, /\n/);
  assert.equal(err.code, 279, err.message);
  assert.ok(ms < withinMs, `${sql}: failed after ${ms} ms, not within ${withinMs} ms`);
  return { ms, message: err.message };
}

before(async () => {
  etcd = await AuthEtcd.start({ agents: { n1: ['c'], n2: ['c'], n3: ['c'] } });
  pki = await testPki();
  coordinator = quell(['coordinator', ...etcd.flags('quell-coordinator'), '--listen', `127.0.0.1:${await freePort()}`, '--default-cluster', 'c', ...pki.argv(pki.coordinator())], etcd.env('quell-coordinator'));
  coordinatorAddress = String((await coordinator.waitFor((e) => e.event === 'ready')).address);
  client = new QuellClient(coordinatorAddress, { tls: pki.anonymous() });
  await Promise.all(
    NODES.map(async (nodeId) => {
      const child = quell(['agent', ...etcd.flags(`quell-agent-${nodeId}`), '--node-id', nodeId, '--listen', '127.0.0.1:0', '--cluster', 'c', ...pki.argv(pki.agent(nodeId))], etcd.env(`quell-agent-${nodeId}`));
      agents.set(nodeId, { child, address: String((await child.waitFor((e) => e.event === 'ready')).address) });
    }),
  );
  for (let i = 0; i < 200; i++) {
    const active = records(await client.query("SELECT node_id FROM system.clusters WHERE cluster = 'c' AND is_active = 1"));
    if (active.length === NODES.length) return;
    await sleep(50);
  }
  assert.fail('the agents did not all go live');
});

after(async () => {
  client?.close();
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await etcd?.stop();
});

test('after etcd restarts, agents and the coordinator log in again: every node is live and a KILL is exact within 5 s', { timeout: 90_000 }, async (t) => {
  const victims = await Promise.all(NODES.map((n) => sim(n, ['--queries', '1', '--user', 'victim', '--query-id-prefix', `v-${n}-`])));
  const stubborn = await sim('n1', ['--queries', '1', '--user', 'victim', '--query-id-prefix', 's-n1-', '--ignore-cancel']);
  const bystanders = await Promise.all(NODES.map((n) => sim(n, ['--queries', '1', '--user', 'bystander', '--query-id-prefix', `b-${n}-`])));

  const before = await aliveLeases();
  assert.deepEqual([...before.keys()].sort(), [...NODES]);
  await etcd.halt();
  // long enough for every agent to give its lease up (2 × the 5 s TTL) and every breaker to open
  await sleep(11_000);
  await etcd.restart();
  const back = Date.now();

  // every agent holds a new lease, every daemon is healthy, and a KILL … TEST lists every node
  let missing: string[] = [];
  while (Date.now() - back < RECOVERY_MS) {
    missing = [];
    const leases = await aliveLeases().catch((err: unknown) => new Map([['error', String(err)]]));
    for (const n of NODES) if (!leases.has(n) || leases.get(n) === before.get(n)) missing.push(`${n}: no new lease`);
    missing.push(...(await allServing()));
    const rows = records(await client.query("KILL QUERY WHERE user = 'victim' TEST SETTINGS distributed_ddl_task_timeout = 1"));
    for (const n of NODES) if (!rows.some((r) => r.node_id === n)) missing.push(`${n}: no rows`);
    for (const r of rows) if (r.kill_status !== 'unknown_status') missing.push(`${String(r.node_id)}: ${String(r.kill_status)}`);
    if (missing.length === 0) break;
    await sleep(100);
  }
  const recoveredMs = Date.now() - back;
  t.diagnostic(`every node live ${recoveredMs} ms after etcd answered again`);
  assert.deepEqual(missing, [], `not recovered within ${RECOVERY_MS} ms of etcd's return\ncoordinator: ${coordinator.stderr().slice(-2000)}\nn1: ${agents.get('n1')?.child.stderr().slice(-2000) ?? ''}`);
  const processes = records(await client.query("SELECT node_id, query_id FROM clusterAllReplicas('c', system.processes) ORDER BY query_id"));
  assert.deepEqual(
    processes.map((r) => [r.node_id, r.query_id]),
    [['n1', 'b-n1-1'], ['n2', 'b-n2-1'], ['n3', 'b-n3-1'], ['n1', 's-n1-1'], ['n1', 'v-n1-1'], ['n2', 'v-n2-1'], ['n3', 'v-n3-1']],
  );

  // exact: the victims stop, the one that ignores its cancel is still waiting, bystanders untouched
  const killed = records(await client.query("KILL QUERY WHERE user = 'victim' SYNC SETTINGS sync_kill_timeout = 1"));
  assert.deepEqual(statuses(killed), [
    ['n1', 's-n1-1', 'waiting'],
    ['n1', 'v-n1-1', 'finished'],
    ['n2', 'v-n2-1', 'finished'],
    ['n3', 'v-n3-1', 'finished'],
  ]);
  for (const s of [...victims, stubborn]) assert.equal(eventsOf(s, 'cancel').length, 1);
  for (const s of bystanders) assert.equal(eventsOf(s, 'cancel').length, 0);
  const active = records(await client.query("SELECT node_id FROM system.clusters WHERE cluster = 'c' AND is_active = 1 ORDER BY node_id"));
  assert.deepEqual(active.map((r) => r.node_id), [...NODES]);
  // the restarted etcd takes the coordinator's writes again
  await client.query("CREATE KILL POLICY after_restart WHERE user = 'nobody' EVERY 60 SECONDS LIMIT 10");
  await client.query('DROP KILL POLICY after_restart');
});

test('etcd down: CREATE KILL POLICY fails within its timeout with one line; SIGTERM ends an agent in time', { timeout: 30_000 }, async (t) => {
  await etcd.halt();
  const create = await failsNamingEtcd("CREATE KILL POLICY while_down WHERE user = 'nobody' LIMIT 10 SETTINGS distributed_ddl_task_timeout = 2", 3_000);
  t.diagnostic(`CREATE KILL POLICY with etcd down: ${create.ms} ms: ${create.message}`);
  const agent = agents.get('n3')?.child;
  assert.ok(agent);
  t.diagnostic(`agent n3 exited ${await sigtermExit(agent)} ms after SIGTERM with etcd down`);
});

test('etcd hung: statements that write to it give up at distributed_ddl_task_timeout; SIGTERM ends the coordinator and an agent in time', { timeout: 60_000 }, async (t) => {
  await etcd.restart();
  const coordinatorHealth = new HealthProbe(coordinatorAddress, pki.ca);
  await coordinatorHealth.until('SERVING', '', 10_000).finally(() => coordinatorHealth.close());
  etcd.etcd.child.proc.kill('SIGSTOP');
  try {
    const create = await failsNamingEtcd("CREATE KILL POLICY while_hung WHERE user = 'nobody' LIMIT 10 SETTINGS distributed_ddl_task_timeout = 1", 2_000);
    t.diagnostic(`CREATE KILL POLICY with etcd hung: ${create.ms} ms: ${create.message}`);
    const drop = await failsNamingEtcd('DROP KILL POLICY IF EXISTS while_hung SETTINGS distributed_ddl_task_timeout = 1', 2_000);
    t.diagnostic(`DROP KILL POLICY with etcd hung: ${drop.ms} ms`);
    // n3 stopped with etcd down: its mutation kill would be queued in etcd, which does not answer
    const started = Date.now();
    const queued = records(await client.query("KILL MUTATION WHERE table = 't' SETTINGS distributed_ddl_task_timeout = 1"));
    const queueMs = Date.now() - started;
    t.diagnostic(`KILL MUTATION for a down node with etcd hung: ${queueMs} ms`);
    assert.ok(queueMs < 2_500, `KILL MUTATION took ${queueMs} ms`);
    assert.deepEqual(queued.map((r) => r.node_id), ['n3']);
    assert.match(String(queued[0]?.kill_status), /^node_/);
    assert.match(String(queued[0]?.error), /; the kill could not be queued: etcd at https:\/\/127\.0\.0\.1:\d+ is unreachable: [^\n]+$/);
    const [coordinatorMs, agentMs] = await Promise.all([sigtermExit(coordinator), sigtermExit(agents.get('n1')?.child ?? coordinator)]);
    t.diagnostic(`with etcd hung, SIGTERM ended the coordinator in ${coordinatorMs} ms and agent n1 in ${agentMs} ms`);
  } finally {
    etcd.etcd.child.proc.kill('SIGCONT');
  }
  // nothing secret in the daemons' logs
  for (const c of children) {
    for (const pw of ETCD_PASSWORDS) assert.ok(!c.stderr().includes(pw), 'a password in a log');
  }
});
