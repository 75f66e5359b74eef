import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createClient, ClickHouseError, ClickHouseLogLevel } from '@clickhouse/client';
import { TestCluster, eventsOf } from './harness';
import { curl as curlWith, type Reply } from './curl';
import { freePort, type Child } from '../../common/daemon/child-processes';

/**
 * ClickHouse's HTTP interface on a real coordinator, over HTTPS with the test CA, driven by the
 * real curl and the official @clickhouse/client.
 */

const USERS = `
users:
  default: { grants: [ALL] }
  alice: { password: alice-pw }
  bob: { password: bob-pw }
`;

const VERSION = String.raw`\(version [^()]+ \(quell\)\)`;

/** The real curl against this cluster's CA. */
function curl(args: string[]): Promise<Reply> {
  return curlWith(c.pki.ca, args);
}

/** curl's exit status alone, for connections that must fail. */
function curlExit(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', ...args], (err) => resolve(err ? Number((err as { code?: unknown }).code) : 0));
  });
}

const q = (sql: string): string => `query=${encodeURIComponent(sql)}`;
const lines = (body: string): string[] => body.split('\n').filter((l) => l !== '');
/** a test whose statement would otherwise wait for a 600 s sync_kill_timeout fails well before */
const BOUNDED = { timeout: 60_000 };

let c: TestCluster;
let base: string;
let ca: Buffer;

function pem(file: string | undefined): Buffer {
  return readFileSync(file as string);
}

describe('the HTTP interface (--http-listen)', () => {
  before(async () => {
    const port = await freePort();
    c = await TestCluster.start({ cluster: 'c2', nodes: 2, users: USERS, coordinatorArgs: ['--http-listen', `127.0.0.1:${port}`] });
    assert.equal(eventsOf(c.coordinator, 'ready')[0]?.http_address, `127.0.0.1:${port}`);
    base = `https://127.0.0.1:${port}`;
    ca = readFileSync(c.pki.ca);
    await c.sim('n1', ['--queries', '1', '--user', 'alice', '--query-id-prefix', 'alice-']);
    await c.sim('n2', ['--queries', '1', '--user', 'bob', '--query-id-prefix', 'bob-']);
  });
  after(async () => {
    await c?.stop();
  });

  test('GET /ping and GET / answer Ok.', async () => {
    for (const path of ['/ping', '/']) {
      const r = await curl([`${base}${path}`]);
      assert.equal(r.status, 200);
      assert.equal(r.body, 'Ok.\n');
    }
  });

  test('a SELECT by GET ?query= and by POST, TabSeparated by default, with the query id and format headers', async () => {
    const get = await curl([`${base}/?${q('SELECT node_id, is_active FROM system.clusters ORDER BY node_id')}`]);
    assert.equal(get.status, 200);
    assert.equal(get.body, 'n1\t1\nn2\t1\n');
    assert.equal(get.headers['x-clickhouse-format'], 'TabSeparated');
    assert.equal(get.headers['content-type'], 'text/tab-separated-values; charset=UTF-8');
    assert.match(get.headers['x-clickhouse-query-id'] ?? '', /^c\d+-[0-9a-f-]{36}$/);
    assert.equal(get.headers['transfer-encoding'], 'chunked');
    const post = await curl([`${base}/`, '--data-binary', 'SELECT query_id, user FROM system.processes ORDER BY query_id']);
    assert.equal(post.status, 200);
    assert.equal(post.body, 'alice-1\talice\nbob-1\tbob\n');
    // ClickHouse joins the parameter and the body with a newline
    const both = await curl([`${base}/?${q('SELECT node_id FROM system.clusters')}`, '--data-binary', 'ORDER BY node_id DESC']);
    assert.equal(both.body, 'n2\nn1\n');
  });

  test('credentials by Basic auth, X-ClickHouse headers and parameters log in as that user', async () => {
    // TEST kills nothing and lists what the user may kill: alice sees only her own query
    const sql = 'KILL QUERY WHERE 1 TEST FORMAT TSV';
    const expected = /^unknown_status\talice-1\talice\t/;
    // a KILL, even TEST, is sent with POST: GET is readonly
    const ways = [
      ['-u', 'alice:alice-pw', `${base}/?${q(sql)}`, '-X', 'POST'],
      ['-H', 'X-ClickHouse-User: alice', '-H', 'X-ClickHouse-Key: alice-pw', `${base}/`, '--data-binary', sql],
      [`${base}/?user=alice&password=alice-pw`, '--data-binary', sql],
    ];
    for (const args of ways) {
      const r = await curl(args);
      assert.equal(r.status, 200, r.body);
      assert.match(r.body, expected);
      assert.equal(lines(r.body).length, 1, r.body);
    }
    // no credentials: user default, who may kill everyone's
    const all = await curl([`${base}/`, '--data-binary', sql]);
    assert.deepEqual(lines(all.body).map((l) => l.split('\t')[1]).sort(), ['alice-1', 'bob-1']);
  });

  test("a wrong password: 403, ClickHouse's 516 text and X-ClickHouse-Exception-Code", async () => {
    const r = await curl(['-u', 'alice:nope', `${base}/?${q('SELECT 1 FROM system.one')}`]);
    assert.equal(r.status, 403);
    assert.equal(r.headers['x-clickhouse-exception-code'], '516');
    assert.match(r.body, new RegExp(`^Code: 516\\. DB::Exception: alice: Authentication failed: password is incorrect, or there is no user with such name\\. \\(AUTHENTICATION_FAILED\\) ${VERSION}\\n$`));
    const mixed = await curl(['-u', 'alice:alice-pw', `${base}/?${q('SELECT 1 FROM system.one')}&user=alice`]);
    assert.equal(mixed.status, 403);
    assert.match(mixed.body, /^Code: 516\. DB::Exception: Invalid authentication: it is not allowed to use Authorization HTTP header and authentication via parameters simultaneously\. \(AUTHENTICATION_FAILED\)/);
  });

  test('errors: their HTTP status, code header and ClickHouse text', async () => {
    const syntax = await curl([`${base}/?${q('SELEC 1')}`]);
    assert.equal(syntax.status, 400);
    assert.equal(syntax.headers['x-clickhouse-exception-code'], '62');
    assert.match(syntax.body, /^Code: 62\. DB::Exception: Syntax error: failed at position 1 .*\(SYNTAX_ERROR\) \(version/);
    const setting = await curl([`${base}/?${q('SELECT 1 FROM system.one')}&max_threads=4`]);
    assert.equal(setting.status, 404);
    assert.match(setting.body, /^Code: 115\. DB::Exception: Unknown setting max_threads\. \(UNKNOWN_SETTING\)/);
    const format = await curl([`${base}/?${q('SELECT 1 FROM system.one')}&default_format=Nope`]);
    assert.equal(format.status, 404);
    assert.equal(format.headers['x-clickhouse-exception-code'], '73');
    // a known setting as a parameter applies to the statement
    const bad = await curl([`${base}/?sync_kill_timeout=soon`, '--data-binary', 'KILL QUERY WHERE 1 TEST']);
    assert.equal(bad.status, 400);
    assert.match(bad.body, /^Code: 36\. DB::Exception: Invalid value "soon" for setting sync_kill_timeout/);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'quell-http-')), 'big.sql');
    writeFileSync(file, `SELECT 1 FROM system.one WHERE '${'x'.repeat(300_000)}' = ''`);
    // refused as announced by Content-Length, and while it streams in without one
    const big = await curl([`${base}/`, '--data-binary', `@${file}`]);
    const chunked = await curl(['-H', 'Transfer-Encoding: chunked', `${base}/`, '--data-binary', `@${file}`]);
    rmSync(path.dirname(file), { recursive: true });
    assert.equal(big.status, 400);
    assert.match(big.body, /^Code: 62\. DB::Exception: Max query size exceeded: 300038 bytes, max 262144\. \(SYNTAX_ERROR\)/);
    assert.equal(chunked.status, 400);
    assert.match(chunked.body, /^Code: 62\. DB::Exception: Max query size exceeded: more than 262144 bytes, max 262144\. \(SYNTAX_ERROR\)/);
  });

  test('default_format, X-ClickHouse-Format (which wins over it) and a FORMAT clause (which wins over both)', async () => {
    const sql = 'SELECT node_id FROM system.clusters ORDER BY node_id';
    const param = await curl([`${base}/?${q(sql)}&default_format=JSONEachRow`]);
    assert.equal(param.body, '{"node_id":"n1"}\n{"node_id":"n2"}\n');
    assert.equal(param.headers['x-clickhouse-format'], 'JSONEachRow');
    assert.equal(param.headers['content-type'], 'application/x-ndjson; charset=UTF-8');
    const header = await curl(['-H', 'X-ClickHouse-Format: CSV', `${base}/?${q(sql)}&default_format=JSONEachRow`]);
    assert.equal(header.body, '"n1"\n"n2"\n');
    assert.equal(header.headers['x-clickhouse-format'], 'CSV');
    const clause = await curl(['-H', 'X-ClickHouse-Format: CSV', `${base}/?${q(`${sql} FORMAT TSVWithNames`)}`]);
    assert.equal(clause.body, 'node_id\nn1\nn2\n');
    assert.equal(clause.headers['x-clickhouse-format'], 'TabSeparatedWithNames');
  });

  test('query_id (parameter or X-ClickHouse-Query-Id) is the statement id and comes back in X-ClickHouse-Query-Id', async () => {
    const param = await curl([`${base}/?${q('SELECT 1 FROM system.one')}&query_id=http-q-1`]);
    assert.equal(param.headers['x-clickhouse-query-id'], 'http-q-1');
    const header = await curl(['-H', 'X-ClickHouse-Query-Id: http-q-2', `${base}/?${q('SELECT 1 FROM system.one')}`]);
    assert.equal(header.headers['x-clickhouse-query-id'], 'http-q-2');
    // the coordinator's log line of the statement carries it
    await waitForLog((line) => line.statement_id === 'http-q-2' && line.msg === 'statement done');
  });

  test('a user certificate logs in without a password when the request asks for it; certificate auth without one is refused', async () => {
    const alice = c.pki.user('alice');
    const sql = 'KILL QUERY WHERE 1 TEST FORMAT TSV';
    const certAuth = ['-H', 'X-ClickHouse-SSL-Certificate-Auth: on', '-H', 'X-ClickHouse-User: alice'];
    const r = await curl(['--cert', alice.cert as string, '--key', alice.key as string, ...certAuth, `${base}/`, '--data-binary', sql]);
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /^unknown_status\talice-1\talice\t[^\n]*\n$/);
    // without the header the certificate is no credential (as ClickHouse): a browser sends it to every site's requests
    const unasked = await curl(['--cert', alice.cert as string, '--key', alice.key as string, '-u', 'alice:wrong', `${base}/`, '--data-binary', sql]);
    assert.equal(unasked.status, 403);
    assert.equal(unasked.headers['x-clickhouse-exception-code'], '516');
    const refused = await curl([...certAuth, `${base}/`, '--data-binary', sql]);
    assert.equal(refused.status, 403);
    assert.match(refused.body, /^Code: 516\. DB::Exception: alice: Authentication failed: SSL certificate authentication needs a user certificate; the client presented no certificate that our CA signed\./);
  });

  test('HTTPS only: plaintext HTTP and a client that does not trust the CA get no answer', async () => {
    const port = new URL(base).port;
    assert.notEqual(await curlExit([`http://127.0.0.1:${port}/ping`]), 0);
    // 60: the server's certificate cannot be verified without the test CA
    assert.equal(await curlExit([`${base}/ping`]), 60);
  });

  test('garbage on the port and a client that leaves mid-body get a 400 or nothing; the door keeps serving', async () => {
    const { hostname, port } = new URL(base);
    const raw = (bytes: string, end: boolean): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = tls.connect({ host: hostname, port: Number(port), ca }, () => {
          socket.write(bytes);
          if (!end) socket.destroy();
        });
        let got = '';
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => (got += d));
        socket.on('close', () => resolve(got));
        socket.on('error', reject);
      });
    assert.match(await raw('\x00\x01GARBAGE\r\n\r\n', true), /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(await raw('POST /?query_id=http-half-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nSELECT', false), '');
    // the half-read request is given up, not left waiting for the rest of its body
    const gone = await waitForLog((l) => l.statement_id === 'http-half-1' && l.msg === 'HTTP request refused');
    assert.equal(gone.error_name, 'QUERY_WAS_CANCELLED');
    const r = await curl([`${base}/?${q('SELECT 1 FROM system.one')}`]);
    assert.equal(r.body, '1\n');
  });

  test('a SYNC kill streams: the first row arrives while the statement still waits for the other process', BOUNDED, async () => {
    const fast = await c.sim('n1', ['--queries', '1', '--user', 'etl', '--query-id-prefix', 'fast-']);
    const stuck = await c.sim('n2', ['--queries', '1', '--user', 'etl', '--ignore-cancel', '--query-id-prefix', 'stuck-']);
    const order: string[] = [];
    const body = await new Promise<string>((resolve, reject) => {
      const sql = "KILL QUERY WHERE user = 'etl' SYNC SETTINGS sync_kill_timeout = 600 FORMAT JSONEachRow";
      const req = https.request(`${base}/?${q(sql)}`, { ca, method: 'POST' }, (res) => {
        assert.equal(res.statusCode, 200);
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (!order.includes('first row') && text.includes('"fast-1"')) {
            order.push('first row');
            // only now does the other process stop: its row cannot have been sent yet
            assert.doesNotMatch(text, /stuck-1/);
            void stuck.stop('SIGTERM', 2_000).then(() => order.push('stuck process stopped'));
          }
        });
        res.on('end', () => {
          order.push('end');
          resolve(text);
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(order[0], 'first row');
    assert.ok(order.indexOf('end') > 0);
    const rows = body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      rows.map((r) => [r.kill_status, r.query_id]),
      [
        ['finished', 'fast-1'],
        ['finished', 'stuck-1'],
      ],
    );
    assert.equal(eventsOf(fast, 'ended')[0]?.outcome, 'cancelled');
  });

  test('a client that disconnects cancels its statement: the SYNC wait ends long before its timeout', BOUNDED, async () => {
    const hang = await c.sim('n1', ['--queries', '1', '--user', 'hang', '--ignore-cancel', '--query-id-prefix', 'hang-']);
    const sql = "KILL QUERY WHERE query_id = 'hang-1' SYNC SETTINGS sync_kill_timeout = 600";
    const req = https.request(`${base}/?${q(sql)}&query_id=http-gone-1`, { ca, method: 'POST' });
    req.on('error', () => {});
    req.end();
    // the kill reached the process (which ignores it): the statement now waits up to 600 s
    await hang.waitFor((e) => e.event === 'cancel');
    assert.equal(statementLine('http-gone-1'), undefined);
    req.destroy();
    await waitForLog((l) => l.statement_id === 'http-gone-1' && (l.msg === 'statement done' || l.msg === 'statement failed'));
    await hang.stop('SIGTERM', 2_000);
  });

  test('@clickhouse/client: ping, query, command, query id and a coded error', async () => {
    const client = createClient({ url: base, username: 'default', password: '', tls: { ca_cert: ca } });
    // its own log would print the expected 516 as an error
    const aliceClient = createClient({ url: base, username: 'alice', password: 'nope', tls: { ca_cert: ca }, log: { level: ClickHouseLogLevel.OFF } });
    try {
      assert.deepEqual(await client.ping(), { success: true });
      const rs = await client.query({ query: 'SELECT node_id, is_active FROM system.clusters ORDER BY node_id', format: 'JSONEachRow', query_id: 'chjs-1' });
      assert.equal(rs.query_id, 'chjs-1');
      assert.deepEqual(await rs.json(), [
        { node_id: 'n1', is_active: 1 },
        { node_id: 'n2', is_active: 1 },
      ]);
      const json = await client.query({ query: 'SELECT query_id FROM system.processes ORDER BY query_id', format: 'JSON' });
      const doc = await json.json<{ query_id: string }>();
      assert.deepEqual(
        doc.data.map((r) => r.query_id),
        ['alice-1', 'bob-1'],
      );
      const cmd = await client.command({ query: "KILL QUERY WHERE user = 'nobody' TEST" });
      assert.match(cmd.query_id, /^[0-9a-f-]{36}$/);
      await assert.rejects(aliceClient.query({ query: 'SELECT 1 FROM system.one' }), (e: unknown) => {
        assert.ok(e instanceof ClickHouseError, String(e));
        assert.equal(e.code, '516');
        assert.equal(e.type, 'AUTHENTICATION_FAILED');
        assert.match(e.message, /^alice: Authentication failed: password is incorrect/);
        return true;
      });
    } finally {
      await client.close();
      await aliceClient.close();
    }
  });

  test('@clickhouse/client with a user certificate (mutual TLS) logs in as that user', async () => {
    const alice = c.pki.user('alice');
    const client = createClient({ url: base, username: 'alice', tls: { ca_cert: ca, cert: pem(alice.cert), key: pem(alice.key) } });
    try {
      const rs = await client.query({ query: 'KILL QUERY WHERE 1 TEST', format: 'JSONEachRow' });
      const rows = await rs.json<{ kill_status: string; query_id: string; user: string }>();
      assert.deepEqual(
        rows.map((r) => [r.kill_status, r.query_id, r.user]),
        [['unknown_status', 'alice-1', 'alice']],
      );
    } finally {
      await client.close();
    }
  });

  test('a query_id that cannot be echoed in a header is refused with 400 BAD_ARGUMENTS, and the coordinator lives', async () => {
    for (const bad of ['a%0ab', 'a%0db', 'a%00b', 'a%1bb', 'a%7fb', '%E2%98%83', 'x'.repeat(300)]) {
      const r = await curl([`${base}/?${q('SELECT 1 FROM system.one')}&query_id=${bad}`]);
      assert.equal(r.status, 400, bad);
      assert.equal(r.headers['x-clickhouse-exception-code'], '36', bad);
      assert.match(r.body, /^Code: 36\. DB::Exception: query_id (has the character U\+|is 300 characters long)/, bad);
      assert.match(r.headers['x-clickhouse-query-id'] ?? '', /^c\d+-[0-9a-f-]{36}$/, 'the coordinator names its own id (with its server id) instead');
    }
    // printable Latin-1 is a valid header value and stays allowed
    const latin = await curl([`${base}/?${q('SELECT 1 FROM system.one')}&query_id=caf%C3%A9`]);
    assert.equal(latin.status, 200, latin.body);
    // and a KILL still works on the same door
    const kill = await curl([`${base}/`, '--data-binary', 'KILL QUERY WHERE 1 TEST FORMAT TSV']);
    assert.equal(kill.status, 200, kill.body);
    assert.equal(lines(kill.body).length, 2);
  });

  test("GET is readonly, as ClickHouse's: a KILL by GET is refused (164 READONLY) and kills nothing; POST kills", async () => {
    const victim = await c.sim('n1', ['--queries', '1', '--user', 'getv', '--query-id-prefix', 'getv-']);
    const get = await curl([`${base}/?${q("KILL QUERY WHERE user = 'getv' SYNC")}`]);
    assert.equal(get.status, 500);
    assert.equal(get.headers['x-clickhouse-exception-code'], '164');
    assert.match(get.body, /^Code: 164\. DB::Exception: Cannot execute query in readonly mode\. For queries over HTTP, method GET implies readonly\. You should use method POST for modifying queries\. \(READONLY\)/);
    for (const sql of ['CREATE KILL POLICY p WHERE 1 LIMIT 1', 'DROP KILL POLICY IF EXISTS p']) {
      assert.equal((await curl([`${base}/?${q(sql)}`])).headers['x-clickhouse-exception-code'], '164', sql);
    }
    assert.equal(eventsOf(victim, 'cancel').length, 0, 'the GET killed nothing');
    const post = await curl([`${base}/`, '--data-binary', "KILL QUERY WHERE user = 'getv' SYNC FORMAT TSV"]);
    assert.equal(post.status, 200, post.body);
    assert.match(post.body, /^finished\tgetv-1\tgetv\t/);
    await victim.stop('SIGTERM', 2_000);
  });

  test('a request from another site is refused whatever it carries; a preflight is never granted', async () => {
    const alice = c.pki.user('alice');
    const victim = await c.sim('n2', ['--queries', '1', '--user', 'alice', '--query-id-prefix', 'csrf-']);
    const sql = "KILL QUERY WHERE query_id = 'csrf-1' SYNC";
    const withCert = ['--cert', alice.cert as string, '--key', alice.key as string];
    const attempts = [
      [...withCert, '-H', 'Sec-Fetch-Site: cross-site', '-H', 'Origin: https://evil.example', `${base}/?${q(sql)}`],
      [...withCert, '-H', 'Sec-Fetch-Site: cross-site', '-H', 'X-ClickHouse-SSL-Certificate-Auth: on', '-H', 'X-ClickHouse-User: alice', `${base}/`, '--data-binary', sql],
      ['-u', 'alice:alice-pw', '-H', 'Origin: https://evil.example', `${base}/`, '--data-binary', sql],
    ];
    for (const args of attempts) {
      const r = await curl(args);
      assert.equal(r.status, 403, r.body);
      assert.match(r.body, /^Code: 497\. DB::Exception: a request from another site is refused/);
    }
    const preflight = await curl(['-X', 'OPTIONS', '-H', 'Origin: https://evil.example', '-H', 'Access-Control-Request-Method: POST', `${base}/`]);
    assert.equal(preflight.status, 405);
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    assert.equal(eventsOf(victim, 'cancel').length, 0, 'nothing was killed');
    // a same-origin request (a page served by this door's host) is not another site
    const same = await curl(['-u', 'alice:alice-pw', '-H', `Origin: ${base}`, '-H', 'Sec-Fetch-Site: same-origin', `${base}/`, '--data-binary', sql]);
    assert.equal(same.status, 200, same.body);
    await victim.stop('SIGTERM', 2_000);
  });

  test('connections per client address are capped: the one past the cap is closed at once, other addresses are served', async () => {
    const { port } = new URL(base);
    const open = (): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port: Number(port), localAddress: '127.0.0.4' }, () => resolve(s));
        s.on('error', reject);
      });
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < 128; i++) held.push(await open());
      const extra = await open();
      const closed = await new Promise<boolean>((resolve) => {
        extra.on('close', () => resolve(true));
        extra.on('error', () => undefined);
        setTimeout(() => resolve(false), 3_000);
      });
      assert.ok(closed, 'the 129th connection from one address is closed');
      assert.equal(held.filter((s) => s.destroyed).length, 0, 'the first 128 stay open');
      const r = await curl([`${base}/?${q('SELECT 1 FROM system.one')}`]);
      assert.equal(r.body, '1\n');
    } finally {
      for (const s of held) s.destroy();
    }
  });

  test('a guessing attack on alice from one address does not lock alice out from another', async () => {
    // 127.0.0.2 is loopback too: the attacker's own address
    const attacker = ['--interface', '127.0.0.2'];
    for (let i = 0; i < 8; i++) {
      const r = await curl([...attacker, '-u', 'alice:guess', `${base}/?${q('SELECT 1 FROM system.one')}`]);
      assert.equal(r.status, 403);
    }
    await waitForLog((l) => l.msg === 'repeated failed logins: attempt delayed' && l.user === 'alice' && l.client === '127.0.0.2');
    const started = Date.now();
    const real = await curl(['-u', 'alice:alice-pw', `${base}/?${q('SELECT 1 FROM system.one')}`]);
    assert.equal(real.status, 200, real.body);
    assert.ok(Date.now() - started < 2_000, 'not delayed');
  });
});

function logLines(child: Child): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of child.stderr().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by the read in progress
    }
  }
  return out;
}

function statementLine(statementId: string): Record<string, unknown> | undefined {
  return logLines(c.coordinator).find((l) => l.statement_id === statementId && (l.msg === 'statement done' || l.msg === 'statement failed'));
}

async function waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = logLines(c.coordinator).find(pred);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such coordinator log line; stderr: ${c.coordinator.stderr().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
