import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QuellClient } from '../../client/coordinator-client';
import { QuellError } from '../../errors/quell-error';
import { spawnQuell } from '../../common/daemon/child-processes';
import { connectEtcd } from '../../common/etcd/client';
import { killLogHeadKey } from '../../common/etcd/etcd-layout';
import { TestCluster, useCluster, eventsOf, fillFileSystem, records, sleep } from './harness';
import { unixNow } from '../../sql/compile';

// docs/statement-path.md §The kill log, end to end: real agents append every kill, refused kill and TEST
// listing to their own log before anything is cancelled or reported, and the log reads back
// cluster-wide through the coordinator.

const USERS = `
users:
  default: { grants: [ALL] }
  admin: { password: admin-pw, grants: [ALL] }
  bob: { password: bob-pw }
  viewer: { password: viewer-pw, readonly: true }
  auditor: { password: auditor-pw, readonly: true, grants: [PROCESS] }
`;
const COORDINATOR = 'spiffe://quell/coordinator';
const TTL = 2;

let c: TestCluster;
useCluster({ cluster: 'c3', nodes: 3, users: USERS, leaseTtlSeconds: TTL }, (started) => (c = started));

/** The kill log entries of one statement, every node, in a stable order. */
async function logOf(statementId: string, user = 'default', password = ''): Promise<Record<string, unknown>[]> {
  return records(
    await c.query(
      'SELECT node_id, statement_id, user, client, coordinator, target, mode, condition, query_id, process_user, query, kill_status, error, event_time ' +
        `FROM clusterAllReplicas('c3', system.kill_log) WHERE statement_id = '${statementId}' ORDER BY node_id, query_id, kill_status`,
      user,
      password,
    ),
  );
}

/** A client that logs in with a user certificate: the kill log names it by that identity. */
function certClient(user: string): QuellClient {
  return new QuellClient(c.address, { user, tls: c.pki.user(user) });
}

test('a SYNC kill: one pending entry per process before the cancel, one finished entry before its row, on every node', async () => {
  await Promise.all(['n1', 'n2', 'n3'].map((n) => c.sim(n, ['--queries', '1', '--user', 'alice', '--query-id-prefix', `sync-${n}-`])));
  const admin = certClient('admin');
  try {
    const killed = records(await admin.query("KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 'sync-%' SYNC", { statementId: 'kl-sync' }));
    assert.deepEqual(killed.map((r) => r.kill_status), ['finished', 'finished', 'finished']);
  } finally {
    admin.close();
  }
  const entries = await logOf('kl-sync');
  const now = unixNow();
  assert.deepEqual(
    entries.map((e) => [e.node_id, e.query_id, e.kill_status]),
    ['n1', 'n2', 'n3'].flatMap((n) => [[n, `sync-${n}-1`, 'finished'], [n, `sync-${n}-1`, 'pending']]),
  );
  for (const e of entries) {
    assert.equal(e.user, 'admin');
    assert.equal(e.client, 'spiffe://quell/user/admin');
    assert.equal(e.coordinator, COORDINATOR);
    assert.equal(e.target, 'QUERY');
    assert.equal(e.mode, 'SYNC');
    assert.equal(e.condition, "like(query_id, 'sync-%')");
    assert.equal(e.process_user, 'alice');
    assert.equal(e.error, '');
    assert.ok(Math.abs(Number(e.event_time) - now) < 60, 'event_time is now');
  }
  // the reader filters on the node: one row per killed process with its final status
  const finals = records(await c.query("SELECT node_id, query_id FROM clusterAllReplicas('c3', system.kill_log) WHERE statement_id = 'kl-sync' AND kill_status = 'finished' ORDER BY node_id"));
  assert.deepEqual(finals.map((r) => r.node_id), ['n1', 'n2', 'n3']);
});

test('a TEST listing is logged (unknown_status), with the client address of a password login', async () => {
  await c.sim('n2', ['--queries', '2', '--user', 'alice', '--query-id-prefix', 'test-'], 2);
  const rows = records(await c.client('admin', 'admin-pw').query("KILL QUERY WHERE query_id LIKE 'test-%' TEST", { statementId: 'kl-test' }));
  assert.deepEqual(rows.map((r) => r.kill_status), ['unknown_status', 'unknown_status']);
  const entries = await logOf('kl-test');
  assert.deepEqual(entries.map((e) => [e.node_id, e.query_id, e.mode, e.kill_status]), [
    ['n2', 'test-1', 'TEST', 'unknown_status'],
    ['n2', 'test-2', 'TEST', 'unknown_status'],
  ]);
  for (const e of entries) assert.match(String(e.client), /^(ipv4:|ipv6:)?(127\.0\.0\.1|\[?::1\]?|::ffff:127\.0\.0\.1):\d+$/);
});

test('a refused kill (ACCESS_DENIED) is logged as access_denied with the reason; nothing is cancelled', async () => {
  const sim = await c.sim('n3', ['--queries', '1', '--user', 'alice', '--query-id-prefix', 'denied-']);
  await assert.rejects(
    c.query("KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 'denied-%' SYNC", 'bob', 'bob-pw'),
    (e: unknown) => e instanceof QuellError && e.errorName === 'ACCESS_DENIED',
  );
  await assert.rejects(c.client('bob', 'bob-pw').query("KILL QUERY WHERE query_id = 'denied-1'", { statementId: 'kl-denied' }), /attempts to kill query created by alice/);
  const entries = await logOf('kl-denied');
  assert.deepEqual(entries.map((e) => [e.node_id, e.user, e.query_id, e.process_user, e.mode, e.kill_status]), [['n3', 'bob', 'denied-1', 'alice', 'ASYNC', 'access_denied']]);
  assert.match(String(entries[0]?.error), /^not killed: bob has no grant to kill processes of other users \(owner alice\)$/);
  assert.deepEqual(eventsOf(sim, 'cancel'), []);
});

test('reading the kill log takes PROCESS or ALL: a readonly user without it is refused in ClickHouse words', async () => {
  await assert.rejects(
    c.query("SELECT count() FROM clusterAllReplicas('c3', system.kill_log)", 'viewer', 'viewer-pw'),
    (e: unknown) =>
      e instanceof QuellError && e.code === 497 && e.errorName === 'ACCESS_DENIED' && /^viewer: Not enough privileges\. To execute this query it's necessary to have grant PROCESS ON system\.kill_log$/.test(e.message),
  );
  await assert.rejects(c.query("SELECT * FROM clusterAllReplicas('c3', system.kill_log)", 'bob', 'bob-pw'), /ACCESS_DENIED|Not enough privileges/);
  const read = await logOf('kl-sync', 'auditor', 'auditor-pw');
  assert.equal(read.length, 6, 'a readonly user with PROCESS reads it');
});

test('entries written just before an agent is SIGKILLed survive its restart with the same --kill-log-dir', async () => {
  await c.sim('n1', ['--queries', '2', '--user', 'alice', '--query-id-prefix', 'crash-'], 2);
  const rows = records(await c.client().query("KILL QUERY WHERE query_id LIKE 'crash-%'", { statementId: 'kl-crash' }));
  assert.deepEqual(rows.map((r) => r.kill_status), ['waiting', 'waiting']);
  // no clean shutdown: whatever a client saw must already be on disk
  c.agent('n1').child.proc.kill('SIGKILL');
  await c.agent('n1').child.exited;
  await c.addAgent('n1');
  await c.waitForActive(3, (TTL + 10) * 1000);
  const entries = await logOf('kl-crash');
  assert.deepEqual(entries.map((e) => [e.node_id, e.query_id, e.mode, e.kill_status]), [
    ['n1', 'crash-1', 'ASYNC', 'waiting'],
    ['n1', 'crash-2', 'ASYNC', 'waiting'],
  ]);
  // the older entries of n1 are still there too
  assert.equal((await logOf('kl-sync')).filter((e) => e.node_id === 'n1').length, 2);
});

test('a full disk under the kill log: the kill is not carried out, its row says why, and kills work again once there is room', async () => {
  const mount = mkdtempSync(path.join(os.tmpdir(), 'quell-kill-log-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mount]);
  try {
    const agent = await c.addAgent('n4', 'disk', ['--kill-log-dir', mount]);
    const filler = path.join(mount, 'filler');
    fillFileSystem(filler);
    const sim = await c.sim('n4', ['--queries', '1', '--user', 'alice', '--query-id-prefix', 'full-']);
    const refused = records(await c.query("KILL QUERY ON CLUSTER disk WHERE query_id = 'full-1' SYNC"));
    assert.equal(refused.length, 1);
    assert.equal(refused[0]?.kill_status, 'cant_cancel');
    assert.equal(refused[0]?.node_id, 'n4');
    assert.match(String(refused[0]?.error), /^not killed: kill log unwritable: ENOSPC: no space left on device/);
    assert.deepEqual(eventsOf(sim, 'cancel'), [], 'the workload was never told to cancel');
    // nothing crashed: the agent answers, and the process is still there
    const listed = records(await c.query("SELECT query_id FROM clusterAllReplicas('disk', system.processes)"));
    assert.deepEqual(listed.map((r) => r.query_id), ['full-1']);
    assert.equal(agent.child.proc.exitCode, null);

    rmSync(filler);
    const killed = records(await c.query("KILL QUERY ON CLUSTER disk WHERE query_id = 'full-1' SYNC", 'default', ''));
    assert.deepEqual(killed.map((r) => r.kill_status), ['finished']);
    assert.equal(eventsOf(sim, 'cancel').length, 1);
    const entries = records(await c.query("SELECT query_id, kill_status FROM clusterAllReplicas('disk', system.kill_log) ORDER BY kill_status"));
    assert.deepEqual(entries.map((r) => [r.query_id, r.kill_status]), [['full-1', 'finished'], ['full-1', 'pending']], 'the refused kill left no entry');
  } finally {
    await c.agents.get('n4')?.child.stop('SIGTERM', 3_000);
    c.agents.delete('n4');
    execFileSync('umount', ['-l', mount]);
    rmSync(mount, { recursive: true, force: true });
  }
});

test('the coordinator logs one info line per statement: who, from where, what, statuses, nodes missed; no password, no SQL text', async () => {
  await c.sim('n2', ['--queries', '1', '--user', 'alice', '--query-id-prefix', 'line-']);
  const sql = "kill   query on cluster c3 where   query_id = 'line-1'   sync";
  const rows = records(await c.client('admin', 'admin-pw').query(sql, { statementId: 'kl-line' }));
  assert.deepEqual(rows.map((r) => r.kill_status), ['finished']);
  // cluster disk's only member (n4) was stopped by the test before: a node row
  await c.client('admin', 'admin-pw').query("KILL QUERY ON CLUSTER disk WHERE query_id = 'none' ASYNC", { statementId: 'kl-missed' });
  const lines = (id: string) =>
    c.coordinator
      .stderr()
      .split('\n')
      .filter((l) => l.includes(`"statement_id":"${id}"`))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.level === 30);
  // the line is written before the result ends, but pino writes stderr asynchronously
  for (let i = 0; i < 100 && (lines('kl-line').length === 0 || lines('kl-missed').length === 0); i++) await sleep(50);
  const [line] = lines('kl-line');
  assert.equal(lines('kl-line').length, 1, 'one info line');
  assert.equal(line?.msg, 'statement done');
  assert.equal(line?.user, 'admin');
  assert.match(String(line?.client), /127\.0\.0\.1|::1/);
  assert.equal(line?.kind, 'KILL QUERY SYNC');
  assert.equal(line?.condition, "equals(query_id, 'line-1')");
  assert.deepEqual(line?.statuses, { finished: 1 });
  assert.equal(line?.nodes_missed, undefined);
  const all = c.coordinator.stderr();
  assert.ok(!all.includes('admin-pw'), 'no password in the coordinator log');
  assert.ok(!all.includes(sql), 'no raw SQL in the coordinator log');
  const missed = lines('kl-missed');
  assert.equal(missed.length, 1);
  assert.deepEqual(missed[0]?.statuses, { node_inactive: 1 });
  assert.deepEqual(missed[0]?.nodes_missed, ['n4']);
});

test('an agent whose kill log cannot be opened does not start: one line with a code, nothing registered', async () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'quell-kill-log-bad-'));
  try {
    const notADir = path.join(scratch, 'file');
    writeFileSync(notADir, 'x');
    const agent = spawnQuell([
      'agent', '--etcd', c.etcd.url, '--node-id', 'n5', '--listen', '127.0.0.1:0', '--cluster', 'c3',
      ...c.pki.argv(c.pki.agent('n5')), '--kill-log-dir', path.join(notADir, 'kill-log'),
    ]);
    assert.notEqual(await agent.exited, 0);
    const lines = agent.stderr().trim().split('\n').filter((l) => !l.startsWith('{'));
    assert.equal(lines.length, 1, agent.stderr());
    assert.match(lines[0] ?? '', /^Code: 76\. CANNOT_OPEN_FILE: node n5 cannot start without its kill log: kill log unwritable: ENOTDIR: .*kill-log/);
    const members = records(await c.query("SELECT node_id FROM system.clusters WHERE cluster = 'c3' ORDER BY node_id"));
    assert.deepEqual(members.map((r) => r.node_id), ['n1', 'n2', 'n3']);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

test('the hash chain: an entry edited on disk reads verified = 0, the others 1; the agent publishes its chain head to etcd', async () => {
  await c.sim('n2', ['--queries', '3', '--user', 'alice', '--query-id-prefix', 'chain-'], 3);
  const rows = records(await c.client().query("KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 'chain-%' ASYNC", { statementId: 'kl-chain' }));
  assert.deepEqual(rows.map((r) => r.kill_status), ['waiting', 'waiting', 'waiting']);
  const verified = async (): Promise<unknown[][]> =>
    records(await c.query("SELECT query_id, verified FROM clusterAllReplicas('c3', system.kill_log) WHERE statement_id = 'kl-chain' ORDER BY query_id")).map((r) => [r.query_id, r.verified]);
  assert.deepEqual(await verified(), [['chain-1', 1], ['chain-2', 1], ['chain-3', 1]]);

  // the head reaches etcd on the agent's interval: the last line's seq and hash
  const file = path.join(c.killLogDir('n2'), 'kill_log.jsonl');
  const last = JSON.parse(readFileSync(file, 'utf8').trimEnd().split('\n').at(-1) as string) as { seq: number; hash: string };
  const etcd = connectEtcd({ endpoints: [c.etcd.url] });
  try {
    let head: { node_id?: string; seq?: number; hash?: string } = {};
    for (let i = 0; i < 100 && head.seq !== last.seq; i++) {
      head = JSON.parse((await etcd.get(killLogHeadKey('n2')).string()) ?? '{}') as typeof head;
      if (head.seq !== last.seq) await sleep(100);
    }
    assert.deepEqual([head.node_id, head.seq, head.hash], ['n2', last.seq, last.hash]);
  } finally {
    etcd.close();
  }

  // one byte of chain-2's entry changed by whoever owns the file (same length: the agent keeps appending)
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes('"query_id":"chain-2"'));
  assert.ok(i >= 0 && lines[i]?.includes('"process_user":"alice"'));
  lines[i] = (lines[i] as string).replace('"process_user":"alice"', '"process_user":"alicf"');
  writeFileSync(file, lines.join('\n'));
  assert.deepEqual(await verified(), [['chain-1', 1], ['chain-2', 0], ['chain-3', 1]]);
  const broken = records(await c.query("SELECT node_id, query_id FROM clusterAllReplicas('c3', system.kill_log) WHERE verified = 0"));
  assert.deepEqual(broken, [{ node_id: 'n2', query_id: 'chain-2' }]);
});

test('the hash chain: entries cut off the tail while the agent was down show against the head it published at its clean stop', async () => {
  await c.sim('n3', ['--queries', '2', '--user', 'alice', '--query-id-prefix', 'cut-'], 2);
  const rows = records(await c.client().query("KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 'cut-%' ASYNC", { statementId: 'kl-cut' }));
  assert.deepEqual(rows.map((r) => r.kill_status), ['waiting', 'waiting']);
  await c.agent('n3').child.stop('SIGTERM', 5_000);
  c.agents.delete('n3');
  // the newest entry removed: what is left still links up
  const file = path.join(c.killLogDir('n3'), 'kill_log.jsonl');
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  assert.ok(lines.at(-1)?.includes('"query_id":"cut-2"'));
  writeFileSync(file, lines.slice(0, -1).map((l) => `${l}\n`).join(''));
  await c.addAgent('n3');
  await c.waitForActive(3, (TTL + 10) * 1000);
  const logged = records(await c.query("SELECT query_id, verified FROM clusterAllReplicas('c3', system.kill_log) WHERE node_id = 'n3' AND statement_id = 'kl-cut'"));
  assert.deepEqual(logged.map((r) => [r.query_id, r.verified]), [['cut-1', 0]]);
  assert.match(c.agent('n3').child.stderr(), /the log ends before the head published in etcd/);
});
