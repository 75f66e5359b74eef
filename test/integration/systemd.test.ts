import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, spawnChild, spawnQuell, startEtcd, type Child, type EtcdServer } from '../../common/daemon/child-processes';
import { testPki, type TestPki } from './tls-fixture';

// deploy/systemd/: units that systemd-analyze accepts, and daemons that speak the notify
// protocol to the socket in NOTIFY_SOCKET (here a test receiver, as systemd would be).
const UNITS = path.resolve(__dirname, '..', '..', '..', 'deploy', 'systemd');
let tmp: string;
let etcd: EtcdServer;
let pki: TestPki;
const children: Child[] = [];

before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'quell-systemd-'));
  pki = await testPki();
  etcd = await startEtcd();
});
after(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL', 1_000)));
  await etcd?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function run(command: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, output: `${stdout}${stderr}` }));
  });
}

test('systemd-analyze verify accepts both units as they ship, without a word', async () => {
  // the template as an instance (verify refuses a bare template); ExecStart is /usr/bin/env
  // quell, so verify checks an executable that exists wherever quell is installed or not
  const agent = path.join(tmp, 'quell-agent@n1.service');
  writeFileSync(agent, readFileSync(path.join(UNITS, 'quell-agent@.service')));
  const r = await run('systemd-analyze', ['verify', path.join(UNITS, 'quell-coordinator.service'), agent]);
  assert.equal(r.code, 0, r.output);
  assert.equal(r.output, '', 'no warnings either');
});

test('the units: Type=notify with NotifyAccess=all, user quell, hardening; the agent keeps its kill log in its StateDirectory', () => {
  const coordinator = readFileSync(path.join(UNITS, 'quell-coordinator.service'), 'utf8');
  const agent = readFileSync(path.join(UNITS, 'quell-agent@.service'), 'utf8');
  for (const unit of [coordinator, agent]) {
    assert.match(unit, /^ExecStart=\/usr\/bin\/env quell /m, 'quell from PATH, wherever npm install -g put it');
    for (const line of ['Type=notify', 'NotifyAccess=all', 'User=quell', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'CapabilityBoundingSet=', 'ExecReload=/bin/kill -HUP $MAINPID']) {
      assert.match(unit, new RegExp(`^${line.replace(/[$]/g, '\\$')}$`, 'm'), line);
    }
    assert.match(unit, /^EnvironmentFile=-\/etc\/quell\//m, 'secrets from a root-only environment file');
  }
  assert.match(agent, /^StateDirectory=quell\/agent-%i$/m);
  assert.match(agent, /--kill-log-dir %S\/quell\/agent-%i /);
  assert.match(agent, /--node-id %i /);
});

/** A Unix datagram socket as systemd listens on it: one JSON line per message (BARRIER fds closed). */
function notifyReceiver(socketPath: string): Child {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const script = `
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"event": "listening"}), flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(64))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    fields = dict(l.split("=", 1) for l in msg.decode().split("\\n") if "=" in l)
    print(json.dumps({"event": "notify", **fields}), flush=True)
`;
  const child = spawnChild(python, ['-c', script, socketPath]);
  children.push(child);
  return child;
}

async function daemonUnderSystemd(name: string, args: string[]): Promise<{ daemon: Child; manager: Child }> {
  const socketPath = path.join(tmp, `${name}.notify`);
  const manager = notifyReceiver(socketPath);
  await manager.waitFor((e) => e.event === 'listening');
  const daemon = spawnQuell(args, { NOTIFY_SOCKET: socketPath });
  children.push(daemon);
  return { daemon, manager };
}

for (const role of ['coordinator', 'agent'] as const) {
  test(`a ${role} under NOTIFY_SOCKET: READY=1 (MAINPID its own) once it serves, STOPPING=1 on SIGTERM`, async () => {
    const args =
      role === 'coordinator'
        ? ['coordinator', '--etcd', etcd.url, '--listen', `127.0.0.1:${await freePort()}`, ...pki.argv(pki.coordinator())]
        : ['agent', '--etcd', etcd.url, '--node-id', 'n1', '--listen', '127.0.0.1:0', '--kill-log-dir', path.join(tmp, 'kill-log'), ...pki.argv(pki.agent('n1'))];
    const { daemon, manager } = await daemonUnderSystemd(role, args);
    const ready = await manager.waitFor((e) => e.READY === '1');
    assert.equal(ready.MAINPID, String(daemon.proc.pid));
    // READY=1 means serving: its ready line is out by then or right after
    await daemon.waitFor((e) => e.event === 'ready');
    assert.ok(!manager.events.some((e) => e.STOPPING === '1'));
    daemon.proc.kill('SIGTERM');
    const stopping = await manager.waitFor((e) => e.STOPPING === '1');
    assert.equal(stopping.MAINPID, String(daemon.proc.pid));
    assert.equal(await daemon.exited, 0, daemon.stderr());
    const order = manager.events.filter((e) => e.event === 'notify' && (e.READY || e.STOPPING)).map((e) => (e.READY ? 'READY' : 'STOPPING'));
    assert.deepEqual(order, ['READY', 'STOPPING']);
  });
}

for (const role of ['coordinator', 'agent'] as const) {
  test(`a ${role} under NOTIFY_SOCKET: SIGHUP is RELOADING=1 then READY=1, and the ${role} goes on serving`, async () => {
    const args =
      role === 'coordinator'
        ? ['coordinator', '--etcd', etcd.url, '--listen', `127.0.0.1:${await freePort()}`, ...pki.argv(pki.coordinator())]
        : ['agent', '--etcd', etcd.url, '--node-id', 'n2', '--listen', '127.0.0.1:0', '--kill-log-dir', path.join(tmp, 'kill-log-n2'), ...pki.argv(pki.agent('n2'))];
    const { daemon, manager } = await daemonUnderSystemd(`${role}-reload`, args);
    await manager.waitFor((e) => e.READY === '1');
    await daemon.waitFor((e) => e.event === 'ready');
    daemon.proc.kill('SIGHUP');
    const reloading = await manager.waitFor((e) => e.RELOADING === '1');
    assert.equal(reloading.MAINPID, String(daemon.proc.pid));
    assert.match(String(reloading.MONOTONIC_USEC), /^\d+$/);
    await manager.waitFor((e) => e.READY === '1' && manager.events.indexOf(e) > manager.events.indexOf(reloading));
    assert.equal(daemon.proc.exitCode, null, daemon.stderr());
    daemon.proc.kill('SIGTERM');
    assert.equal(await daemon.exited, 0, daemon.stderr());
    // (each message is followed by systemd-notify's barrier message: left out here)
    const order = manager.events.filter((e) => e.event === 'notify' && (e.READY || e.RELOADING || e.STOPPING)).map((e) => (e.READY ? 'READY' : e.RELOADING ? 'RELOADING' : 'STOPPING'));
    assert.deepEqual(order, ['READY', 'RELOADING', 'READY', 'STOPPING']);
  });
}
