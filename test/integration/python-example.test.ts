import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { TestCluster } from './harness';

// examples/python against a real cluster, as an integrator would run it: Debian's python3 with
// python3-grpcio and python3-grpc-tools, stubs generated from proto/ at run time, TLS.

const run = promisify(execFile);
const EXAMPLE = path.join(__dirname, '..', '..', '..', 'examples', 'python', 'quell_client.py');
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
