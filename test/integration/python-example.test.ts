import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { TestCluster } from './harness';

// examples/ against a real cluster, as an integrator would run them: Debian's python3 with
// python3-grpcio and python3-grpc-tools, stubs generated from proto/ at run time; `node` on
// examples/node/*.mjs (grpc-js + proto-loader + proto/, nothing of quell's code); all over TLS.

const run = promisify(execFile);
const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples');
const EXAMPLE = path.join(EXAMPLES, 'python', 'quell_client.py');
const WORKLOAD = path.join(EXAMPLES, 'python', 'quell_workload.py');
const NODE_CLIENT = path.join(EXAMPLES, 'node', 'quell_client.mjs');
const LIST_SERVICES = path.join(EXAMPLES, 'node', 'list_services.mjs');
// Debian's interpreter, where python3-grpcio is installed (a pyenv shim on PATH may lack it)
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const USERS = `
users:
  default: { grants: [ALL] }
  alice: { password: 'alice-pw', grants: [ALL] }
`;

let c: TestCluster;
before(async () => {
  c = await TestCluster.start({ nodes: 2, users: USERS });
  await Promise.all(['n1', 'n2'].map((n) => c.sim(n, ['--queries', '1', '--user', 'alice', '--query-id-prefix', `py-${n}-`])));
});
after(() => c.stop());

function example(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(PYTHON, [EXAMPLE, '--coordinator', c.address, '--ca', c.pki.ca, ...args]);
}

test('the Python example checks health, selects and TEST-kills over TLS with a password login', async () => {
  const { stdout } = await example([
    '--user', 'alice', '--password', 'alice-pw',
    '--select', "SELECT query_id, user, node_id FROM system.processes WHERE user = 'alice' ORDER BY query_id",
    '--kill', "KILL QUERY WHERE query_id LIKE 'py-%' TEST",
  ]);
  const lines = stdout.split('\n');
  assert.equal(lines[0], 'health: SERVING');
  const select = lines.indexOf("> SELECT query_id, user, node_id FROM system.processes WHERE user = 'alice' ORDER BY query_id");
  assert.deepEqual(lines.slice(select + 1, select + 5), ['query_id\tuser\tnode_id', 'py-n1-1\talice\tn1', 'py-n2-1\talice\tn2', '(2 rows)']);
  const kill = lines.indexOf("> KILL QUERY WHERE query_id LIKE 'py-%' TEST");
  assert.ok(kill > select, stdout);
  const killRows = lines.slice(kill + 2).filter((l) => l.startsWith('py-') || l.includes('\tpy-'));
  assert.equal(killRows.length, 2, stdout);
  assert.match(stdout, /\(2 rows\)\n$/);
  // TEST kills nothing
  const after = await c.query("SELECT query_id FROM system.processes WHERE user = 'alice' ORDER BY query_id", 'alice', 'alice-pw');
  assert.deepEqual(after.rows.map((r) => r[0]), ['py-n1-1', 'py-n2-1']);
});

test('the Python example logs in with a user certificate and prints coded errors from End, then the rich status', async () => {
  const alice = c.pki.user('alice');
  const err = await example(['--cert', alice.cert ?? '', '--key', alice.key ?? '', '--select', 'SELECT 1', '--kill', 'KILL QUERY WHERE query_id = 1 SYNC TEST BOGUS']).then(
    () => assert.fail('expected exit status 2'),
    (e: { code: number; stdout: string }) => e,
  );
  assert.equal(err.code, 2);
  assert.match(err.stdout, /^health: SERVING\n> SELECT 1\n1\n1\n\(1 rows\)\n/);
  assert.match(err.stdout, /^Code: 62\. SYNTAX_ERROR: /m);
  // then the call's status, and the google.rpc.Status with its ErrorInfo from grpc-status-details-bin
  assert.match(err.stdout, /^Code: 62\. SYNTAX_ERROR: [^\n]*\nstatus: INVALID_ARGUMENT \(3\) reason=SYNTAX_ERROR domain=quell code=62 dialect=clickhouse\n$/m);
});

test('the Python example reads a wrong password as UNAUTHENTICATED with its ErrorInfo', async () => {
  const err = await example(['--user', 'alice', '--password', 'wrong', '--select', 'SELECT 1']).then(
    () => assert.fail('expected exit status 2'),
    (e: { code: number; stdout: string }) => e,
  );
  assert.equal(err.code, 2);
  assert.match(err.stdout, /^Code: 516\. AUTHENTICATION_FAILED: [^\n]*\nstatus: UNAUTHENTICATED \(16\) reason=AUTHENTICATION_FAILED domain=quell code=516 dialect=clickhouse\n$/m);
});

function nodeClient(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [NODE_CLIENT, '--coordinator', c.address, '--ca', c.pki.ca, ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}

test('the Node example runs a SELECT over TLS with a password login', async () => {
  const r = await nodeClient(['--user', 'alice', '--password', 'alice-pw', "SELECT query_id, user, node_id FROM system.processes WHERE query_id = 'py-n1-1'"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "> SELECT query_id, user, node_id FROM system.processes WHERE query_id = 'py-n1-1'\nquery_id\tuser\tnode_id\npy-n1-1\talice\tn1\n(1 rows)\n");
});

test('the Node example logs in with a user certificate and prints a failed statement\'s End, then its ErrorInfo', async () => {
  const alice = c.pki.user('alice');
  const r = await nodeClient(['--cert', alice.cert ?? '', '--key', alice.key ?? '', 'KILL QUERY WHERE query_id = 1 SYNC TEST BOGUS']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stdout, /^> KILL QUERY WHERE query_id = 1 SYNC TEST BOGUS\nCode: 62\. SYNTAX_ERROR: [^\n]*\nstatus: INVALID_ARGUMENT \(3\) reason=SYNTAX_ERROR domain=quell code=62 dialect=clickhouse\n$/);
});

test('the Node example reads a wrong password as UNAUTHENTICATED with its ErrorInfo', async () => {
  const r = await nodeClient(['--user', 'alice', '--password', 'wrong', 'SELECT 1']);
  assert.equal(r.code, 2);
  assert.match(r.stdout, /^status: UNAUTHENTICATED \(16\) reason=AUTHENTICATION_FAILED domain=quell code=516 dialect=clickhouse$/m);
});

test('the Python workload registers its query, and a KILL on the coordinator cancels it', async () => {
  const w = c.pki.workload();
  const child = spawn(PYTHON, [WORKLOAD, '--agent', c.agent('n1').address, '--ca', c.pki.ca, '--cert', w.cert ?? '', '--key', w.key ?? '', '--query-id', 'py-work-1', '--user', 'alice', '--query', 'SELECT count() FROM big'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const rows = await c.waitForRows("SELECT query_id, user, query, read_rows FROM system.processes WHERE query_id = 'py-work-1'", (r) => r.length === 1 && Number(r[0]?.read_rows) > 0, 30_000);
    assert.equal(rows[0]?.user, 'alice');
    assert.equal(rows[0]?.query, 'SELECT count() FROM big');
    assert.match(stdout, /^registered py-work-1\n/);
    const kill = await c.query("KILL QUERY WHERE query_id = 'py-work-1' SYNC", 'alice', 'alice-pw');
    assert.equal(kill.rows.length, 1, JSON.stringify(kill.rows));
    assert.equal(await exited, 0, stderr);
    assert.equal(stdout, 'registered py-work-1\ncancel requested py-work-1\ncancelled py-work-1\n');
    await c.waitForRows("SELECT query_id FROM system.processes WHERE query_id = 'py-work-1'", (r) => r.length === 0);
  } finally {
    child.kill();
  }
});

test('reflection lists the quell services, as the README\'s grpcurl session does', async () => {
  const { stdout } = await run(process.execPath, [LIST_SERVICES, '--address', c.address, '--ca', c.pki.ca]);
  const services = stdout.trim().split('\n');
  for (const s of ['quell.v1.CoordinatorService', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']) assert.ok(services.includes(s), stdout);
  const described = await run(process.execPath, [LIST_SERVICES, '--address', c.address, '--ca', c.pki.ca, 'quell.v1.CoordinatorService']);
  assert.match(described.stdout, /^service quell\.v1\.CoordinatorService \{\n {2}rpc Execute \( \.quell\.v1\.ExecuteRequest \) returns \( stream \.quell\.v1\.ExecuteResponse \);$/m);
  const agent = await run(process.execPath, [LIST_SERVICES, '--address', c.agent('n1').address, '--ca', c.pki.ca]);
  for (const s of ['quell.v1.NodeAgentService', 'quell.v1.WorkloadService']) assert.ok(agent.stdout.split('\n').includes(s), agent.stdout);
});
