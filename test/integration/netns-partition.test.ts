import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { freePort, QUELL_MAIN, spawnChild, spawnQuell, startEtcd, type Child, type EtcdServer } from '../../common/daemon/child-processes';
import { QuellClient } from '../../client/coordinator-client';
import { eventsOf, records, sleep } from './harness';
import { testPki, type TestPki } from './tls-fixture';

// A real network partition: agent n2 and its workload live in their own network namespace,
// joined to this host by a veth pair; cutting the link must give n2 a node_timeout or
// node_unreachable row, and n2 must not kill anything when the link comes back.
// Needs root and iproute2: a missing `ip` fails here, it is never skipped.
const tag = `${process.pid % 10_000}${Math.floor(Math.random() * 100)}`;
const ns = `quell-part-${tag}`;
const hostVeth = `qph${tag}`;
const nsVeth = `qpn${tag}`;
const octet = 1 + (process.pid % 250);
const hostIp = `10.77.${octet}.1`;
const nsIp = `10.77.${octet}.2`;

let pki: TestPki;
let etcd: EtcdServer | undefined;
let client: QuellClient;
let n2Address = '';
const children: Child[] = [];

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `quell …` run inside the namespace. */
function inNamespace(args: string[]): Child {
  const child = spawnChild('ip', ['netns', 'exec', ns, process.execPath, QUELL_MAIN, ...args], { env: { ...process.env, QUELL_LOG_FORMAT: 'json' } });
  children.push(child);
  return child;
}

async function sim(user: string): Promise<Child> {
  const child = inNamespace(['sim', '--agent', n2Address, ...pki.argv(pki.workload()), '--queries', '1', '--user', user, '--query-id-prefix', `${user}-`]);
  await child.waitFor((e) => e.event === 'started');
  return child;
}

async function activeNodes(): Promise<string[]> {
  const r = await client.query("SELECT node_id FROM system.clusters WHERE cluster = 'c' AND is_active = 1 ORDER BY node_id");
  return r.rows.map((row) => String(row[0]));
}

before(async () => {
  ip('netns', 'add', ns);
  ip('link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', nsVeth);
  ip('link', 'set', nsVeth, 'netns', ns);
  ip('addr', 'add', `${hostIp}/30`, 'dev', hostVeth);
  ip('link', 'set', hostVeth, 'up');
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', nsVeth);
  ip('netns', 'exec', ns, 'ip', 'link', 'set', nsVeth, 'up');
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');

  pki = await testPki();
  // etcd on loopback and on the host side of the veth only, so the namespace reaches it
  etcd = await startEtcd({ alsoListenOn: hostIp });
  const coordinator = spawnQuell(['coordinator', '--etcd', etcd.url, '--listen', `127.0.0.1:${await freePort()}`, '--default-cluster', 'c', ...pki.argv(pki.coordinator())]);
  children.push(coordinator);
  client = new QuellClient(String((await coordinator.waitFor((e) => e.event === 'ready')).address), { tls: pki.anonymous() });
  const n1 = spawnQuell(['agent', '--etcd', etcd.url, '--node-id', 'n1', '--listen', '127.0.0.1:0', '--cluster', 'c', '--lease-ttl', '10', ...pki.argv(pki.agent('n1'))]);
  children.push(n1);
  await n1.waitFor((e) => e.event === 'ready');
  // the certificates carry loopback SANs only: the agent's identity is its URI SAN, not its address
  const n2 = inNamespace(['agent', '--etcd', etcd.url.replace('127.0.0.1', hostIp), '--node-id', 'n2', '--listen', `${nsIp}:0`, '--cluster', 'c', '--lease-ttl', '10', ...pki.argv(pki.agent('n2'))]);
  n2Address = String((await n2.waitFor((e) => e.event === 'ready')).address);
  assert.match(n2Address, new RegExp(`^${nsIp.replace(/\./g, '\\.')}:\\d+$`));
  for (let i = 0; i < 100 && (await activeNodes()).length < 2; i++) await sleep(100);
  assert.deepEqual(await activeNodes(), ['n1', 'n2']);
});

after(async () => {
  client?.close();
  await Promise.all(children.map((c) => c.stop('SIGTERM', 3_000)));
  await etcd?.stop();
  // the namespace goes with its end of the pair; both are removed even when setup failed half way
  for (const args of [['link', 'del', hostVeth], ['netns', 'del', ns]]) {
    try {
      ip(...args);
    } catch {
      // not created
    }
  }
});

test('a partitioned agent is node_timeout/node_unreachable within the timeout and kills nothing when the link returns', async (t) => {
  const cut = await sim('cut');

  ip('link', 'set', hostVeth, 'down');
  let rows: Record<string, unknown>[];
  try {
    rows = records(await client.query("KILL QUERY WHERE user = 'cut' SETTINGS distributed_ddl_task_timeout = 2"));
  } finally {
    await sleep(1_000);
    ip('link', 'set', hostVeth, 'up');
  }
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.equal(rows[0]?.node_id, 'n2');
  assert.ok(['node_timeout', 'node_unreachable'].includes(String(rows[0]?.kill_status)), JSON.stringify(rows));
  t.diagnostic(`partitioned row: ${String(rows[0]?.kill_status)}: ${String(rows[0]?.error)}`);

  // TCP retransmits and gRPC reconnects have their chance once the link is back: still no kill
  await sleep(5_000);
  assert.equal(eventsOf(cut, 'cancel').length, 0, 'the partitioned node killed nothing after the link returned');

  // and the node is reachable again: a new statement kills there
  const again = await sim('again');
  let status = '';
  for (let i = 0; i < 30 && status !== 'finished'; i++) {
    const r = records(await client.query("KILL QUERY WHERE user = 'again' SYNC SETTINGS distributed_ddl_task_timeout = 2"));
    status = String(r.find((x) => x.node_id === 'n2')?.kill_status ?? '');
    if (status !== 'finished') await sleep(500);
  }
  assert.equal(status, 'finished');
  assert.equal(eventsOf(again, 'cancel').length, 1);
  assert.equal(eventsOf(cut, 'cancel').length, 0);
});
