import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Etcd3 } from 'etcd3';
import { connectEtcd } from '../../common/etcd/client';
import { killIntentKey, policyKey } from '../../common/etcd/etcd-layout';
import { RecordSigner } from '../../common/tls';
import { TestCluster, eventsOf, records, sleep } from './harness';
import { unixNow } from '../../sql/compile';

// Issue 24 item 2: only a coordinator authors a kill. Whoever can write to etcd puts kill
// policies and a queued mutation kill there by hand; with live workloads on every node nothing
// is killed, system.kill_policies and system.kill_queue show the records as invalid, each
// agent logs each once, and a policy made through the coordinator still kills.
// Real etcd, coordinator, agents and sims as separate processes.

const USERS = `
users:
  default: { grants: [ALL] }
  admin: { password: admin-pw, grants: [ALL] }
`;
const NODES = ['n1', 'n2', 'n3'];

let c: TestCluster;
let etcd: Etcd3;
before(async () => {
  c = await TestCluster.start({ cluster: 'c3', nodes: 3, users: USERS });
  etcd = connectEtcd({ endpoints: [c.etcd.url] });
});
after(async () => {
  etcd?.close();
  await c?.stop();
});

const now = (): number => unixNow();

/** A policy record as the coordinator stores one, naming the victims' processes. */
function policy(name: string, condition = "equals(user, 'victim')"): Record<string, unknown> {
  return { cluster: 'c3', name, condition, action: 'KILL QUERY', every_s: 1, limit: 0, dry_run: false, creator: 'admin', may_kill_others: true, created: now() };
}

test('policies and a mutation kill written into etcd by hand kill nothing, show as invalid, and are logged once', async () => {
  const queries = await Promise.all(NODES.map((n) => c.sim(n, ['--queries', '1', '--user', 'victim', '--query-id-prefix', `v-${n}-`])));
  const mutationSim = (n: string, prefix: string) =>
    c.sim(n, ['--mutations', '1', '--database', 'db', '--table', 'tv', '--command', 'DELETE WHERE x = 1', '--mutation-id-prefix', prefix, '--part-ms', '50', '--parts', '100000']);
  const mutations = await Promise.all(NODES.map((n) => mutationSim(n, `old_${n}_`)));

  // (a) a policy that names admin as its creator: unsigned, and with a signature an agent host
  // can make (its own key, presented with the coordinator's public certificate)
  const forged = JSON.stringify(policy('forged'));
  await etcd.put(policyKey('c3', 'forged')).value(forged);
  const agentKey = new RecordSigner(() => ({ cert: readFileSync(c.pki.certs.coordinator.cert), key: readFileSync(c.pki.agent('n1').key ?? '') }));
  await etcd.put(policyKey('c3', 'forged_sig')).value(JSON.stringify(agentKey.sign('kill-policy', policy('forged_sig'))));
  // (b) a policy the coordinator signed, its WHERE altered afterwards
  await c.query("CREATE KILL POLICY altered WHERE user = 'nobody' EVERY 1 SECONDS LIMIT 10", 'admin', 'admin-pw');
  const stored = JSON.parse(String(await etcd.get(policyKey('c3', 'altered')).string())) as Record<string, unknown>;
  assert.ok(stored.signature, 'the coordinator signs what it stores');
  await etcd.put(policyKey('c3', 'altered')).value(JSON.stringify({ ...stored, condition: "equals(user, 'victim')" }));
  // (c) a queued mutation kill dated a day ahead, unsigned: it would take every mutation, the ones registered later too
  const id = randomUUID();
  const intent = { id, cluster: 'c3', where: "equals(table, 'tv')", user: 'admin', created_at: now() + 86_400, expires_at: now() + 2 * 86_400, nodes: NODES, lease: '0' };
  await etcd.put(killIntentKey(id)).value(JSON.stringify(intent));

  // mutations registered after the intent appeared
  const later = await Promise.all(NODES.map((n) => mutationSim(n, `new_${n}_`)));

  // several policy intervals; a re-list (another put of the same bytes) must not log again
  await sleep(2_000);
  await etcd.put(policyKey('c3', 'forged')).value(forged);
  await sleep(2_500);
  for (const s of [...queries, ...mutations, ...later]) assert.deepEqual(eventsOf(s, 'cancel'), [], 'nothing written by hand kills');
  const running = records(await c.query("SELECT query_id FROM clusterAllReplicas('c3', system.processes) WHERE user = 'victim' ORDER BY query_id"));
  assert.deepEqual(running.map((r) => r.query_id), ['v-n1-1', 'v-n2-1', 'v-n3-1']);
  const muts = records(await c.query("SELECT mutation_id FROM clusterAllReplicas('c3', system.mutations) WHERE table = 'tv' ORDER BY mutation_id"));
  assert.deepEqual(muts.map((r) => r.mutation_id), ['new_n1_1', 'new_n2_1', 'new_n3_1', 'old_n1_1', 'old_n2_1', 'old_n3_1']);
  const shown = await c.waitForRows("SELECT name, creator, state, invalid_reason FROM system.kill_policies WHERE name IN ('forged', 'forged_sig', 'altered') ORDER BY name", (r) => r.length === 3 && r.every((x) => x.state === 'invalid'));
  assert.deepEqual(
    shown.map((r) => [r.name, r.creator, r.state]),
    [
      ['altered', 'admin', 'invalid'],
      ['forged', 'admin', 'invalid'],
      ['forged_sig', 'admin', 'invalid'],
    ],
  );
  assert.deepEqual(shown.map((r) => r.invalid_reason), ['signature does not match the record (altered, or signed with another key)', 'unsigned', 'signature does not match the record (altered, or signed with another key)']);
  const queue = records(await c.query(`SELECT kill_id, state, invalid_reason FROM system.kill_queue WHERE kill_id = '${id}'`));
  assert.deepEqual(queue, [{ kill_id: id, state: 'invalid', invalid_reason: 'unsigned' }]);

  const logged = records(await c.query("SELECT policy, kill_status FROM clusterAllReplicas('c3', system.kill_log) WHERE policy IN ('forged', 'forged_sig', 'altered')"));
  assert.deepEqual(logged, [], 'no kill log row blames admin');

  for (const n of NODES) {
    const lines = c.agent(n).child.stderr().split('\n');
    const refusals = (what: string, key: string) => lines.filter((l) => l.includes(`"msg":"${what} invalid (only a coordinator's signed record is acted on); ignored"`) && l.includes(`"key":"${key}"`)).length;
    assert.equal(refusals('kill policy record', policyKey('c3', 'forged_sig')), 1, `${n}: logged once`);
    assert.equal(refusals('kill policy record', policyKey('c3', 'altered')), 1, `${n}: logged once`);
    assert.equal(refusals('mutation kill intent', killIntentKey(id)), 1, `${n}: logged once`);
    assert.equal(refusals('kill policy record', policyKey('c3', 'forged')), 1, `${n}: logged once, though put twice`);
  }

  // a policy made through the coordinator still kills
  await c.query("CREATE KILL POLICY real WHERE user = 'victim' EVERY 1 SECONDS LIMIT 10", 'admin', 'admin-pw');
  assert.deepEqual(records(await c.query("SELECT state, invalid_reason FROM system.kill_policies WHERE name = 'real'")), [{ state: 'active', invalid_reason: '' }]);
  await Promise.all(queries.map((s) => s.waitFor(() => eventsOf(s, 'cancel').length >= 1, 15_000)));
  const rows = await c.waitForRows("SELECT node_id, user, policy FROM clusterAllReplicas('c3', system.kill_log) WHERE policy = 'real' ORDER BY node_id", (r) => r.length >= 3);
  assert.deepEqual(rows, NODES.map((n) => ({ node_id: n, user: 'admin', policy: 'real' })));

  for (const name of ['real', 'altered', 'forged', 'forged_sig']) await c.query(`DROP KILL POLICY ${name}`);
  await etcd.delete().key(killIntentKey(id)).exec();
  await c.stopSims();
});

test('a suspension cannot be edited out of a signed record: the policy becomes invalid, not active', async () => {
  const victims = await Promise.all(NODES.map((n) => c.sim(n, ['--queries', '1', '--user', 'victim', '--query-id-prefix', `s-${n}-`])));
  // a record as the policy guard leaves it: suspended, signed by the coordinator
  const coordinator = new RecordSigner(() => ({ cert: readFileSync(c.pki.certs.coordinator.cert), key: readFileSync(c.pki.certs.coordinator.key) }));
  const suspended = coordinator.sign('kill-policy', { ...policy('parked'), suspended: { reason: 'creator admin no longer holds the grant KILL POLICY', at: now() } });
  await etcd.put(policyKey('c3', 'parked')).value(JSON.stringify(suspended));
  await c.waitForRows("SELECT state FROM system.kill_policies WHERE name = 'parked'", (r) => r[0]?.state === 'suspended');
  // an etcd writer removes the mark and keeps the signature
  const { suspended: _mark, ...unmarked } = suspended;
  await etcd.put(policyKey('c3', 'parked')).value(JSON.stringify(unmarked));
  await c.waitForRows("SELECT state FROM system.kill_policies WHERE name = 'parked'", (r) => r[0]?.state === 'invalid');
  await sleep(3_500);
  for (const s of victims) assert.deepEqual(eventsOf(s, 'cancel'), [], 'an un-suspended record does not run');
  await c.query('DROP KILL POLICY parked');
  await c.stopSims();
});
