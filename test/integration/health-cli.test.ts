import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { freePort, spawnQuell } from '../../common/daemon/child-processes';
import { TestCluster } from './harness';

// `quell health ADDRESS`: exit 0 with SERVING from a coordinator and an agent; otherwise
// non-zero and one line on stderr that names the address and the reason.
let c: TestCluster;
let silent: net.Server;
let silentAddress: string;
let httpAddress: string;

before(async () => {
  c = await TestCluster.start({ cluster: 'hc', nodes: 1, coordinatorArgs: ['--http-listen', '127.0.0.1:0'] });
  httpAddress = String(c.coordinator.events.find((e) => e.event === 'ready')?.http_address);
  // a TCP port that accepts and never says anything: not gRPC, not TLS
  silent = net.createServer((socket) => socket.on('error', () => undefined));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentAddress = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
});
after(async () => {
  silent?.close();
  await c?.stop();
});

async function health(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnQuell(['health', ...args]);
  const code = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line on stderr: ${stderr}`);
  return lines[0] as string;
}

test('a serving coordinator and a serving agent: exit 0, SERVING', async () => {
  const ca = ['--tls-ca', c.pki.ca];
  const coordinator = await health([c.address, ...ca]);
  assert.equal(coordinator.code, 0, coordinator.stderr);
  assert.equal(coordinator.stdout, `${c.address}: SERVING\n`);
  const agent = await health([c.agent('n1').address, ...ca, '--service', 'quell.v1.NodeAgentService']);
  assert.equal(agent.code, 0, agent.stderr);
  // with a client certificate too
  const withCert = await health([c.agent('n1').address, ...c.pki.argv(c.pki.user('alice'))]);
  assert.equal(withCert.code, 0, withCert.stderr);
});

test('an unknown service: non-zero, one line', async () => {
  const r = await health([c.address, '--tls-ca', c.pki.ca, '--service', 'quell.v1.NoSuch']);
  assert.notEqual(r.code, 0);
  assert.match(oneLine(r.stderr), new RegExp(`^quell health: ${c.address}: no such service`));
});

test('a closed port: non-zero, one line naming the address and the refusal', async () => {
  const closed = `127.0.0.1:${await freePort()}`;
  const r = await health([closed, '--tls-ca', c.pki.ca]);
  assert.notEqual(r.code, 0);
  assert.match(oneLine(r.stderr), new RegExp(`^quell health: ${closed}: connect ECONNREFUSED .*nothing listens there$`));
});

test('ports that are not gRPC: the HTTP door (TLS, HTTP/1.1) and a silent TCP listener', async () => {
  const http = await health([httpAddress, '--tls-ca', c.pki.ca, '--timeout', '3']);
  assert.notEqual(http.code, 0);
  assert.match(oneLine(http.stderr), new RegExp(`^quell health: ${httpAddress}: not a gRPC server`));
  const started = Date.now();
  const tcp = await health([silentAddress, '--tls-ca', c.pki.ca, '--timeout', '1']);
  assert.notEqual(tcp.code, 0);
  assert.match(oneLine(tcp.stderr), new RegExp(`^quell health: ${silentAddress}: no health answer within 1 s`));
  assert.ok(Date.now() - started < 5_000, 'the deadline bounds the check');
});

test('plaintext against a TLS daemon: non-zero, one line', async () => {
  const r = await health([c.address, '--insecure', '--timeout', '3']);
  assert.notEqual(r.code, 0);
  assert.match(oneLine(r.stderr), new RegExp(`^quell health: ${c.address}: .*TLS`));
});
