import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { spawnChild, spawnQuell } from '../../common/daemon/child-processes';
import { identityOfCertificate } from '../../common/tls/identity';
import { TransportSecurity } from '../../common/tls';
import { loadCertFiles } from '../../common/tls/cert-files';
import { MysqlDoor } from '../../coordinator/doors/mysql/door';
import { SessionRegistry } from '../../coordinator/doors/sessions';
import { StatementRunner, type RunnerDeps } from '../../coordinator/statements/statement-runner';
import { Users } from '../../coordinator/auth/users';

// `quell certs init DIR`: a CA and one certificate per identity, made with openssl.

const root = mkdtempSync(path.join(os.tmpdir(), 'quell-certs-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function quell(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnQuell(args);
  const code = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

function x509(file: string): X509Certificate {
  return new X509Certificate(readFileSync(file));
}

test('certs init writes a CA and certificates with one URI SAN each, keys private', async () => {
  const dir = path.join(root, 'pki');
  const r = await quell('certs', 'init', dir, '--nodes', 'n1,n2', '--users', 'alice', '--days', '30');
  assert.equal(r.code, 0, r.stderr);
  const files = readdirSync(dir).sort();
  assert.deepEqual(files, [
    'agent-n1-key.pem', 'agent-n1.pem', 'agent-n2-key.pem', 'agent-n2.pem', 'ca-key.pem', 'ca.pem',
    'coordinator-key.pem', 'coordinator.pem', 'user-alice-key.pem', 'user-alice.pem', 'workload-key.pem', 'workload.pem',
  ]);
  assert.deepEqual(r.stdout.trim().split('\n'), files.map((f) => `wrote ${path.join(dir, f)}`));
  for (const f of files.filter((f) => f.endsWith('-key.pem'))) assert.equal(statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
  const ca = x509(path.join(dir, 'ca.pem'));
  assert.ok(ca.ca);
  const expected: Record<string, string> = {
    'agent-n1.pem': 'URI:spiffe://quell/agent/n1, DNS:localhost, IP Address:127.0.0.1',
    'agent-n2.pem': 'URI:spiffe://quell/agent/n2, DNS:localhost, IP Address:127.0.0.1',
    'coordinator.pem': 'URI:spiffe://quell/coordinator, DNS:localhost, IP Address:127.0.0.1',
    'user-alice.pem': 'URI:spiffe://quell/user/alice, DNS:localhost, IP Address:127.0.0.1',
    'workload.pem': 'URI:spiffe://quell/workload, DNS:localhost, IP Address:127.0.0.1',
  };
  for (const [file, san] of Object.entries(expected)) {
    const cert = x509(path.join(dir, file));
    assert.equal(cert.subjectAltName, san, file);
    assert.ok(cert.verify(ca.publicKey), `${file} is signed by ca.pem`);
    assert.ok(cert.checkIssued(ca));
    assert.equal(cert.ca, false);
    assert.equal(Date.parse(cert.validTo) - Date.parse(cert.validFrom), 30 * 86_400_000, file);
    assert.ok(identityOfCertificate({ subjectaltname: cert.subjectAltName ?? '' }).ok);
    assert.doesNotThrow(() => loadCertFiles({ ca: path.join(dir, 'ca.pem'), cert: path.join(dir, file), key: path.join(dir, file.replace('.pem', '-key.pem')) }, 'quell'));
  }
});

test('certs init again keeps what exists and adds new nodes under the same CA', async () => {
  const dir = path.join(root, 'grow');
  assert.equal((await quell('certs', 'init', dir, '--nodes', 'n1')).code, 0);
  const caBefore = readFileSync(path.join(dir, 'ca.pem'));
  const n1Before = readFileSync(path.join(dir, 'agent-n1.pem'));
  const again = await quell('certs', 'init', dir, '--nodes', 'n1,n9', '--trust-domain', 'prod.example');
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(again.stdout.trim().split('\n'), [`wrote ${path.join(dir, 'agent-n9-key.pem')}`, `wrote ${path.join(dir, 'agent-n9.pem')}`]);
  assert.deepEqual(readFileSync(path.join(dir, 'ca.pem')), caBefore);
  assert.deepEqual(readFileSync(path.join(dir, 'agent-n1.pem')), n1Before);
  const n9 = x509(path.join(dir, 'agent-n9.pem'));
  assert.equal(n9.subjectAltName, 'URI:spiffe://prod.example/agent/n9, DNS:localhost, IP Address:127.0.0.1');
  assert.ok(n9.verify(x509(path.join(dir, 'ca.pem')).publicKey));
  const none = await quell('certs', 'init', dir, '--nodes', 'n1');
  assert.equal(none.stdout, `${dir} already holds every certificate asked for\n`);
});

test('certs init refuses bad input with one line and writes nothing for it', async () => {
  const dir = path.join(root, 'bad');
  const badUser = await quell('certs', 'init', dir, '--users', 'bob smith');
  assert.notEqual(badUser.code, 0);
  assert.equal(badUser.stderr, "Code: 36. BAD_ARGUMENTS: invalid user name 'bob smith' for a certificate identity: use 1-128 characters from [A-Za-z0-9_.-]\n");
  assert.ok(!existsSync(dir), 'nothing written, not even the CA');
  const noVerb = await quell('certs', dir);
  assert.deepEqual([noVerb.code, noVerb.stderr], [2, "quell certs: expected 'init DIR' or 'issue DIR ROLE [ID]'; see quell certs --help\n"]);
  const badDays = await quell('certs', 'init', dir, '--days', '0');
  assert.deepEqual([badDays.code, badDays.stderr], [2, 'quell certs: --days must be at least 1\n']);
  const badTd = await quell('certs', 'init', path.join(root, 'td'), '--trust-domain', 'Not Valid');
  assert.equal(badTd.stderr, "Code: 36. BAD_ARGUMENTS: invalid trust domain 'Not Valid': use lowercase letters, digits, '.', '-' and '_'\n");
});

test('certs init --san puts the host names and addresses in the coordinator and agent certificates (DNS and IP SANs), and adds new ones later', async () => {
  const dir = path.join(root, 'san');
  const r = await quell('certs', 'init', dir, '--nodes', 'n1', '--users', 'alice', '--san', '127.0.0.2,db1.example.com,10.0.0.2');
  assert.equal(r.code, 0, r.stderr);
  const extra = 'IP Address:127.0.0.2, DNS:db1.example.com, IP Address:10.0.0.2';
  assert.equal(x509(path.join(dir, 'coordinator.pem')).subjectAltName, `URI:spiffe://quell/coordinator, DNS:localhost, IP Address:127.0.0.1, ${extra}`);
  assert.equal(x509(path.join(dir, 'agent-n1.pem')).subjectAltName, `URI:spiffe://quell/agent/n1, DNS:localhost, IP Address:127.0.0.1, ${extra}`);
  // clients only: no server names
  assert.equal(x509(path.join(dir, 'workload.pem')).subjectAltName, 'URI:spiffe://quell/workload, DNS:localhost, IP Address:127.0.0.1');
  assert.equal(x509(path.join(dir, 'user-alice.pem')).subjectAltName, 'URI:spiffe://quell/user/alice, DNS:localhost, IP Address:127.0.0.1');
  const coordinator = x509(path.join(dir, 'coordinator.pem'));
  assert.equal(coordinator.checkHost('db1.example.com'), 'db1.example.com');
  assert.equal(coordinator.checkIP('10.0.0.2'), '10.0.0.2');
  assert.equal(coordinator.checkHost('db2.example.com'), undefined);
  assert.doesNotThrow(() => loadCertFiles({ ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'coordinator.pem'), key: path.join(dir, 'coordinator-key.pem') }, 'quell'));

  // a name added later: the server certificates are issued again with the old names and the new one; the CA stays
  const caBefore = readFileSync(path.join(dir, 'ca.pem'));
  const workloadBefore = readFileSync(path.join(dir, 'workload.pem'));
  const more = await quell('certs', 'init', dir, '--nodes', 'n1', '--san', 'db2.example.com');
  assert.equal(more.code, 0, more.stderr);
  assert.deepEqual(more.stdout.trim().split('\n'), ['agent-n1-key.pem', 'agent-n1.pem', 'coordinator-key.pem', 'coordinator.pem'].map((f) => `wrote ${path.join(dir, f)}`));
  assert.equal(x509(path.join(dir, 'coordinator.pem')).subjectAltName, `URI:spiffe://quell/coordinator, DNS:localhost, IP Address:127.0.0.1, ${extra}, DNS:db2.example.com`);
  assert.ok(x509(path.join(dir, 'coordinator.pem')).verify(x509(path.join(dir, 'ca.pem')).publicKey));
  assert.deepEqual(readFileSync(path.join(dir, 'ca.pem')), caBefore);
  assert.deepEqual(readFileSync(path.join(dir, 'workload.pem')), workloadBefore);
  const same = await quell('certs', 'init', dir, '--nodes', 'n1', '--san', 'db2.example.com,10.0.0.2');
  assert.equal(same.stdout, `${dir} already holds every certificate asked for\n`);

  const bad = await quell('certs', 'init', path.join(root, 'bad-san'), '--san', 'db1.example.com,not a host');
  assert.deepEqual([bad.code, bad.stderr], [36, "Code: 36. BAD_ARGUMENTS: invalid --san entry 'not a host': expected a host name (letters, digits, '-' and '.') or an IP address\n"]);
  assert.ok(!existsSync(path.join(root, 'bad-san')), 'nothing written');
});

/** The MySQL door on 127.0.0.2 with a certs-init directory's coordinator certificate (no cluster: a login and the session's own statements). */
async function doorOn127002(dir: string): Promise<{ door: MysqlDoor; security: TransportSecurity }> {
  const security = TransportSecurity.from({ ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'coordinator.pem'), key: path.join(dir, 'coordinator-key.pem') });
  const sessions = new SessionRegistry();
  const deps = { users: Users.defaults(), defaultCluster: 'c', log: pino({ level: 'silent' }), sessions } as unknown as RunnerDeps;
  const door = await MysqlDoor.start({ listen: '127.0.0.2:0', security, runner: new StatementRunner(deps), sessions, log: pino({ level: 'silent' }) });
  return { door, security };
}

test('mariadb --ssl-verify-server-cert reaches a coordinator by an address given to --san; without it the client refuses the certificate', async () => {
  const withSan = path.join(root, 'verify-san');
  const without = path.join(root, 'verify-plain');
  assert.equal((await quell('certs', 'init', withSan, '--san', '127.0.0.2')).code, 0);
  assert.equal((await quell('certs', 'init', without)).code, 0);
  for (const [dir, ok] of [[withSan, true], [without, false]] as const) {
    const { door, security } = await doorOn127002(dir);
    try {
      const port = door.address.split(':')[1] ?? '';
      const cli = spawnChild('mariadb', ['-h127.0.0.2', `-P${port}`, '--ssl-verify-server-cert', `--ssl-ca=${path.join(dir, 'ca.pem')}`, '-udefault', '-N', '-e', "SHOW STATUS LIKE 'Ssl_version'"]);
      const code = await cli.exited;
      if (ok) {
        assert.equal(code, 0, cli.stderr());
        assert.match(cli.stdout(), /^Ssl_version\tTLSv1\.[23]$/m);
      } else {
        assert.equal(code, 1);
        assert.equal(cli.stderr().trim(), 'ERROR 2026 (HY000): TLS/SSL error: Validation of SSL server certificate failed');
      }
    } finally {
      door.destroy();
      security.close();
    }
  }
});

test('certs issue makes one certificate from the CA in DIR, replacing the old one with its names kept; bad input is one line', async () => {
  const dir = path.join(root, 'issue');
  assert.equal((await quell('certs', 'init', dir, '--nodes', 'n1', '--san', 'db1.example')).code, 0);
  const ca = x509(path.join(dir, 'ca.pem'));
  const pairOf = (name: string): { ca: string; cert: string; key: string } => ({ ca: path.join(dir, 'ca.pem'), cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}-key.pem`) });

  // a new node, for 10 days
  const n2 = await quell('certs', 'issue', dir, 'agent', 'n2', '--days', '10');
  assert.equal(n2.code, 0, n2.stderr);
  const n2Cert = x509(pairOf('agent-n2').cert);
  assert.equal(n2.stdout, `wrote ${pairOf('agent-n2').cert} (spiffe://quell/agent/n2, valid until ${new Date(n2Cert.validTo).toISOString()})\nwrote ${pairOf('agent-n2').key}\n`);
  assert.equal(n2Cert.subjectAltName, 'URI:spiffe://quell/agent/n2, DNS:localhost, IP Address:127.0.0.1');
  assert.ok(n2Cert.verify(ca.publicKey));
  assert.equal(Date.parse(n2Cert.validTo) - Date.parse(n2Cert.validFrom), 10 * 86_400_000);
  assert.equal(statSync(pairOf('agent-n2').key).mode & 0o777, 0o600);
  assert.doesNotThrow(() => loadCertFiles(pairOf('agent-n2'), 'quell'));

  // a rotation of n1: a new key, the names it had kept, --san ones added
  const oldKey = readFileSync(pairOf('agent-n1').key);
  const n1 = await quell('certs', 'issue', dir, 'agent', 'n1', '--san', '10.0.0.7');
  assert.equal(n1.code, 0, n1.stderr);
  assert.notDeepEqual(readFileSync(pairOf('agent-n1').key), oldKey);
  assert.equal(x509(pairOf('agent-n1').cert).subjectAltName, 'URI:spiffe://quell/agent/n1, DNS:localhost, IP Address:127.0.0.1, DNS:db1.example, IP Address:10.0.0.7');
  assert.doesNotThrow(() => loadCertFiles(pairOf('agent-n1'), 'quell'));

  // the other roles, and another trust domain
  for (const [args, name, uri] of [
    [['coordinator'], 'coordinator', 'spiffe://quell/coordinator'],
    [['workload'], 'workload', 'spiffe://quell/workload'],
    [['user', 'carol'], 'user-carol', 'spiffe://quell/user/carol'],
    [['user', 'dave', '--trust-domain', 'prod.example'], 'user-dave', 'spiffe://prod.example/user/dave'],
  ] as const) {
    const r = await quell('certs', 'issue', dir, ...args);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(x509(pairOf(name).cert).subjectAltName?.startsWith(`URI:${uri}, `), name);
    assert.ok(x509(pairOf(name).cert).verify(ca.publicKey), name);
  }
  assert.equal(x509(pairOf('coordinator').cert).subjectAltName, 'URI:spiffe://quell/coordinator, DNS:localhost, IP Address:127.0.0.1, DNS:db1.example');
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.')), [], 'no staging left behind');

  for (const [args, line, code] of [
    [['issue', path.join(root, 'no-ca'), 'workload'], `Code: 36. BAD_ARGUMENTS: ${path.join(root, 'no-ca')} holds no CA (ca.pem and ca-key.pem): make one with quell certs init ${path.join(root, 'no-ca')}, or issue from your own PKI`, 36],
    [['issue', dir, 'agent'], 'quell certs: issue agent needs its NODE_ID', 2],
    [['issue', dir, 'admin'], 'quell certs: issue needs a role: coordinator, agent NODE_ID, workload, user NAME; see quell certs --help', 2],
    [['issue', dir, 'workload', 'extra'], "quell certs: unexpected argument 'extra'", 2],
    [['issue', dir, 'user', 'erin', '--san', 'h.example'], 'quell certs: --san is for coordinator and agent certificates: they are the ones clients check by name', 2],
    [['issue', dir, 'agent', 'n3', '--nodes', 'n4'], 'quell certs: --nodes and --users are for init; issue makes the one certificate named', 2],
    [['issue', dir, 'agent', 'bad/id'], undefined, 1],
  ] as const) {
    const r = await quell('certs', ...args);
    assert.notEqual(r.code, 0, args.join(' '));
    if (line !== undefined) assert.deepEqual([r.stderr, r.code], [`${line}\n`, code]);
    else assert.equal(r.stderr.split('\n').length, 2, r.stderr);
  }
  assert.ok(!existsSync(path.join(root, 'no-ca')) || readdirSync(path.join(root, 'no-ca')).length === 0);
});
