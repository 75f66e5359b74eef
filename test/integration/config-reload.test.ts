import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QuellClient } from '../../client/coordinator-client';
import { freePort, spawnQuell, startEtcd, type Child, type EtcdServer } from '../../common/daemon/child-processes';
import { QuellError } from '../../errors/quell-error';
import { testPki, type TestPki } from './tls-fixture';
import { sleep } from './harness';

// Issue 19 items 3 and 4: settings in layers (flag > QUELL_<FLAG> > --config file > default),
// and SIGHUP re-reading what can change without a restart; no daemon ever exits on SIGHUP.

let tmp: string;
let etcd: EtcdServer;
let pki: TestPki;
const children: Child[] = [];
const clients: QuellClient[] = [];

before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'quell-config-'));
  pki = await testPki();
  etcd = await startEtcd();
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(children.map((c) => c.stop('SIGTERM', 3_000)));
  await etcd?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const file = path.join(tmp, name);
  writeFileSync(file, text);
  chmodSync(file, 0o600);
  return file;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = spawnQuell(args, env);
  children.push(child);
  return child;
}

/** The daemon's JSON log lines (stderr) whose msg matches. */
function logLines(child: Child, msg: RegExp): Record<string, unknown>[] {
  return child
    .stderr()
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    })
    .filter((e) => msg.test(String(e.msg)));
}

async function waitForLog(child: Child, msg: RegExp, count = 1, timeoutMs = 10_000): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = logLines(child, msg);
    if (lines.length >= count) return lines;
    if (Date.now() > deadline) throw new Error(`no log line ${msg} (x${count}); stderr: ${child.stderr().slice(-2000)}`);
    await sleep(50);
  }
}

function client(address: string, user: string, password: string): QuellClient {
  const c = new QuellClient(address, { user, password, tls: pki.anonymous() });
  clients.push(c);
  return c;
}

async function run(c: QuellClient): Promise<void> {
  await c.query('SELECT node_id FROM system.clusters');
}

async function coordinatorConfig(extra = ''): Promise<{ file: string; port: number }> {
  const port = await freePort();
  const tls = pki.coordinator();
  const file = write(
    `coordinator-${port}.yaml`,
    `etcd: ${etcd.url}\nlisten: 127.0.0.1:${port}\ntls-ca: ${tls.ca}\ntls-cert: ${tls.cert}\ntls-key: ${tls.key}\ndefault-cluster: c3\n${extra}`,
  );
  return { file, port };
}

test('a coordinator started with only --config FILE runs from it; QUELL_LISTEN overrides the file, --listen both', async () => {
  const { file, port } = await coordinatorConfig();
  const fromFile = start(['coordinator', '--config', file]);
  assert.equal((await fromFile.waitFor((e) => e.event === 'ready')).address, `127.0.0.1:${port}`);
  await run(client(`127.0.0.1:${port}`, 'default', ''));
  assert.equal(await fromFile.stop('SIGTERM'), 0);

  const envPort = await freePort();
  const fromEnv = start(['coordinator', '--config', file], { QUELL_LISTEN: `127.0.0.1:${envPort}` });
  assert.equal((await fromEnv.waitFor((e) => e.event === 'ready')).address, `127.0.0.1:${envPort}`);
  assert.equal(await fromEnv.stop('SIGTERM'), 0);

  const flagPort = await freePort();
  const argv = ['coordinator', '--config', file, '--listen', `127.0.0.1:${flagPort}`];
  const fromFlag = start(argv, { QUELL_LISTEN: `127.0.0.1:${envPort}` });
  assert.equal((await fromFlag.waitFor((e) => e.event === 'ready')).address, `127.0.0.1:${flagPort}`);
  assert.equal(await fromFlag.stop('SIGTERM'), 0);

  // --print-config says the same, and where each came from, without starting anything
  const printed = start([...argv, '--print-config'], { QUELL_LISTEN: `127.0.0.1:${envPort}`, QUELL_ETCD_PASSWORD: 'hunter2' });
  assert.equal(await printed.exited, 0, printed.stderr());
  const out = printed.stdout();
  assert.match(out, new RegExp(`^listen: 127\\.0\\.0\\.1:${flagPort} +# flag$`, 'm'));
  assert.match(out, new RegExp(`^default-cluster: c3 +# file:${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  assert.match(out, /^max-result-rows: "1000000" +# default$/m);
  assert.match(out, /^etcd-password: <redacted> +# env QUELL_ETCD_PASSWORD$/m);
  assert.ok(!out.includes('hunter2'));
});

test('a broken setting stops the daemon with one line naming the file and the key, or the variable', async () => {
  const { file } = await coordinatorConfig('max-result-rows: lots\n');
  const bad = start(['coordinator', '--config', file]);
  assert.equal(await bad.exited, 2);
  assert.equal(bad.stderr(), `quell coordinator: ${file}: key 'max-result-rows' must be a non-negative integer, got 'lots'\n`);
  const unknown = start(['agent', '--config', write('agent-bad.yaml', 'node-id: n1\nusers: /x\n')]);
  assert.equal(await unknown.exited, 2);
  assert.match(unknown.stderr(), /^quell agent: .*agent-bad\.yaml: unknown key 'users'; the keys are the flags of quell agent --help, without --\n$/);
  const env = start(['coordinator', '--insecure'], { QUELL_MAX_CONCURRENT_STATEMENTS: '-1' });
  assert.equal(await env.exited, 2);
  assert.equal(env.stderr(), "quell coordinator: QUELL_MAX_CONCURRENT_STATEMENTS must be a non-negative integer, got '-1'\n");
  const missing = start(['client', '--password-file', path.join(tmp, 'no-such-file'), '-q', 'SELECT 1']);
  assert.equal(await missing.exited, 2);
  assert.equal(missing.stderr(), `quell client: --password-file: cannot read ${path.join(tmp, 'no-such-file')}: ENOENT\n`);
});

test('SIGHUP re-reads the users file: a new user logs in, a removed one fails at its next statement, a broken file changes nothing', async () => {
  const users = write('users.yaml', 'users:\n  default: { grants: [ALL] }\n  alice: { password: a-pw, grants: [KILL POLICY, KILL QUERY] }\n');
  const { file } = await coordinatorConfig(`users: ${users}\n`);
  const coordinator = start(['coordinator', '--config', file]);
  const address = String((await coordinator.waitFor((e) => e.event === 'ready')).address);
  // a member of c3, for the kill policy
  const agent = start(['agent', '--etcd', etcd.url, '--node-id', 'n3', '--listen', '127.0.0.1:0', '--cluster', 'c3', '--kill-log-dir', path.join(tmp, 'kill-log-n3'), ...pki.argv(pki.agent('n3'))]);
  await agent.waitFor((e) => e.event === 'ready');
  const members = client(address, 'default', '');
  for (let i = 0; i < 100 && (await members.query("SELECT node_id FROM system.clusters WHERE cluster = 'c3' AND is_active = 1")).rows.length === 0; i++) await sleep(50);
  const alice = client(address, 'alice', 'a-pw');
  await run(alice);
  await alice.query("CREATE KILL POLICY reload_guard ON CLUSTER c3 WHERE user = 'nobody' EVERY 60 SECONDS LIMIT 1");
  const policy = "SELECT state, suspended_reason FROM system.kill_policies WHERE name = 'reload_guard'";
  await assert.rejects(run(client(address, 'bob', 'b-pw')), (e: unknown) => e instanceof QuellError && e.errorName === 'AUTHENTICATION_FAILED');

  // bob added: he logs in after the SIGHUP, without a restart
  write('users.yaml', 'users:\n  default: { grants: [ALL] }\n  alice: { password: a-pw, grants: [KILL POLICY, KILL QUERY] }\n  bob: { password: b-pw }\n');
  coordinator.proc.kill('SIGHUP');
  await waitForLog(coordinator, /^users file read again$/);
  await run(client(address, 'bob', 'b-pw'));
  await run(alice);
  assert.deepEqual((await client(address, 'default', '').query(policy)).rows, [['active', '']]);

  // alice removed: her stream's next statement fails (its remembered login no longer holds)
  write('users.yaml', 'users:\n  default: { grants: [ALL] }\n  bob: { password: b-pw }\n');
  coordinator.proc.kill('SIGHUP');
  await waitForLog(coordinator, /^users file read again$/, 2);
  await assert.rejects(run(alice), (e: unknown) => e instanceof QuellError && e.errorName === 'AUTHENTICATION_FAILED');
  await assert.rejects(run(client(address, 'alice', 'a-pw')), (e: unknown) => e instanceof QuellError && e.errorName === 'AUTHENTICATION_FAILED');
  // and her kill policy is suspended by the policy guard's check of the new file
  const byDefault = client(address, 'default', '');
  const deadline = Date.now() + 10_000;
  while ((await byDefault.query(policy)).rows[0]?.[0] !== 'suspended' && Date.now() < deadline) await sleep(100);
  assert.deepEqual((await byDefault.query(policy)).rows, [['suspended', "creator alice is not in the coordinator's users file"]]);

  // a file that does not parse: one log line naming it, and the users of before stay
  write('users.yaml', 'users: [unclosed\n');
  coordinator.proc.kill('SIGHUP');
  const failed = await waitForLog(coordinator, /^reload failed/);
  assert.equal(failed.length, 1);
  assert.match(String(failed[0]!.msg), new RegExp(`^reload failed, the running configuration stays: ${users.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid YAML or JSON: `));
  await run(client(address, 'bob', 'b-pw'));
  // so does a --config file that does not parse
  write(path.basename(file), 'listen: [\n');
  coordinator.proc.kill('SIGHUP');
  const again = await waitForLog(coordinator, /^reload failed/, 2);
  assert.match(String(again[1]!.msg), /: not valid YAML: /);
  await run(client(address, 'bob', 'b-pw'));
  // SIGHUPs in a row: the coordinator never exits on one
  for (let i = 0; i < 3; i++) coordinator.proc.kill('SIGHUP');
  await sleep(500);
  assert.equal(coordinator.proc.exitCode, null, coordinator.stderr());
  await run(client(address, 'bob', 'b-pw'));
  assert.equal(await agent.stop('SIGTERM'), 0);
  assert.equal(await coordinator.stop('SIGTERM'), 0);
});

test('an agent survives SIGHUP and re-reads its --config file (the log level); a coordinator without --config too', async () => {
  const coordinatorPort = await freePort();
  const coordinator = start(['coordinator', '--etcd', etcd.url, '--listen', `127.0.0.1:${coordinatorPort}`, '--default-cluster', 'hup', ...pki.argv(pki.coordinator())]);
  await coordinator.waitFor((e) => e.event === 'ready');
  const agentConfig = write('agent.yaml', `node-id: n1\ncluster: hup\nlisten: 127.0.0.1:0\nkill-log-dir: ${path.join(tmp, 'kill-log')}\netcd: ${etcd.url}\n`);
  const agent = start(['agent', '--config', agentConfig, ...pki.argv(pki.agent('n1'))]);
  await agent.waitFor((e) => e.event === 'ready');
  write('agent.yaml', `node-id: n1\ncluster: hup\nlisten: 127.0.0.1:0\nkill-log-dir: ${path.join(tmp, 'kill-log')}\netcd: ${etcd.url}\nlog-level: debug\nlease-ttl: 9\n`);
  agent.proc.kill('SIGHUP');
  const reloaded = await waitForLog(agent, /^configuration reloaded/);
  assert.deepEqual(reloaded[0]!.reloaded, ['log-level']);
  // a setting that takes a restart is named, not applied
  const later = await waitForLog(agent, /take effect at the next restart/);
  assert.deepEqual(later[0]!.keys, ['lease-ttl']);
  coordinator.proc.kill('SIGHUP');
  await waitForLog(coordinator, /^configuration reloaded/);
  await sleep(300);
  assert.equal(agent.proc.exitCode, null, agent.stderr());
  assert.equal(coordinator.proc.exitCode, null, coordinator.stderr());
  // both still serve: the coordinator sees the agent
  const c = client(`127.0.0.1:${coordinatorPort}`, 'default', '');
  const r = await c.query("SELECT node_id FROM system.clusters WHERE cluster = 'hup' AND is_active = 1");
  assert.deepEqual(r.rows, [['n1']]);
  assert.equal(await agent.stop('SIGTERM'), 0);
  assert.equal(await coordinator.stop('SIGTERM'), 0);
});
