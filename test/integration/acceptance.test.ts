import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { QuellError } from '../../errors/quell-error';
import { spawnQuell } from '../../common/daemon/child-processes';
import { TestCluster, clientArgv, eventsOf, records, sleep } from './harness';

// The acceptance scenarios (docs/README.md) 1-5, 7 and 8 on a cluster `c3` of three agents with sims.
const USERS = `
users:
  default: { grants: [ALL] }
  alice: { password: alice-pw }
  bob: { password: bob-pw }
  carol: { password: carol-pw, readonly: true }
  oncall: { password_sha256_hex: "${createHash('sha256').update('oncall-pw').digest('hex')}", grants: [KILL QUERY] }
`;

describe('acceptance on c3', () => {
  let c: TestCluster;
  before(async () => {
    c = await TestCluster.start({ cluster: 'c3', nodes: 3, users: USERS });
  });
  after(async () => {
    await c?.stop();
  });

  test('1: KILL … SYNC FORMAT JSONEachRow kills alice everywhere and only alice', async () => {
    const alice = await Promise.all(['n1', 'n2', 'n3'].map((n) => c.sim(n, ['--queries', '2', '--user', 'alice', '--query-id-prefix', `s1-alice-${n}-`], 2)));
    const bob = await Promise.all(['n1', 'n2', 'n3'].map((n) => c.sim(n, ['--queries', '1', '--user', 'bob', '--query-id-prefix', `s1-bob-${n}-`])));

    const client = spawnQuell([...clientArgv(c), '-q', "KILL QUERY ON CLUSTER c3 WHERE user = 'alice' SYNC FORMAT JSONEachRow"]);
    assert.equal(await client.exited, 0, client.stderr());
    const rows = client.events;
    assert.equal(rows.length, 6);
    for (const r of rows) {
      assert.equal(r.kill_status, 'finished');
      assert.equal(r.user, 'alice');
      // the row names the node that ran the process
      assert.match(String(r.query_id), new RegExp(`^s1-alice-${String(r.node_id)}-[12]$`));
      assert.equal(r.host, '127.0.0.1');
      assert.equal(typeof r.port, 'number');
      assert.equal(r.error, '');
    }
    assert.deepEqual(Object.keys(rows[0] ?? {}), ['kill_status', 'query_id', 'user', 'query', 'host', 'port', 'node_id', 'error']);
    for (const s of alice) {
      assert.equal(await s.exited, 0);
      assert.equal(eventsOf(s, 'cancel').length, 2);
      assert.deepEqual(eventsOf(s, 'ended').map((e) => e.outcome), ['cancelled', 'cancelled']);
    }
    for (const s of bob) {
      assert.equal(eventsOf(s, 'cancel').length, 0);
      assert.equal(s.proc.exitCode, null, 'bob keeps running');
    }
    const procs = records(await c.query("SELECT query_id, user, node_id FROM clusterAllReplicas('c3', system.processes) WHERE query_id LIKE 's1-%' ORDER BY query_id"));
    assert.deepEqual(procs.map((p) => p.query_id), ['s1-bob-n1-1', 's1-bob-n2-1', 's1-bob-n3-1']);
    await c.stopSims();
  });

  test('2: ASYNC returns at once, before slow processes acknowledge', async () => {
    const sims = await Promise.all(['n1', 'n2', 'n3'].map((n) => c.sim(n, ['--queries', '1', '--user', 'alice', '--cancel-delay-ms', '2000', '--query-id-prefix', `s2-${n}-`])));
    const r = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 's2-%' ASYNC"));
    // nobody has acknowledged yet: the statement did not wait for them
    for (const s of sims) assert.equal(eventsOf(s, 'ended').length, 0);
    assert.equal(r.length, 3);
    for (const row of r) assert.equal(row.kill_status, 'waiting');
    for (const s of sims) {
      assert.equal(await s.exited, 0);
      assert.equal(eventsOf(s, 'ended')[0]?.outcome, 'cancelled');
    }
  });

  test('3: TEST lists unknown_status and sends nothing', async () => {
    const sims = await Promise.all(['n1', 'n2', 'n3'].map((n) => c.sim(n, ['--queries', '2', '--user', 'bob', '--query-id-prefix', `s3-${n}-`], 2)));
    const r = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 's3-%' TEST"));
    assert.equal(r.length, 6);
    for (const row of r) assert.equal(row.kill_status, 'unknown_status');
    await sleep(300);
    for (const s of sims) assert.equal(eventsOf(s, 'cancel').length, 0);
    const still = await c.query("SELECT query_id FROM clusterAllReplicas('c3', system.processes) WHERE query_id LIKE 's3-%'");
    assert.equal(still.rows.length, 6);
    await c.stopSims();
  });

  test('4: SYNC with sync_kill_timeout = 1 returns waiting for processes that ignore cancels', async () => {
    await c.sim('n2', ['--queries', '2', '--user', 'alice', '--ignore-cancel', '--query-id-prefix', 's4-'], 2);
    const started = Date.now();
    const r = await c.query("KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 's4-%' SYNC SETTINGS sync_kill_timeout = 1");
    const took = Date.now() - started;
    const rows = records(r);
    assert.deepEqual(rows.map((x) => x.kill_status), ['waiting', 'waiting']);
    assert.ok(rows.every((x) => x.node_id === 'n2'));
    // the wait is the setting's, not the default 30 s
    assert.ok(took >= 900 && took < 10_000, `took ${took} ms`);
    const cancelled = records(await c.query("SELECT query_id, is_cancelled FROM clusterAllReplicas('c3', system.processes) WHERE query_id LIKE 's4-%'"));
    assert.deepEqual(cancelled.map((x) => x.is_cancelled), [1, 1]);
    await c.stopSims();
  });

  test('5: a readonly user cannot kill others (ACCESS_DENIED, nothing cancelled) but can kill its own', async () => {
    const aliceSim = await c.sim('n1', ['--queries', '1', '--user', 'alice', '--query-id-prefix', 's5-alice-']);
    const carolSim = await c.sim('n3', ['--queries', '1', '--user', 'carol', '--query-id-prefix', 's5-carol-']);
    await assert.rejects(c.query("KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 's5-%' AND user = 'alice' SYNC", 'carol', 'carol-pw'), (e: unknown) => {
      assert.ok(e instanceof QuellError);
      assert.equal(e.code, 497);
      assert.equal(e.errorName, 'ACCESS_DENIED');
      assert.equal(e.message, 'User carol attempts to kill query created by alice');
      return true;
    });
    // TEST checks rights the same way
    await assert.rejects(c.query("KILL QUERY WHERE user = 'alice' TEST", 'carol', 'carol-pw'), /attempts to kill query created by alice/);
    // a kill matching both: carol's own is killed, alice's is skipped
    const own = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 's5-%' SYNC", 'carol', 'carol-pw'));
    assert.deepEqual(own.map((r) => [r.kill_status, r.query_id, r.node_id]), [['finished', 's5-carol-1', 'n3']]);
    assert.equal(eventsOf(aliceSim, 'cancel').length, 0);
    assert.equal(await carolSim.exited, 0);
    // a user with the grant may kill others
    const oncall = records(await c.query("KILL QUERY WHERE query_id = 's5-alice-1' SYNC", 'oncall', 'oncall-pw'));
    assert.deepEqual(oncall.map((r) => r.kill_status), ['finished']);
    assert.equal(await aliceSim.exited, 0);
    // wrong password
    await assert.rejects(c.query('SELECT 1', 'alice', 'nope'), (e: unknown) => e instanceof QuellError && e.code === 516 && e.errorName === 'AUTHENTICATION_FAILED');
  });

  test('7: an agent joining c3 is included in the next statement', async () => {
    const n4 = await c.addAgent('n4');
    const sim = await c.sim('n4', ['--queries', '1', '--user', 'bob', '--query-id-prefix', 's7-']);
    const r = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 's7-%' SYNC"));
    assert.deepEqual(r.map((x) => [x.kill_status, x.query_id, x.node_id, x.port]), [['finished', 's7-1', 'n4', Number(n4.address.split(':')[1])]]);
    assert.equal(await sim.exited, 0);
    const clusters = records(await c.query("SELECT node_id, is_active FROM system.clusters WHERE cluster = 'c3' ORDER BY node_id"));
    assert.deepEqual(clusters.map((x) => x.node_id), ['n1', 'n2', 'n3', 'n4']);
  });

  test('8: malformed input gets a one-line error with code and name; the coordinator keeps serving', async () => {
    const cases: [string, number, string][] = [
      ['KILL QUERY WHERE', 62, 'SYNTAX_ERROR'],
      ['KILL QUERY ON CLUSTER c3 WHERE SYNC', 62, 'SYNTAX_ERROR'],
      ["KILL QUERY WHERE usr = 'alice'", 47, 'UNKNOWN_IDENTIFIER'],
      ["KILL QUERY WHERE nofunc(user) = 'alice'", 46, 'UNKNOWN_FUNCTION'],
      ["KILL QUERY ON CLUSTER nope WHERE user = 'alice'", 701, 'CLUSTER_DOESNT_EXIST'],
      ["KILL QUERY WHERE user = 'alice' SETTINGS nope = 1", 115, 'UNKNOWN_SETTING'],
      ["KILL QUERY WHERE user = 'alice' SETTINGS sync_kill_timeout = 'soon'", 36, 'BAD_ARGUMENTS'],
      ["KILL QUERY WHERE user = 'alice' FORMAT Nope", 73, 'UNKNOWN_FORMAT'],
      ['SELECT * FROM system.nope', 60, 'UNKNOWN_TABLE'],
      ['x'.repeat(10 * 1024 * 1024), 62, 'SYNTAX_ERROR'],
    ];
    for (const [sql, code, name] of cases) {
      await assert.rejects(c.query(sql), (e: unknown) => {
        assert.ok(e instanceof QuellError, String(e));
        assert.equal(e.code, code, `${sql.slice(0, 60)} → ${e.message}`);
        assert.equal(e.errorName, name);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
    }
    const probe = await c.sim('n1', ['--queries', '1', '--user', 'bob', '--query-id-prefix', 's8-']);
    const ok = records(await c.query("KILL QUERY WHERE query_id = 's8-1' SYNC"));
    assert.deepEqual(ok.map((r) => r.kill_status), ['finished']);
    assert.equal(await probe.exited, 0);

    // through the CLI: one line on stderr, non-zero exit
    const cli = spawnQuell([...clientArgv(c), '-q', "KILL QUERY WHERE usr = 'alice'"]);
    const status = await cli.exited;
    assert.notEqual(status, 0);
    assert.equal(cli.stderr(), 'Code: 47. UNKNOWN_IDENTIFIER: Unknown identifier: usr\n');

    // an unterminated string is never dropped: SYNTAX_ERROR and a non-zero exit
    const open = spawnQuell([...clientArgv(c), '-q', "KILL QUERY WHERE user = 'x"]);
    assert.notEqual(await open.exited, 0);
    assert.match(open.stderr(), /^Code: 62\. SYNTAX_ERROR: .*Unterminated quoted string\n$/);
  });
});
