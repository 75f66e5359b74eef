import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import mysql from 'mysql2/promise';
import { freePort } from '../../common/daemon/child-processes';
import { encodeFrames, FrameDecoder, type Packet } from '../../coordinator/doors/mysql/framing';
import { CLIENT, PayloadReader, PayloadWriter } from '../../coordinator/doors/mysql/protocol';
import { nativePasswordReply } from '../native-password-fixture';
import { TestCluster, sleep } from './harness';

// Issue 24, item 6: what the MySQL door holds for a client is bounded. A statement over
// max_query_size is refused from its header, without its body being kept; sessions per user are
// capped; the memory of big packets does not pile up in the coordinator.

const MAX_SESSIONS_PER_USER = 25;
const USERS = `
users:
  default: { grants: [ALL] }
  admin: { password: adminpw, grants: [ALL] }
  reader: { password: readerpw, readonly: true }
`;

let c: TestCluster;
let port: number;
before(async () => {
  port = await freePort();
  c = await TestCluster.start({
    cluster: 'lim',
    nodes: 1,
    users: USERS,
    coordinatorArgs: ['--mysql-listen', `127.0.0.1:${port}`, '--mysql-max-sessions-per-user', String(MAX_SESSIONS_PER_USER)],
  });
});
after(async () => {
  await c?.stop();
});

function connect(user: string, password: string): Promise<mysql.Connection> {
  return mysql.createConnection({ host: '127.0.0.1', port, user, password, ssl: { ca: readFileSync(c.pki.ca) } });
}

/** The coordinator's resident set, in MiB (Linux). */
function coordinatorRssMiB(): number {
  const status = readFileSync(`/proc/${c.coordinator.proc.pid ?? 0}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  assert.ok(Number.isFinite(kb), status);
  return kb / 1024;
}

/** Packets from a stream, one at a time. */
class Reader {
  private readonly decoder = new FrameDecoder(1 << 24);
  private waiting: (() => void) | undefined;
  private ended = false;

  constructor(stream: NodeJS.ReadableStream) {
    stream.on('data', (d: Buffer) => {
      this.decoder.append(d);
      this.waiting?.();
    });
    stream.on('close', () => {
      this.ended = true;
      this.waiting?.();
    });
  }

  async next(): Promise<Packet | undefined> {
    for (;;) {
      const p = this.decoder.take();
      if (p) return p;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }
}

const CAPS = CLIENT.PROTOCOL_41 | CLIENT.SECURE_CONNECTION | CLIENT.PLUGIN_AUTH | CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT.SSL;
const fixedPart = (): PayloadWriter => new PayloadWriter().u32(CAPS).u32(1 << 24).u8(45).zeros(23);

/** A hand-made client: SSLRequest, TLS, a mysql_native_password login; the session's TLS socket and its packets. */
async function login(user: string, password: string): Promise<{ secure: tls.TLSSocket; reader: Reader }> {
  const socket = net.connect(port, '127.0.0.1');
  // the greeting, whole (its header and payload may come apart); nothing follows it until we answer
  const greeting = await new Promise<Buffer>((resolve) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      if (got.length >= 4 && got.length >= 4 + got.readUIntLE(0, 3)) {
        socket.off('data', onData);
        socket.pause();
        resolve(got);
      }
    };
    socket.on('data', onData);
  });
  const r = new PayloadReader(greeting.subarray(4));
  r.u8();
  r.nulString();
  r.u32();
  const first = r.bytes(8);
  r.skipBytes(1 + 2 + 1 + 2 + 2 + 1 + 10);
  const scramble = Buffer.concat([first, r.bytes(12)]);
  for (const f of encodeFrames(fixedPart().build(), 1).frames) socket.write(f);
  const secure = tls.connect({ socket, ca: readFileSync(c.pki.ca), checkServerIdentity: () => undefined });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  secure.on('error', () => undefined);
  const reader = new Reader(secure);
  const response = fixedPart().nulString(user).lenencString(nativePasswordReply(password, scramble)).nulString('mysql_native_password').build();
  for (const f of encodeFrames(response, 2).frames) secure.write(f);
  const ok = await reader.next();
  assert.equal(ok?.payload[0], 0x00, `login of ${user}: ${ok?.payload.subarray(9).toString()}`);
  return { secure, reader };
}

function write(stream: tls.TLSSocket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(data, (err) => (err ? reject(err) : resolve())));
}

/** An ERR packet's number and message. */
function errOf(p: Packet | undefined): { code: number; message: string } {
  assert.equal(p?.payload[0], 0xff, `an ERR packet, not ${p?.payload.subarray(0, 40).toString('hex')}`);
  return { code: p.payload.readUInt16LE(1), message: p.payload.subarray(9).toString() };
}

test('a 16 MB statement is refused within a second with Max query size exceeded (mysql2, the mariadb client); the session goes on; past 16 MiB it is 1153', async () => {
  const conn = await connect('reader', 'readerpw');
  try {
    const sql = `SELECT '${'x'.repeat(16_000_000 - 9)}'`;
    const t0 = performance.now();
    await assert.rejects(conn.query(sql), (e: { errno?: number; message?: string }) => {
      assert.equal(e.errno, 62);
      assert.equal(e.message, 'Code: 62. SYNTAX_ERROR: Max query size exceeded: 16000000 bytes, max 262144');
      return true;
    });
    const ms = performance.now() - t0;
    assert.ok(ms < 1_000, `refused after ${ms.toFixed(0)} ms`);
    process.stderr.write(`# 16 MB statement (mysql2) refused after ${ms.toFixed(0)} ms\n`);
    const [rows] = await conn.query('SELECT 1 AS x');
    assert.deepEqual(rows, [{ x: 1 }]);
  } finally {
    await conn.end();
  }

  // the stock client, the statement on stdin (its own max_allowed_packet raised to send it)
  const cli = spawn('mariadb', ['-h127.0.0.1', `-P${port}`, '--ssl-verify-server-cert', `--ssl-ca=${c.pki.ca}`, '--max-allowed-packet=64M', '-ureader', '-preaderpw']);
  let stderr = '';
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  cli.stdin.on('error', () => undefined);
  cli.stdin.end(`SELECT '${'y'.repeat(16_000_000 - 9)}';\n`);
  const code = await new Promise<number | null>((resolve) => cli.once('exit', resolve));
  assert.equal(code, 1);
  // (batch mode echoes the failed statement to stderr first)
  assert.equal(stderr.trimEnd().split('\n').at(-1), 'ERROR 62 (HY000) at line 1: Code: 62. SYNTAX_ERROR: Max query size exceeded: 16000000 bytes, max 262144');

  // beyond max_allowed_packet: MariaDB's error, and the connection closes
  const big = await connect('reader', 'readerpw');
  const t1 = performance.now();
  await assert.rejects(big.query(`SELECT '${'z'.repeat(17 * 1024 * 1024)}'`), (e: { errno?: number; message?: string }) => {
    assert.deepEqual([e.errno, e.message], [1153, "Got a packet bigger than 'max_allowed_packet' bytes"]);
    return true;
  });
  const ms = performance.now() - t1;
  assert.ok(ms < 1_000, `refused after ${ms.toFixed(0)} ms`);
  process.stderr.write(`# 17 MiB statement (mysql2) refused after ${ms.toFixed(0)} ms\n`);
  big.destroy();
});

test('20 sessions that each send most of a 16 MB packet and stall: the coordinator keeps none of it, other doors answer, nothing is left after they close', async () => {
  // a warm coordinator: one session and statement first
  const warm = await login('reader', 'readerpw');
  warm.secure.destroy();
  await sleep(300);
  const before = coordinatorRssMiB();
  const len = 0xffffff - 16;
  const sent = 0xffffff - 1024 * 1024;
  const sessions = await Promise.all(Array.from({ length: 20 }, () => login('reader', 'readerpw')));
  await Promise.all(
    sessions.map(async ({ secure }) => {
      const header = Buffer.alloc(5);
      header.writeUIntLE(len, 0, 3);
      header[3] = 0;
      header[4] = 0x03; // COM_QUERY
      await write(secure, header);
      const block = Buffer.alloc(1 << 20, 0x61);
      for (let n = 1; n < sent; n += block.length) await write(secure, block.subarray(0, Math.min(block.length, sent - n)));
    }),
  );
  // give the coordinator time to read what was sent
  await sleep(1_000);
  const during = coordinatorRssMiB();
  // the other doors answer meanwhile
  const t0 = performance.now();
  const r = await c.query('SELECT 1 AS x');
  assert.deepEqual(r.rows, [[1]]);
  const admin = await connect('admin', 'adminpw');
  const [rows] = await admin.query('SELECT 2 AS y');
  assert.deepEqual(rows, [{ y: 2 }]);
  await admin.end();
  assert.ok(performance.now() - t0 < 2_000, 'the other doors answered at once');
  for (const s of sessions) s.secure.destroy();
  await sleep(1_000);
  const afterClose = coordinatorRssMiB();
  // 20 × 15 MB buffered would be 300 MB
  assert.ok(during - before < 80, `RSS grew from ${before.toFixed(0)} to ${during.toFixed(0)} MiB with 20 stalled 16 MB packets`);
  assert.ok(afterClose - before < 80, `RSS ${afterClose.toFixed(0)} MiB after the sessions closed (before: ${before.toFixed(0)})`);
  process.stderr.write(`# RSS before ${before.toFixed(0)} MiB, with 20 stalled packets ${during.toFixed(0)} MiB, after close ${afterClose.toFixed(0)} MiB\n`);
});

test('the 16 MB packet of a stalled session is refused at its header; the session answers once the client has sent it whole', async () => {
  const { secure, reader } = await login('reader', 'readerpw');
  try {
    const body = Buffer.alloc(0xffffff - 16, 0x20);
    body[0] = 0x03;
    const t0 = performance.now();
    for (const f of encodeFrames(body, 0).frames) await write(secure, f);
    const err = errOf(await reader.next());
    assert.ok(performance.now() - t0 < 1_000);
    assert.deepEqual(err, { code: 62, message: `Code: 62. SYNTAX_ERROR: Max query size exceeded: ${body.length - 1} bytes, max 262144` });
    for (const f of encodeFrames(Buffer.from([0x0e]), 0).frames) await write(secure, f);
    assert.equal((await reader.next())?.payload[0], 0x00, 'COM_PING answered: the session goes on');
  } finally {
    secure.destroy();
  }
});

test(`sessions per user: the ${MAX_SESSIONS_PER_USER + 1}th session of one user is MariaDB's 1203; other users log in; a closed session frees its place`, async () => {
  const open = await Promise.all(Array.from({ length: MAX_SESSIONS_PER_USER }, () => connect('reader', 'readerpw')));
  try {
    await assert.rejects(connect('reader', 'readerpw'), (e: { errno?: number; message?: string }) => {
      assert.equal(e.errno, 1203);
      assert.equal(e.message, "User reader already has more than 'max_user_connections' active connections");
      return true;
    });
    const cli = spawn('mariadb', ['-h127.0.0.1', `-P${port}`, '--ssl-verify-server-cert', `--ssl-ca=${c.pki.ca}`, '-ureader', '-preaderpw', '-e', 'SELECT 1']);
    let stderr = '';
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    assert.equal(await new Promise<number | null>((resolve) => cli.once('exit', resolve)), 1);
    assert.equal(stderr, "ERROR 1203 (42000): User reader already has more than 'max_user_connections' active connections\n");
    const admin = await connect('admin', 'adminpw');
    await admin.end();
    await open.pop()?.end();
    // the session's end reaches the door a moment after the client's
    let again: mysql.Connection | undefined;
    for (let i = 0; i < 50 && !again; i++) again = await connect('reader', 'readerpw').catch(() => sleep(20).then(() => undefined));
    assert.ok(again, 'a place came free');
    open.push(again);
  } finally {
    await Promise.allSettled(open.map((s) => s.end()));
  }
});
