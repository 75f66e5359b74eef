import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EtcdPermissionDeniedError, Range, type Etcd3 } from 'etcd3';
import { freePort, spawnQuell, startEtcd, type Child, type EtcdServer } from '../../common/child-processes';
import { connectEtcd, etcdUnavailable } from '../../common/etcd';
import { AGENT_SHARED_WRITES, COORDINATOR_WRITES, agentOwnWrites, aliveKey, killIntentKey, memberKey, nodeOwnerKey, policyKey, type EtcdWrites } from '../../common/etcd-layout';
import { QuellClient } from '../../client/coordinator-client';
import { records } from './harness';
import { testPki } from './tls-fixture';

// docs/security.md: etcd with TLS, client certificates and `auth enable`; the daemons use
// --etcd-ca/--etcd-cert/--etcd-key and --etcd-user with QUELL_ETCD_PASSWORD, under the
// roles the README gives (set up here with the etcd3 client, as `etcdctl` would).

// one etcd user per node: `quell-agent-<node_id>`, holding the shared agent role and its node's own
const PASSWORDS = { root: 'root-pw', 'quell-agent-n1': 'agent-pw', 'quell-coordinator': 'coord-pw', 'quell-admin': 'admin-pw' } as const;
type EtcdUser = keyof typeof PASSWORDS;

let dir: string;
let etcd: EtcdServer;
const children: Child[] = [];
let client: QuellClient | undefined;

/** A CA and EC P-256 certificates for etcd (server) and each user (etcd's client-cert-auth takes the CN as the user). */
function makeCerts(into: string, names: readonly string[]): void {
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: into, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run('req', '-x509', ...newKey, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=quell test etcd CA');
  writeFileSync(path.join(into, 'ext.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const name of ['etcd-server', ...names]) {
    run('req', ...newKey, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', 'ext.cnf');
  }
}

const file = (name: string): string => path.join(dir, name);

/** The README's grants of one role: read everything under /quell/v1/, write only `writes`. */
function grants(writes: EtcdWrites, read = true): { permission: 'Read' | 'Readwrite'; range: Range }[] {
  return [
    ...(read ? [{ permission: 'Read' as const, range: Range.prefix('/quell/v1/') }] : []),
    ...writes.prefixes.map((p) => ({ permission: 'Readwrite' as const, range: Range.prefix(p) })),
    ...writes.keys.map((k) => ({ permission: 'Readwrite' as const, range: new Range(k) })),
  ];
}

function etcdAs(user: EtcdUser, password: string = PASSWORDS[user]): Etcd3 {
  return connectEtcd({ endpoints: [etcd.url], ca: file('ca.pem'), cert: file(`${user}.pem`), key: file(`${user}-key.pem`), user, password });
}

/** `--etcd …` flags of a daemon that logs in to etcd as `user`. */
function etcdFlags(user: EtcdUser): string[] {
  return ['--etcd', etcd.url, '--etcd-ca', file('ca.pem'), '--etcd-cert', file(`${user}.pem`), '--etcd-key', file(`${user}-key.pem`), '--etcd-user', user];
}

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
  dir = mkdtempSync(path.join(os.tmpdir(), 'quell-etcd-auth-'));
  makeCerts(dir, Object.keys(PASSWORDS));
  etcd = await startEtcd({ tls: { ca: file('ca.pem'), cert: file('etcd-server.pem'), key: file('etcd-server-key.pem'), client: { cert: file('root.pem'), key: file('root-key.pem') } } });
  // before `auth enable` the root certificate alone is enough: the README's roles, then auth on
  const setup = connectEtcd({ endpoints: [etcd.url], ca: file('ca.pem'), cert: file('root.pem'), key: file('root-key.pem') });
  try {
    await setup.user('root').create(PASSWORDS.root);
    await setup.role('root').create();
    await setup.user('root').addRole('root');
    const quell = Range.prefix('/quell/v1/');
    await setup.role('quell-agent').create();
    await setup.role('quell-agent').grant(grants(AGENT_SHARED_WRITES));
    await setup.role('quell-agent-n1').create();
    await setup.role('quell-agent-n1').grant(grants(agentOwnWrites('n1', ['sec']), false));
    await setup.role('quell-coordinator').create();
    await setup.role('quell-coordinator').grant(grants(COORDINATOR_WRITES));
    await setup.role('quell-admin').create();
    await setup.role('quell-admin').grant({ permission: 'Readwrite', range: quell });
    for (const user of ['quell-agent-n1', 'quell-coordinator', 'quell-admin'] as const) {
      await setup.user(user).create(PASSWORDS[user]);
      await setup.user(user).addRole(user);
    }
    await setup.user('quell-agent-n1').addRole('quell-agent');
    await setup.put('/other/secret').value('not quell’s');
    await setup.put(memberKey('sec', 'n9')).value(JSON.stringify({ cluster: 'sec', node_id: 'n9', address: '127.0.0.1:9', joined_at: new Date().toISOString() }));
    await setup.auth.authEnable();
  } finally {
    setup.close();
  }
});

after(async () => {
  client?.close();
  await Promise.all(children.map((c) => c.stop('SIGTERM', 3_000)));
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a coordinator and an agent work against etcd with TLS, client certificates and auth enable', async () => {
  const pki = await testPki();
  const coordinator = start(['coordinator', ...etcdFlags('quell-coordinator'), '--listen', `127.0.0.1:${await freePort()}`, '--default-cluster', 'sec', ...pki.argv(pki.coordinator())], {
    QUELL_ETCD_PASSWORD: PASSWORDS['quell-coordinator'],
  });
  const agent = start(['agent', ...etcdFlags('quell-agent-n1'), '--node-id', 'n1', '--listen', '127.0.0.1:0', '--cluster', 'sec', ...(await agentTls('n1'))], {
    QUELL_ETCD_PASSWORD: PASSWORDS['quell-agent-n1'],
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
    for (const pw of Object.values(PASSWORDS)) assert.ok(!c.stderr().includes(pw), 'a password in the log');
  }
});

test('a wrong etcd password stops the agent at start with one line naming etcd and the reason', async () => {
  const agent = start(['agent', ...etcdFlags('quell-agent-n1'), '--node-id', 'n2', '--listen', '127.0.0.1:0', '--cluster', 'sec', ...(await agentTls('n2'))], {
    QUELL_ETCD_PASSWORD: 'not-the-password',
    QUELL_LOG_LEVEL: 'silent',
  });
  assert.notEqual(await agent.exited, 0);
  assert.match(
    agent.stderr(),
    new RegExp(`^Code: 516\\. AUTHENTICATION_FAILED: etcd at ${etcd.url.replace(/\./g, '\\.')} refused the credentials: [^\\n]*authentication failed[^\\n]*\\n$`),
  );
  assert.ok(!agent.stderr().includes('not-the-password'));
});

test('without a client certificate etcd refuses the connection: one line naming etcd', async () => {
  const agent = start(['agent', '--etcd', etcd.url, '--etcd-ca', file('ca.pem'), '--etcd-user', 'quell-agent-n1', '--node-id', 'n3', '--listen', '127.0.0.1:0', ...(await agentTls('n3'))], {
    QUELL_ETCD_PASSWORD: PASSWORDS['quell-agent-n1'],
    QUELL_LOG_LEVEL: 'silent',
  });
  assert.notEqual(await agent.exited, 0);
  assert.match(
    agent.stderr(),
    new RegExp(`^Code: 279\\. ALL_CONNECTION_TRIES_FAILED: etcd at ${etcd.url.replace(/\./g, '\\.')} is unreachable: [^\\n]+the TLS handshake may have failed: check --etcd-ca, --etcd-cert and --etcd-key\\n$`),
  );
});

test('a user whose role is limited to /quell/v1/ cannot read another prefix', async () => {
  const agentUser = etcdAs('quell-agent-n1');
  try {
    assert.equal(typeof (await agentUser.get('/quell/v1/node-owner/n1').string()), 'string');
    const denied = await agentUser.get('/other/secret').string().then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(denied instanceof EtcdPermissionDeniedError, `expected permission denied, got ${String(denied)}`);
    assert.match(etcdUnavailable([etcd.url], denied).message, /^etcd at https:\/\/127\.0\.0\.1:\d+ denied the request: .*permission denied/);
  } finally {
    agentUser.close();
  }
  // no password: etcd takes the user from the certificate's CN, with the same roles
  const byCertificate = connectEtcd({ endpoints: [etcd.url], ca: file('ca.pem'), cert: file('quell-agent-n1.pem'), key: file('quell-agent-n1-key.pem') });
  try {
    await byCertificate.put('/quell/v1/mutation-kills-applied/cn-check/n1/x').value('ok');
    await assert.rejects(byCertificate.get('/other/secret').string(), EtcdPermissionDeniedError);
  } finally {
    byCertificate.close();
  }
  // an agent's etcd user writes its own keys and nothing a kill is made of: no policy, no
  // queued kill, no other node's liveness or membership (README §Threat model)
  const agentUser2 = etcdAs('quell-agent-n1');
  try {
    const denied = [policyKey('sec', 'evil'), killIntentKey('evil'), aliveKey('n9'), nodeOwnerKey('n9'), memberKey('sec', 'n9'), memberKey('sec', 'n2'), '/quell/v1/coordinators/x'];
    for (const key of denied) await assert.rejects(agentUser2.put(key).value('{}').exec(), EtcdPermissionDeniedError, key);
    await assert.rejects(agentUser2.delete().key(policyKey('sec', 'guard')).exec(), EtcdPermissionDeniedError);
    await agentUser2.put('/quell/v1/server-id-incarnations/999999').value('1');
  } finally {
    agentUser2.close();
  }
  // the coordinator's role reads /quell/v1/ but writes only the kill queue and policies
  const coordinatorUser = etcdAs('quell-coordinator');
  try {
    await assert.rejects(coordinatorUser.put(memberKey('sec', 'n9')).value('{}').exec(), EtcdPermissionDeniedError);
  } finally {
    coordinatorUser.close();
  }
});

test('quell cluster takes the same etcd flags: forget works as the admin user', async () => {
  const env = { QUELL_ETCD_PASSWORD: PASSWORDS['quell-admin'], QUELL_LOG_LEVEL: 'silent' };
  const ls = start(['cluster', 'ls', ...etcdFlags('quell-admin'), '--cluster', 'sec'], env);
  assert.equal(await ls.exited, 0, ls.stderr());
  assert.deepEqual(ls.stdout().trim().split('\n').map((l) => [l.split('\t')[1], l.split('\t')[4]]), [['n1', '1'], ['n9', '0']]);
  const asCoordinator = start(['cluster', 'forget', 'n9', ...etcdFlags('quell-coordinator')], { ...env, QUELL_ETCD_PASSWORD: PASSWORDS['quell-coordinator'] });
  assert.notEqual(await asCoordinator.exited, 0);
  assert.match(asCoordinator.stderr(), /^Code: 497\. ACCESS_DENIED: etcd at \S+ denied the request: [^\n]*permission denied[^\n]*\n$/);
  const forget = start(['cluster', 'forget', 'n9', ...etcdFlags('quell-admin')], env);
  assert.equal(await forget.exited, 0, forget.stderr());
  assert.equal(forget.stdout(), 'forgot n9 in cluster sec\n');
});

test('the etcd password from a file: QUELL_ETCD_PASSWORD_FILE, --etcd-password-file, or a --config key; a missing one is one line', async () => {
  const secret = (user: EtcdUser): string => {
    const f = file(`${user}.password`);
    writeFileSync(f, `${PASSWORDS[user]}\n`, { mode: 0o600 });
    return f;
  };
  const admin = secret('quell-admin');
  const env = { QUELL_LOG_LEVEL: 'silent' };
  const viaEnv = start(['cluster', 'ls', ...etcdFlags('quell-admin'), '--cluster', 'sec'], { ...env, QUELL_ETCD_PASSWORD_FILE: admin });
  assert.equal(await viaEnv.exited, 0, viaEnv.stderr());
  const viaFlag = start(['cluster', 'ls', ...etcdFlags('quell-admin'), '--cluster', 'sec', '--etcd-password-file', admin], env);
  assert.equal(await viaFlag.exited, 0, viaFlag.stderr());
  assert.equal(viaFlag.stderr(), '');

  // a coordinator whose etcd settings, password file included, are all in its --config file
  const pki = await testPki();
  const tls = pki.coordinator();
  const port = await freePort();
  const config = file('coordinator.yaml');
  writeFileSync(
    config,
    [
      `etcd: ${etcd.url}`,
      `etcd-ca: ${file('ca.pem')}`,
      `etcd-cert: ${file('quell-coordinator.pem')}`,
      `etcd-key: ${file('quell-coordinator-key.pem')}`,
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

  const missing = start(['cluster', 'ls', ...etcdFlags('quell-admin')], { ...env, QUELL_ETCD_PASSWORD_FILE: file('no-such-password') });
  assert.equal(await missing.exited, 2);
  assert.equal(missing.stderr(), `quell cluster: QUELL_ETCD_PASSWORD_FILE: cannot read ${file('no-such-password')}: ENOENT\n`);
});
