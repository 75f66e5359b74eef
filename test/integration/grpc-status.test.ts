import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { QuellClient } from '../../client';
import { spawnQuell } from '../../common/daemon/child-processes';
import { decodeStatusDetails } from '../../common/grpc/status-details';
import { QuellError } from '../../errors/quell-error';
import { clientArgv, rawExecute, TestCluster, type RawOutcome } from './harness';
import { parseExposition, scrape } from './probe-clients';

// Issue 20 items 2 and 3 (docs/grpc-status.md): a failed Execute sends its End, then ends with
// the gRPC status the status code guide gives its error, with a google.rpc.Status holding an
// ErrorInfo in grpc-status-details-bin; what any gRPC client sees, read here with a raw grpc-js
// client. quell's own clients raise the same one typed error as before. A real cluster.

const USERS = `
users:
  default: { grants: [ALL] }
  alice: { password: 'alice-pw', grants: [ALL] }
  bob: { password: 'bob-pw', grants: [] }
`;

let c: TestCluster;
let metricsUrl: string;
before(async () => {
  c = await TestCluster.start({ cluster: 'c3', nodes: 2, users: USERS, coordinatorArgs: ['--metrics-listen', '127.0.0.1:0'] });
  const url = c.coordinator.events.find((e) => e.event === 'ready')?.metrics;
  assert.ok(typeof url === 'string', 'the coordinator serves metrics');
  metricsUrl = url;
  await c.sim('n1', ['--queries', '1', '--user', 'alice', '--query-id-prefix', 'st-']);
});
after(() => c?.stop());

/** The call failed with `code`; its End carried the error first; the details name it. */
function assertFailed(o: RawOutcome, code: grpc.status, errorCode: number, reason: string, dialect = 'clickhouse'): void {
  assert.ok(o.status, `expected status ${grpc.status[code]}, the call ended OK`);
  assert.equal(o.status.code, code, `${grpc.status[o.status.code]}: ${o.status.details}`);
  const end = o.messages.at(-1)?.end;
  assert.ok(end?.error, 'the End message with the error comes first');
  assert.deepEqual([end.error.code, end.error.name], [errorCode, reason]);
  assert.equal(o.status.details, end.error.message);
  const [bytes] = o.status.metadata.get('grpc-status-details-bin');
  assert.ok(bytes instanceof Buffer, 'a google.rpc.Status in grpc-status-details-bin');
  const rich = decodeStatusDetails(bytes);
  assert.equal(rich.code, code);
  assert.equal(rich.message, end.error.message);
  assert.deepEqual(rich.detailTypes, ['type.googleapis.com/google.rpc.ErrorInfo']);
  assert.deepEqual(rich.errorInfo, { reason, domain: 'quell', metadata: { code: String(errorCode), dialect } });
}

test('Execute: a failed statement ends with its canonical status and an ErrorInfo; one that works ends OK', async () => {
  assertFailed(await rawExecute(c, { sql: 'SELEC 1' }), grpc.status.INVALID_ARGUMENT, 62, 'SYNTAX_ERROR');
  assertFailed(await rawExecute(c, { sql: 'SELECT 1', user: 'alice', password: 'wrong' }), grpc.status.UNAUTHENTICATED, 516, 'AUTHENTICATION_FAILED');
  // bob holds no grant: alice's query is not his to kill
  assertFailed(await rawExecute(c, { sql: "KILL QUERY WHERE user = 'alice'", user: 'bob', password: 'bob-pw' }), grpc.status.PERMISSION_DENIED, 497, 'ACCESS_DENIED');
  assertFailed(await rawExecute(c, { sql: 'SELECT * FROM system.nope' }), grpc.status.INVALID_ARGUMENT, 60, 'UNKNOWN_TABLE');
  // the MariaDB form by its number: an unknown thread id is NOT_FOUND
  assertFailed(await rawExecute(c, { sql: 'KILL 999999999', dialect: 'DIALECT_MARIADB' }), grpc.status.NOT_FOUND, 1094, 'HY000', 'mariadb');

  const ok = await rawExecute(c, { sql: "SELECT query_id FROM system.processes WHERE user = 'alice'" });
  assert.equal(ok.status, undefined, ok.status?.details);
  assert.deepEqual(ok.messages.flatMap((m) => m.rows?.rows.map((r) => r.values[0]?.str) ?? []), ['st-1']);
  assert.equal(ok.messages.at(-1)?.end?.error, null);
});

test("quell's clients raise one typed error, from the End, over Session, Execute and the direct HTTP/2 path", async () => {
  const failsWith62 = (e: unknown): boolean => {
    assert.ok(e instanceof QuellError, String(e));
    assert.deepEqual([e.code, e.errorName], [62, 'SYNTAX_ERROR']);
    return true;
  };
  await assert.rejects(c.query('SELEC 1'), failsWith62);
  const execute = new QuellClient(c.address, { tls: c.pki.anonymous(), session: false });
  const seen: unknown[] = [];
  try {
    for await (const ev of execute.execute('SELEC 1')) seen.push(ev);
  } catch (e) {
    seen.push(e);
  } finally {
    execute.close();
  }
  assert.equal(seen.length, 1);
  failsWith62(seen[0]);
  // `quell client -q` reads the HTTP/2 trailers itself: one line, the error's exit status
  const cli = spawnQuell([...clientArgv(c), '-q', 'SELEC 1']);
  assert.equal(await cli.exited, 62);
  assert.match(cli.stderr(), /^Code: 62\. SYNTAX_ERROR: [^\n]*\n$/);
});

/** One Execute call made by hand on HTTP/2: `grpc-timeout` and the message's bytes as given. */
async function handMade(headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<{ status: number; message: string; details: Buffer | undefined }> {
  const session = http2.connect(`https://${c.address}`, { ca: readFileSync(c.pki.ca), checkServerIdentity: () => undefined });
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/quell.v1.CoordinatorService/Execute', 'content-type': 'application/grpc', te: 'trailers', ...headers });
      let got: http2.IncomingHttpHeaders = {};
      req.on('response', (h) => (got = { ...got, ...h }));
      req.on('trailers', (h) => (got = { ...got, ...h }));
      req.on('data', () => undefined);
      req.on('error', reject);
      req.on('close', () => {
        const raw = got['grpc-status-details-bin'];
        resolve({ status: Number(got['grpc-status']), message: decodeURIComponent(String(got['grpc-message'] ?? '')), details: typeof raw === 'string' ? Buffer.from(raw, 'base64') : undefined });
      });
      req.end(body);
    });
  } finally {
    session.close();
  }
}

test('bad input: an oversized message is RESOURCE_EXHAUSTED, a deadline passed on arrival DEADLINE_EXCEEDED, each one line; nothing else is disturbed; every call is counted by its code', async () => {
  // a length prefix over the coordinator's 64 MiB request limit: refused from the prefix alone
  const prefix = Buffer.alloc(5 + 16);
  prefix.writeUInt32BE(65 * 1024 * 1024, 1);
  const big = await handMade({}, prefix);
  assert.equal(big.status, grpc.status.RESOURCE_EXHAUSTED, big.message);
  assert.match(big.message, /^[^\n]+$/);

  const late = await handMade({ 'grpc-timeout': '1n' }, Buffer.from([0, 0, 0, 0, 0]));
  assert.equal(late.status, grpc.status.DEADLINE_EXCEEDED, late.message);
  assert.match(late.message, /^[^\n]+$/);
  if (late.details) assert.equal(decodeStatusDetails(late.details).code, grpc.status.DEADLINE_EXCEEDED);

  // the coordinator serves on, on new connections and old ones
  assert.deepEqual((await c.query('SELECT * FROM system.one')).rows, [[0]]);
  assert.equal((await rawExecute(c, { sql: 'SELECT * FROM system.one' })).status, undefined);

  const m = parseExposition((await scrape(metricsUrl, c.pki.ca)).body);
  const handled = (method: string, code: string): number => m.value('grpc_server_handled_total', { grpc_service: 'quell.v1.CoordinatorService', grpc_method: method, grpc_type: method === 'Execute' ? 'server_stream' : 'bidi_stream', grpc_code: code }) ?? 0;
  assert.ok(handled('Execute', 'OK') >= 2, 'Execute OK');
  for (const code of ['INVALID_ARGUMENT', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND', 'RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED']) {
    assert.ok(handled('Execute', code) >= 1, `Execute ${code} counted`);
  }
  assert.ok((m.value('grpc_server_started_total', { grpc_service: 'quell.v1.CoordinatorService', grpc_method: 'Execute', grpc_type: 'server_stream' }) ?? 0) >= 10);
});

test('unset means nothing: an agent refuses a kill without a target or mode, or a scan without a table, with INVALID_ARGUMENT naming the field; a bare SHOW PROCESSLIST without a dialect is refused too', async () => {
  const stub = c.agentStub('n1');
  const refused = (call: grpc.ClientReadableStream<unknown>): Promise<grpc.ServiceError> =>
    new Promise((resolve, reject) => {
      call.on('data', () => reject(new Error('the agent answered')));
      call.on('error', (err: grpc.ServiceError) => resolve(err));
      call.on('end', () => reject(new Error('the call ended OK')));
    });
  const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 10_000 });
  const noTarget = await refused(stub.Kill({ where: "user = 'alice'", mode: 'KILL_MODE_ASYNC', user: 'default', may_kill_others: true }, deadline()));
  assert.equal(noTarget.code, grpc.status.INVALID_ARGUMENT);
  assert.match(noTarget.details, /^KillRequest\.target is unspecified/);
  const noMode = await refused(stub.Kill({ target: 'KILL_TARGET_QUERY', where: "user = 'alice'", user: 'default', may_kill_others: true }, deadline()));
  assert.equal(noMode.code, grpc.status.INVALID_ARGUMENT);
  assert.match(noMode.details, /^KillRequest\.mode is unspecified/);
  const noTable = await refused(stub.Scan({ statement_id: 'no-table', user: 'default', see_all_users: true }, deadline()));
  assert.equal(noTable.code, grpc.status.INVALID_ARGUMENT);
  assert.match(noTable.details, /^ScanRequest\.table is unspecified/);
  // nothing was killed: alice's query still runs
  const still = await rawExecute(c, { sql: "SELECT query_id FROM system.processes WHERE query_id = 'st-1'", dialect: 'DIALECT_CLICKHOUSE' });
  assert.equal(still.status, undefined);
  assert.equal(still.messages.flatMap((m) => m.rows?.rows ?? []).length, 1, "alice's query st-1 still runs");
  assertFailed(await rawExecute(c, { sql: 'SHOW PROCESSLIST' }), grpc.status.INVALID_ARGUMENT, 36, 'BAD_ARGUMENTS');
  const named = await rawExecute(c, { sql: 'SHOW PROCESSLIST', dialect: 'DIALECT_CLICKHOUSE' });
  assert.equal(named.status, undefined, 'with the dialect named it runs');
});
