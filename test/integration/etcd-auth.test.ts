import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdPermissionDeniedError } from 'etcd3';
import { freePort, spawnQuell, type Child } from '../../common/daemon/child-processes';
import { connectEtcd, etcdUnavailable } from '../../common/etcd/client';
import { aliveKey, killIntentKey, memberKey, nodeOwnerKey, policyKey } from '../../common/etcd/etcd-layout';
import { QuellClient } from '../../client/coordinator-client';
import { records } from './harness';
import { testPki } from './tls-fixture';
import { writeFileSync } from 'node:fs';
import { AuthEtcd, ETCD_PASSWORDS, etcdPassword, type EtcdUser } from './etcd-auth-fixture';

// docs/security.md: etcd with TLS, client certificates and `auth enable`, under the README's
// roles: one etcd user per agent node (etcd-auth-fixture.ts)

let authEtcd: AuthEtcd;
const children: Child[] = [];
let client: QuellClient | undefined;

async function agentTls(nodeId: string): Promise<string[]> {
  const pki = await testPki();
  return pki.argv(pki.agent(nodeId));
}

function start(args: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawnQuell(args, env);
  children.push(child);
  return child;
}

before(async () => {
  authEtcd = await AuthEtcd.start({
    agents: { n1: ['sec'] },
    seed: async (root) => {
      await root.put('/other/secret').value('not quell’s');
      await root.put(memberKey('sec', 'n9')).value(JSON.stringify({ cluster: 'sec', node_id: 'n9', address: '127.0.0.1:9', joined_at: new Date().toISOString() }));
    },
  });
});

after(async () => {
  client?.close();
  await Promise.all(children.map((c) => c.stop('SIGTERM', 3_000)));
  await authEtcd?.stop();
});

test('a coordinator and an agent work against etcd with TLS, client certificates and auth enable', async () => {
  const pki = await testPki();
  const coordinator = start(['coordinator', ...authEtcd.flags('quell-coordinator'), '--listen', `127.0.0.1:${await freePort()}`, '--default-cluster', 'sec', ...pki.argv(pki.coordinator())], {
    QUELL_ETCD_PASSWORD: etcdPassword('quell-coordinator'),
  });
  const agent = start(['agent', ...authEtcd.flags('quell-agent-n1'), '--node-id', 'n1', '--listen', '127.0.0.1:0', '--cluster', 'sec', ...(await agentTls('n1'))], {
    QUELL_ETCD_PASSWORD: etcdPassword('quell-agent-n1'),
  });
  const ready = await coordinator.waitFor((e) => e.event === 'ready');
  const agentReady = await agent.waitFor((e) => e.event === 'ready');
  client = new QuellClient(String(ready.address), { user: 'default', password: '', tls: pki.anonymous() });
  let rows: Record<string, unknown>[] = [];
  for (let i = 0; i < 100; i++) {
    rows = records(await client.query("SELECT node_id, host, port, is_active FROM system.clusters WHERE cluster = 'sec' ORDER BY node_id"));
    if (rows[0]?.is_active === 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const [host, port] = String(agentReady.address).split(':');
  assert.deepEqual(rows, [
    { node_id: 'n1', host, port: Number(port), is_active: 1 },
    { node_id: 'n9', host: '127.0.0.1', port: 9, is_active: 0 },
  ]);
  // a kill for a member that is down is queued in etcd: the coordinator's role may write that
  const kill = records(await client.query("KILL MUTATION ON CLUSTER sec WHERE table = 't'"));
  assert.deepEqual(kill.map((r) => [r.node_id, r.kill_status]), [['n9', 'queued']]);
  // and it writes kill policies; the agent reads them with its own role
  await client.query("CREATE KILL POLICY guard WHERE elapsed > 3600 EVERY 60 SECONDS LIMIT 10");
  assert.deepEqual(records(await client.query('SELECT name, cluster FROM system.kill_policies')), [{ name: 'guard', cluster: 'sec' }]);
  for (let i = 0; i < 100 && !/"policy":"guard".*"msg":"kill policy running"/.test(agent.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(agent.stderr(), /"policy":"guard".*"msg":"kill policy running"/);
  await client.query('DROP KILL POLICY guard');
  // nothing secret in the daemons' logs
  for (const c of [coordinator, agent]) {
    for (const pw of ETCD_PASSWORDS) assert.ok(!c.stderr().includes(pw), 'a password in the log');
  }
});

test('a wrong etcd password stops the agent at start with one line naming etcd and the reason', async () => {
  const agent = start(['agent', ...authEtcd.flags('quell-agent-n1'), '--node-id', 'n2', '--listen', '127.0.0.1:0', '--cluster', 'sec', ...(await agentTls('n2'))], {
    QUELL_ETCD_PASSWORD: 'not-the-password',
    QUELL_LOG_LEVEL: 'silent',
  });
  assert.notEqual(await agent.exited, 0);
  assert.match(
    agent.stderr(),
    new RegExp(`^Code: 516\\. AUTHENTICATION_FAILED: etcd at ${authEtcd.url.replace(/\./g, '\\.')} refused the credentials: [^\\n]*authentication failed[^\\n]*\\n$`),
  );
  assert.ok(!agent.stderr().includes('not-the-password'));
});

test('a password inside an --etcd URL is refused at start and shown nowhere', async () => {
  const url = authEtcd.url.replace('https://', `https://quell-agent:${etcdPassword('quell-agent-n1')}@`);
  const agent = start(['agent', '--etcd', url, '--etcd-ca', authEtcd.file('ca.pem'), '--node-id', 'n4', '--listen', '127.0.0.1:0', ...(await agentTls('n4'))], {});
  assert.notEqual(await agent.exited, 0);
  assert.equal(
    agent.stderr().split('\n').filter((l) => l.startsWith('Code:')).join('\n'),
    `Code: 36. BAD_ARGUMENTS: etcd: ${authEtcd.url.replace('https://', 'https://quell-agent:***@')} carries credentials in the URL, which quell does not send: give the user with --etcd-user and the password in QUELL_ETCD_PASSWORD`,
  );
  assert.ok(!agent.stderr().includes(etcdPassword('quell-agent-n1')) && !agent.stdout().includes(etcdPassword('quell-agent-n1')));
});

test('without a client certificate etcd refuses the connection: the agent waits, each warning naming etcd and the TLS files', async () => {
  const agent = start(['agent', '--etcd', authEtcd.url, '--etcd-ca', authEtcd.file('ca.pem'), '--etcd-user', 'quell-agent-n1', '--node-id', 'n3', '--listen', '127.0.0.1:0', ...(await agentTls('n3'))], {
    QUELL_ETCD_PASSWORD: etcdPassword('quell-agent-n1'),
  });
  // a TLS 1.3 server drops a client without a certificate after the handshake, and gRPC reports
  // any refused handshake without its reason: from here that looks like an etcd going away, so
  // the agent keeps trying, and each warning says what to check
  const warning = new RegExp(`"msg":"waiting for etcd: etcd at ${authEtcd.url.replace(/\./g, '\\.')} is unreachable: [^"]+the TLS handshake may have failed: check --etcd-ca, --etcd-cert and --etcd-key"`, 'g');
  for (let i = 0; i < 200 && (agent.stderr().match(warning) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok((agent.stderr().match(warning) ?? []).length >= 2, agent.stderr());
  assert.equal(agent.proc.exitCode, null);
  assert.equal(await agent.stop('SIGTERM'), 0);
});

test('a user whose role is limited to /quell/v1/ cannot read another prefix', async () => {
  const agentUser = authEtcd.connect('quell-agent-n1');
  try {
    assert.equal(typeof (await agentUser.get('/quell/v1/node-owner/n1').string()), 'string');
    const denied = await agentUser.get('/other/secret').string().then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(denied instanceof EtcdPermissionDeniedError, `expected permission denied, got ${String(denied)}`);
    assert.match(etcdUnavailable([authEtcd.url], denied).message, /^etcd at https:\/\/127\.0\.0\.1:\d+ denied the request: .*permission denied/);
  } finally {
    agentUser.close();
  }
  // no password: etcd takes the user from the certificate's CN, with the same roles
  const byCertificate = connectEtcd({ endpoints: [authEtcd.url], ca: authEtcd.file('ca.pem'), cert: authEtcd.file('quell-agent-n1.pem'), key: authEtcd.file('quell-agent-n1-key.pem') });
  try {
    await byCertificate.put('/quell/v1/mutation-kills-applied/cn-check/n1/x').value('ok');
    await assert.rejects(byCertificate.get('/other/secret').string(), EtcdPermissionDeniedError);
  } finally {
    byCertificate.close();
  }
  // an agent's etcd user writes its own keys and nothing a kill is made of: no policy, no
  // queued kill, no other node's liveness or membership (README §Threat model)
  const agentUser2 = authEtcd.connect('quell-agent-n1');
  try {
    const denied = [policyKey('sec', 'evil'), killIntentKey('evil'), aliveKey('n9'), nodeOwnerKey('n9'), memberKey('sec', 'n9'), memberKey('sec', 'n2'), '/quell/v1/coordinators/x'];
    for (const key of denied) await assert.rejects(agentUser2.put(key).value('{}').exec(), EtcdPermissionDeniedError, key);
    await assert.rejects(agentUser2.delete().key(policyKey('sec', 'guard')).exec(), EtcdPermissionDeniedError);
    await agentUser2.put('/quell/v1/server-id-incarnations/999999').value('1');
  } finally {
    agentUser2.close();
  }
  // the coordinator's role reads /quell/v1/ but writes only the kill queue and policies
  const coordinatorUser = authEtcd.connect('quell-coordinator');
  try {
    await assert.rejects(coordinatorUser.put(memberKey('sec', 'n9')).value('{}').exec(), EtcdPermissionDeniedError);
  } finally {
    coordinatorUser.close();
  }
});

test('quell cluster takes the same etcd flags: forget works as the admin user', async () => {
  const env = { QUELL_ETCD_PASSWORD: etcdPassword('quell-admin'), QUELL_LOG_LEVEL: 'silent' };
  const ls = start(['cluster', 'ls', ...authEtcd.flags('quell-admin'), '--cluster', 'sec'], env);
  assert.equal(await ls.exited, 0, ls.stderr());
  assert.deepEqual(ls.stdout().trim().split('\n').map((l) => [l.split('\t')[1], l.split('\t')[4]]), [['n1', '1'], ['n9', '0']]);
  const asCoordinator = start(['cluster', 'forget', 'n9', ...authEtcd.flags('quell-coordinator')], { ...env, QUELL_ETCD_PASSWORD: etcdPassword('quell-coordinator') });
  assert.notEqual(await asCoordinator.exited, 0);
  assert.match(asCoordinator.stderr(), /^Code: 497\. ACCESS_DENIED: etcd at \S+ denied the request: [^\n]*permission denied[^\n]*\n$/);
  const forget = start(['cluster', 'forget', 'n9', ...authEtcd.flags('quell-admin')], env);
  assert.equal(await forget.exited, 0, forget.stderr());
  assert.equal(forget.stdout(), 'forgot n9 in cluster sec\n');
});

test('the etcd password from a file: QUELL_ETCD_PASSWORD_FILE, --etcd-password-file, or a --config key; a missing one is one line', async () => {
  const secret = (user: EtcdUser): string => {
    const f = authEtcd.file(`${user}.password`);
    writeFileSync(f, `${etcdPassword(user)}\n`, { mode: 0o600 });
    return f;
  };
  const admin = secret('quell-admin');
  const env = { QUELL_LOG_LEVEL: 'silent' };
  const viaEnv = start(['cluster', 'ls', ...authEtcd.flags('quell-admin'), '--cluster', 'sec'], { ...env, QUELL_ETCD_PASSWORD_FILE: admin });
  assert.equal(await viaEnv.exited, 0, viaEnv.stderr());
  const viaFlag = start(['cluster', 'ls', ...authEtcd.flags('quell-admin'), '--cluster', 'sec', '--etcd-password-file', admin], env);
  assert.equal(await viaFlag.exited, 0, viaFlag.stderr());
  assert.equal(viaFlag.stderr(), '');

  // a coordinator whose etcd settings, password file included, are all in its --config file
  const pki = await testPki();
  const tls = pki.coordinator();
  const port = await freePort();
  const config = authEtcd.file('coordinator.yaml');
  writeFileSync(
    config,
    [
      `etcd: ${authEtcd.url}`,
      `etcd-ca: ${authEtcd.file('ca.pem')}`,
      `etcd-cert: ${authEtcd.file('quell-coordinator.pem')}`,
      `etcd-key: ${authEtcd.file('quell-coordinator-key.pem')}`,
      'etcd-user: quell-coordinator',
      `etcd-password-file: ${secret('quell-coordinator')}`,
      `listen: 127.0.0.1:${port}`,
      `tls-ca: ${tls.ca}`,
      `tls-cert: ${tls.cert}`,
      `tls-key: ${tls.key}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const coordinator = start(['coordinator', '--config', config], env);
  assert.equal((await coordinator.waitFor((e) => e.event === 'ready')).address, `127.0.0.1:${port}`);
  assert.equal(await coordinator.stop('SIGTERM'), 0);

  const missing = start(['cluster', 'ls', ...authEtcd.flags('quell-admin')], { ...env, QUELL_ETCD_PASSWORD_FILE: authEtcd.file('no-such-password') });
  assert.equal(await missing.exited, 2);
  assert.equal(missing.stderr(), `quell cluster: QUELL_ETCD_PASSWORD_FILE: cannot read ${authEtcd.file('no-such-password')}: ENOENT\n`);
});
