import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import type { EtcdServer } from '../../common/daemon/child-processes';
import { records, sleep, TestCluster } from './harness';
import { HealthProbe, parseExposition, reflectedDefinition, reflectedServices, scrape } from './probe-clients';

// What an orchestrator and a scraper see, with nothing but the CA: gRPC health that follows
// the daemon's lifecycle and its reach to etcd, reflection, and Prometheus text at /metrics.
let c: TestCluster;
let restartedEtcd: EtcdServer | undefined;
const probes: HealthProbe[] = [];
const metricsArgs = ['--metrics-listen', '127.0.0.1:0'];

before(async () => {
  c = await TestCluster.start({ cluster: 'c3', nodes: 2, coordinatorArgs: metricsArgs, agentArgs: () => metricsArgs });
});
after(async () => {
  for (const p of probes) p.close();
  await c?.stop();
  await restartedEtcd?.stop();
});

function probe(address: string): HealthProbe {
  const p = new HealthProbe(address, c.pki.ca);
  probes.push(p);
  return p;
}

function metricsUrl(events: readonly Record<string, unknown>[]): string {
  const url = events.find((e) => e.event === 'ready')?.metrics;
  assert.ok(typeof url === 'string' && url.startsWith('https://'), `ready event names the metrics URL: ${String(url)}`);
  return url;
}

async function metrics(url: string): Promise<ReturnType<typeof parseExposition>> {
  const res = await scrape(url, c.pki.ca);
  assert.equal(res.status, 200);
  assert.match(res.contentType, /^text\/plain; version=0\.0\.4/);
  return parseExposition(res.body);
}

test('health: the coordinator and an agent are SERVING, overall and per service; an unknown service is NOT_FOUND', async () => {
  const coordinator = probe(c.address);
  assert.equal(await coordinator.check(''), 'SERVING');
  assert.equal(await coordinator.check('quell.v1.CoordinatorService'), 'SERVING');
  const agent = probe(c.agent('n1').address);
  assert.equal(await agent.check(''), 'SERVING');
  assert.equal(await agent.check('quell.v1.NodeAgentService'), 'SERVING');
  assert.equal(await agent.check('quell.v1.WorkloadService'), 'SERVING');
  await assert.rejects(coordinator.check('quell.v1.NoSuch'), (e: grpc.ServiceError) => e.code === 5);
});

test('reflection (v1 and v1alpha) lists the quell services, health and reflection itself', async () => {
  const standard = ['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
  assert.deepEqual(await reflectedServices(c.address, c.pki.ca, 'v1'), ['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection', 'quell.v1.CoordinatorService']);
  assert.deepEqual(await reflectedServices(c.address, c.pki.ca, 'v1alpha'), [...standard, 'quell.v1.CoordinatorService']);
  assert.deepEqual(await reflectedServices(c.agent('n1').address, c.pki.ca), [...standard, 'quell.v1.NodeAgentService', 'quell.v1.WorkloadService']);
  // the descriptors are enough to call the API without the .proto files
  const described = await reflectedDefinition(c.address, c.pki.ca, 'quell.v1.CoordinatorService');
  const service = described['quell.v1.CoordinatorService'] as Record<string, { path: string; responseStream: boolean }> | undefined;
  assert.equal(service?.Execute?.path, '/quell.v1.CoordinatorService/Execute');
  assert.equal(service?.Execute?.responseStream, true);
  assert.ok(described['quell.v1.ExecuteRequest'], 'the request message is described');
});

test('/metrics after a KILL: statements by kind and outcome, kill rows by status, members, agent tables; node failures by kind', async () => {
  const coordinatorUrl = metricsUrl(c.coordinator.events);
  const agentUrl = metricsUrl(c.agent('n1').child.events);
  await c.sim('n1', ['--queries', '3', '--user', 'probed', '--query-id-prefix', 'probe-'], 3);
  const agentBefore = await metrics(agentUrl);
  assert.equal(agentBefore.value('quell_agent_processes', { table: 'processes' }), 3);
  assert.equal(agentBefore.value('quell_agent_lease_live'), 1);
  assert.equal(agentBefore.value('quell_serving'), 1);
  assert.ok(agentBefore.value('process_resident_memory_bytes') !== undefined, 'default process metrics');
  // the own certificate's notAfter, in unix seconds; no backend, so no quell_backend_up series
  const notAfter = Math.floor(new Date(new X509Certificate(readFileSync(c.pki.agent('n1').cert as string)).validTo).getTime() / 1000);
  assert.equal(agentBefore.value('quell_tls_cert_expiry_seconds', { identity: 'spiffe://quell/agent/n1' }), notAfter);
  assert.equal(agentBefore.types.get('quell_backend_up'), 'gauge');
  assert.equal(agentBefore.value('quell_backend_up'), undefined);

  const before = await metrics(coordinatorUrl);
  const killsBefore = before.value('quell_statements_total', { kind: 'kill_query', outcome: 'ok' }) ?? 0;
  const rows = records(await c.query("KILL QUERY WHERE user = 'probed' SYNC"));
  assert.deepEqual(rows.map((r) => r.kill_status), ['finished', 'finished', 'finished']);
  await assert.rejects(c.query('SELECT nope FROM system.processes'));

  const after = await metrics(coordinatorUrl);
  assert.equal(after.types.get('quell_statements_total'), 'counter');
  assert.equal(after.types.get('quell_statement_duration_seconds'), 'histogram');
  assert.equal(after.value('quell_statements_total', { kind: 'kill_query', outcome: 'ok' }), killsBefore + 1);
  assert.equal(after.value('quell_kill_rows_total', { kind: 'kill_query', kill_status: 'finished' }), 3);
  assert.equal(after.value('quell_statements_total', { kind: 'select', outcome: 'error' }), 1);
  assert.equal(after.value('quell_statement_errors_total', { kind: 'select', error: 'UNKNOWN_IDENTIFIER' }), 1);
  assert.equal(after.value('quell_statement_duration_seconds_count', { kind: 'kill_query' }), killsBefore + 1);
  assert.equal(after.value('quell_cluster_members', { cluster: 'c3' }), 2);
  assert.equal(after.value('quell_cluster_live_members', { cluster: 'c3' }), 2);
  assert.equal(after.value('quell_etcd_view_watching'), 1);
  assert.equal(after.value('quell_serving'), 1);
  const agentAfter = await metrics(agentUrl);
  assert.equal(agentAfter.value('quell_agent_processes', { table: 'processes' }), 0);
  // every kill is in the kill log before it is carried out
  assert.ok((agentAfter.value('quell_kill_log_entries_total') ?? 0) >= 3, 'kill log entries counted');
  assert.ok((agentAfter.value('quell_kill_log_syncs_total') ?? 0) >= 1, 'kill log syncs counted');
  assert.equal(agentAfter.value('quell_kill_log_failures_total'), 0);

  // a stopped member is a node_inactive row and a node failure of that kind
  await c.agent('n2').child.stop('SIGTERM', 3_000);
  await c.waitForActive(1);
  const missed = records(await c.query("KILL QUERY WHERE user = 'nobody' TEST"));
  assert.deepEqual(missed.map((r) => [r.node_id, r.kill_status]), [['n2', 'node_inactive']]);
  const failed = await metrics(coordinatorUrl);
  assert.equal(failed.value('quell_node_failures_total', { kind: 'node_inactive', node: 'n2' }), 1);
  assert.equal(failed.value('quell_kill_rows_total', { kind: 'kill_query', kill_status: 'node_inactive' }), 1);
  assert.equal(failed.value('quell_cluster_live_members', { cluster: 'c3' }), 1);
});

test('metrics are HTTPS only: a plaintext request gets no metrics, and other paths are 404', async () => {
  const url = new URL(metricsUrl(c.coordinator.events));
  const plaintext = await new Promise<string>((resolve) => {
    http
      .get(`http://${url.host}/metrics`, (res) => resolve(`status ${res.statusCode}`))
      .on('error', (err) => resolve(`error ${err.message}`));
  });
  assert.doesNotMatch(plaintext, /status 200/);
  assert.equal((await scrape(`https://${url.host}/other`, c.pki.ca)).status, 404);
});

test('etcd halted: the coordinator and agents turn NOT_SERVING (Check and Watch), and SERVING again once it is back', async () => {
  const coordinator = probe(c.address);
  const agent = probe(c.agent('n1').address);
  const watch = coordinator.watch('quell.v1.CoordinatorService');
  await waitFor(() => watch.statuses.includes('SERVING'), 'Watch sends the current status first');

  await c.etcd.halt();
  await coordinator.until('NOT_SERVING');
  await coordinator.until('NOT_SERVING', 'quell.v1.CoordinatorService');
  await agent.until('NOT_SERVING');
  await waitFor(() => watch.statuses.includes('NOT_SERVING'), 'Watch streams NOT_SERVING');
  const down = await metrics(metricsUrl(c.coordinator.events));
  assert.equal(down.value('quell_serving'), 0);
  assert.equal(down.value('quell_etcd_view_watching'), 0);

  restartedEtcd = await c.etcd.restart();
  await coordinator.until('SERVING');
  await agent.until('SERVING');
  await waitFor(() => watch.statuses.lastIndexOf('SERVING') > watch.statuses.indexOf('NOT_SERVING'), 'Watch streams SERVING again');
  assert.deepEqual(dedupe(watch.statuses), ['SERVING', 'NOT_SERVING', 'SERVING']);
  watch.cancel();
  const up = await metrics(metricsUrl(c.coordinator.events));
  assert.ok((up.value('quell_etcd_relists_total') ?? 0) >= 1, 're-lists after the outage are counted');
  assert.equal(up.value('quell_serving'), 1);
});

test('SIGTERM: a draining coordinator is NOT_SERVING while its last statement runs, Watch ends, and it exits cleanly', async () => {
  const coordinator = probe(c.address);
  await coordinator.until('SERVING');
  const watch = coordinator.watch();
  await waitFor(() => watch.statuses.includes('SERVING'), 'Watch sends SERVING');
  await c.sim('n1', ['--queries', '1', '--user', 'stubborn', '--ignore-cancel', '--query-id-prefix', 'drain-']);
  const running = c.query("KILL QUERY WHERE user = 'stubborn' SYNC SETTINGS sync_kill_timeout = 3");
  await sleep(300);
  c.coordinator.proc.kill('SIGTERM');
  await coordinator.until('NOT_SERVING', '', 2_000);
  assert.equal(await coordinator.check('quell.v1.CoordinatorService'), 'NOT_SERVING');
  // n2 was stopped above: its row is node_inactive
  assert.deepEqual(records(await running).map((r) => [r.node_id, r.kill_status]).sort(), [['n1', 'waiting'], ['n2', 'node_inactive']]);
  assert.equal(await watch.ended, 'OK');
  assert.deepEqual(dedupe(watch.statuses), ['SERVING', 'NOT_SERVING']);
  assert.equal(await c.coordinator.exited, 0);
  assert.doesNotMatch(c.coordinator.stderr(), /drain did not finish/);
});

async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

function dedupe<T>(xs: readonly T[]): T[] {
  return xs.filter((x, i) => i === 0 || xs[i - 1] !== x);
}
