import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import pino from 'pino';
import { TransportSecurity } from '../../common/tls';
import { MysqlDoor } from '../../coordinator/doors/mysql/door';
import { encodeFrames, FrameDecoder, type Packet } from '../../coordinator/doors/mysql/framing';
import { CLIENT, PayloadReader, PayloadWriter } from '../../coordinator/doors/mysql/protocol';
import { SessionRegistry } from '../../coordinator/doors/sessions';
import { StatementRunner, type RunnerDeps } from '../../coordinator/statements/statement-runner';
import { Users } from '../../coordinator/auth/users';
import { testPki } from './tls-fixture';
import { spawnChild } from '../../common/daemon/child-processes';
import { nativePasswordReply as nativeReply } from '../native-password-fixture';

// The MySQL door's wire on its own, in process, with a hand-made client: what the stock clients
// do not do (send their TLS ClientHello in the same write as the SSLRequest).

let door: MysqlDoor;
let security: TransportSecurity;
let ca: Buffer;
let caFile: string;
before(async () => {
  const pki = await testPki();
  caFile = pki.ca;
  ca = Buffer.from(await import('node:fs').then((fs) => fs.readFileSync(pki.ca)));
  security = TransportSecurity.from(pki.coordinator());
  door = await startDoor(security, Users.parse('users: { default: {}, pat: { password: ppw } }'));
});

/** A door in this process; a login needs only the users, and no statement here reaches a cluster. */
function startDoor(sec: TransportSecurity, users: Users, packetBudgetBytes?: number): Promise<MysqlDoor> {
  const deps = { users, defaultCluster: 'c', log: pino({ level: 'silent' }) } as unknown as RunnerDeps;
  const sessions = new SessionRegistry();
  return MysqlDoor.start({ listen: '127.0.0.1:0', security: sec, runner: new StatementRunner({ ...deps, sessions }), sessions, packetBudgetBytes, log: pino({ level: 'silent' }) });
}
after(() => {
  door?.destroy();
  security?.close();
});

/** Packets from a stream, one at a time. */
class Reader {
  private readonly decoder = new FrameDecoder(1 << 24);
  private waiting: (() => void) | undefined;

  constructor(stream: NodeJS.ReadableStream) {
    stream.on('data', (d: Buffer) => {
      this.decoder.append(d);
      this.waiting?.();
    });
  }

  async next(): Promise<Packet> {
    for (;;) {
      const p = this.decoder.take();
      if (p) return p;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }
}

/** The socket for TLS, with `prefix` put in front of TLS's first write: SSLRequest and ClientHello in one segment. */
class OneSegment extends Duplex {
  constructor(
    private readonly socket: net.Socket,
    private prefix: Buffer | undefined,
  ) {
    super();
    socket.on('data', (d: Buffer) => this.push(d));
    socket.on('end', () => this.push(null));
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const data = this.prefix ? Buffer.concat([this.prefix, chunk]) : chunk;
    this.prefix = undefined;
    this.socket.write(data, (err) => done(err));
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.socket.destroy();
    done(err);
  }
}

const CAPS = CLIENT.PROTOCOL_41 | CLIENT.SECURE_CONNECTION | CLIENT.PLUGIN_AUTH | CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT.SSL;
const fixedPart = (): PayloadWriter => new PayloadWriter().u32(CAPS).u32(1 << 24).u8(45).zeros(23);
const send = (stream: NodeJS.WritableStream, payload: Buffer, seq: number): void => {
  for (const f of encodeFrames(payload, seq).frames) stream.write(f);
};

/** Connects, reads the greeting and switches to TLS with the SSLRequest and ClientHello in one segment. */
async function tlsSession(to: MysqlDoor = door): Promise<{ secure: tls.TLSSocket; reader: Reader; scramble: Buffer }> {
  const [host, port] = to.address.split(':') as [string, string];
  const socket = net.connect(Number(port), host);
  const greeting = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
  socket.pause();
  const r = new PayloadReader(greeting.subarray(4));
  assert.equal(r.u8(), 10);
  r.nulString();
  assert.ok(r.u32() > 0, 'a connection id');
  const first = r.bytes(8);
  r.skipBytes(1 + 2 + 1 + 2 + 2 + 1 + 10);
  const scramble = Buffer.concat([first, r.bytes(12)]);
  const sslRequest = Buffer.concat(encodeFrames(fixedPart().build(), 1).frames);
  const secure = tls.connect({ socket: new OneSegment(socket, sslRequest), ca, checkServerIdentity: () => undefined });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  return { secure, reader: new Reader(secure), scramble };
}

test('an SSLRequest and the TLS ClientHello in one TCP segment: TLS still sees every byte, the login and a query work', async () => {
  const { secure, reader } = await tlsSession();
  // user `default` has no password: an empty mysql_native_password reply
  send(secure, fixedPart().nulString('default').lenencString(Buffer.alloc(0)).nulString('mysql_native_password').build(), 2);
  const ok = await reader.next();
  assert.deepEqual([ok.seq, ok.payload[0]], [3, 0x00]);

  send(secure, Buffer.concat([Buffer.from([0x03]), Buffer.from("SHOW STATUS LIKE 'Ssl_version'")]), 0);
  const packets: Packet[] = [];
  for (let eofs = 0; eofs < 2; ) {
    const p = await reader.next();
    packets.push(p);
    if (p.payload[0] === 0xfe && p.payload.length < 9) eofs++;
  }
  // column count, two definitions, EOF, one row, EOF; numbered from 1
  assert.deepEqual(packets.map((p) => p.seq), [1, 2, 3, 4, 5, 6]);
  const row = new PayloadReader(packets[4]?.payload ?? Buffer.alloc(0));
  assert.deepEqual([row.lenencBytes().toString(), row.lenencBytes().toString()], ['Ssl_version', secure.getProtocol()]);
  secure.destroy();
});

test('a client that answers for another plugin is switched to mysql_native_password, then logs in', async () => {
  const { secure, reader, scramble } = await tlsSession();
  send(secure, fixedPart().nulString('pat').lenencString(randomBytes(32)).nulString('caching_sha2_password').build(), 2);
  const change = await reader.next();
  const r = new PayloadReader(change.payload);
  assert.deepEqual([change.seq, r.u8(), r.nulString()], [3, 0xfe, 'mysql_native_password']);
  assert.deepEqual(r.bytes(20), scramble, 'the same challenge');
  send(secure, nativeReply('ppw', scramble), 4);
  const ok = await reader.next();
  assert.deepEqual([ok.seq, ok.payload[0]], [5, 0x00]);
  secure.destroy();
});

test('a client that sends its handshake response in plaintext to a TLS door is refused with 1045 before any password check', async () => {
  const [host, port] = door.address.split(':') as [string, string];
  const socket = net.connect(Number(port), host);
  const reader = new Reader(socket);
  await reader.next();
  send(socket, new PayloadWriter().u32(CAPS & ~CLIENT.SSL).u32(1 << 24).u8(45).zeros(23).nulString('default').lenencString(Buffer.alloc(0)).build(), 1);
  const err = await reader.next();
  assert.equal(err.payload[0], 0xff);
  assert.match(err.payload.subarray(3).toString(), /^#28000Access denied for user 'default'@'127\.0\.0\.1' \(using password: NO\): this server requires TLS/);
  socket.destroy();
});

test('plaintext (--insecure, loopback): no TLS offered, the stock client logs in and runs a statement through the runner', async () => {
  const plainDoor = await startDoor(TransportSecurity.from({ insecure: true }), Users.defaults());
  try {
    const [host, port] = plainDoor.address.split(':') as [string, string];
    const cli = spawnChild('mariadb', [`-h${host}`, `-P${port}`, '-udefault', '-N', '-e', 'SELECT @@have_ssl; SELECT dummy FROM system.one']);
    assert.equal(await cli.exited, 0, cli.stderr());
    assert.deepEqual(cli.stdout().trim().split('\n'), ['DISABLED', '0']);
  } finally {
    plainDoor.destroy();
  }
});

test('the door-wide packet budget: a big statement that does not fit is refused with Code 241 and its session goes on; the budget comes back when sessions go', async () => {
  const small = await startDoor(security, Users.parse('users: { default: {} }'), 100 * 1024);
  const sessions: { secure: tls.TLSSocket; reader: Reader }[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const s = await tlsSession(small);
      send(s.secure, fixedPart().nulString('default').lenencString(Buffer.alloc(0)).nulString('mysql_native_password').build(), 2);
      assert.equal((await s.reader.next()).payload[0], 0x00);
      sessions.push(s);
    }
    const statement = (n: number): Buffer => Buffer.concat([Buffer.from([0x03]), Buffer.from(`SELECT 1 /* ${'x'.repeat(n - 14)} */`)]);
    const big = statement(40 * 1024);
    const framed = Buffer.concat(encodeFrames(big, 0).frames);
    // two sessions each start a 40 KiB statement and stall: 80 of the 100 KiB are taken
    for (const s of sessions.slice(0, 2)) s.secure.write(framed.subarray(0, 100));
    await new Promise((resolve) => setTimeout(resolve, 200));
    // the third does not fit: its bytes are read and thrown away, and it is told so
    const third = sessions[2] as { secure: tls.TLSSocket; reader: Reader };
    third.secure.write(framed);
    const err = await third.reader.next();
    assert.equal(err.payload[0], 0xff);
    assert.equal(err.payload.readUInt16LE(1), 241);
    assert.equal(
      err.payload.subarray(9).toString(),
      `Code: 241. MEMORY_LIMIT_EXCEEDED: Memory limit (MySQL door, packets being received) exceeded: a packet of ${big.length} bytes would take the door past its maximum of 102400 bytes; try again later`,
    );
    // a small statement still gets through, on the same session
    send(third.secure, Buffer.from([0x0e]), 0);
    assert.equal((await third.reader.next()).payload[0], 0x00);
    // the stalled sessions go: their bytes come back, and the big statement is taken
    for (const s of sessions.slice(0, 2)) s.secure.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const fourth = sessions[3] as { secure: tls.TLSSocket; reader: Reader };
    fourth.secure.write(framed);
    const answer = await fourth.reader.next();
    assert.notEqual(answer.payload[0], 0xff, answer.payload.subarray(9).toString());
  } finally {
    for (const s of sessions) s.secure.destroy();
    small.destroy();
  }
});

/**
 * An on-path relay that clears CLIENT_SSL in the door's greeting and otherwise passes bytes on;
 * what the client sent it, in the clear.
 */
async function strippingRelay(): Promise<{ port: number; seen: () => Buffer; close: () => void }> {
  const [host, port] = door.address.split(':') as [string, string];
  const fromClient: Buffer[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), host);
    sockets.push(client, upstream);
    let greeting = Buffer.alloc(0);
    let greeted = false;
    upstream.on('data', (d: Buffer) => {
      if (greeted) return void client.write(d);
      greeting = Buffer.concat([greeting, d]);
      if (greeting.length < 4 || greeting.length < 4 + greeting.readUIntLE(0, 3)) return;
      greeted = true;
      // header, protocol byte, version (NUL-terminated), connection id, 8 bytes of scramble, a filler: then the capabilities' low 16 bits
      const caps = greeting.indexOf(0, 5) + 1 + 4 + 8 + 1;
      greeting.writeUInt16LE(greeting.readUInt16LE(caps) & ~CLIENT.SSL, caps);
      client.write(greeting);
    });
    client.on('data', (d: Buffer) => {
      fromClient.push(d);
      upstream.write(d);
    });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('close', () => b.destroy());
      a.on('error', () => undefined);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    seen: () => Buffer.concat(fromClient),
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('a relay that hides CLIENT_SSL: mariadb --ssl-ca falls back to a plaintext login (the relay holds the user and the proof); --ssl-verify-server-cert refuses before sending either', async () => {
  const relay = await strippingRelay();
  try {
    const fooled = spawnChild('mariadb', ['-h127.0.0.1', `-P${relay.port}`, `--ssl-ca=${caFile}`, '-upat', '-pppw', '-e', 'SELECT 1']);
    await fooled.exited;
    // the door itself wants TLS and refuses; the relay has what it needs for a login of its own over TLS
    assert.match(fooled.stderr(), /ERROR 1045 \(28000\): Access denied for user 'pat'@'127\.0\.0\.1' \(using password: YES\): this server requires TLS/);
    assert.ok(relay.seen().includes(Buffer.from('pat\0')), 'the relay read the plaintext handshake response');
    const before = relay.seen().length;
    const careful = spawnChild('mariadb', ['-h127.0.0.1', `-P${relay.port}`, '--ssl-verify-server-cert', `--ssl-ca=${caFile}`, '-upat', '-pppw', '-e', 'SELECT 1']);
    assert.equal(await careful.exited, 1);
    assert.equal(careful.stderr().trim(), 'ERROR 2026 (HY000): TLS/SSL error: SSL is required, but the server does not support it');
    assert.equal(relay.seen().length, before, 'not a byte from the careful client');
  } finally {
    relay.close();
  }
});

test('a session whose user a reload removed fails at its next statement; one whose password changed too', async () => {
  const users = Users.parse('users: { default: {}, pat: { password: ppw }, sam: { password: spw } }');
  const own = await startDoor(security, users);
  const mysql = (await import('mysql2/promise')).default;
  const port = Number(own.address.split(':').pop());
  const connect = (user: string, password: string) => mysql.createConnection({ host: '127.0.0.1', port, user, password, ssl: { ca } });
  const pat = await connect('pat', 'ppw');
  const sam = await connect('sam', 'spw');
  try {
    const message = (sql: string, c: typeof pat) => c.query(sql).then(() => 'ok', (e: unknown) => String((e as Error).message));
    // no cluster behind this door: a statement that passed its login fails later, never with the login's words
    assert.doesNotMatch(await message('SHOW PROCESSLIST', pat), /no longer in the users file/);
    users.replace(Users.parse('users: { default: {}, sam: { password: other } }'));
    assert.match(await message('SHOW PROCESSLIST', pat), /pat: Authentication failed: the user is no longer in the users file, or its password changed since this session logged in/);
    assert.match(await message('SHOW PROCESSLIST', sam), /sam: Authentication failed: the user is no longer in the users file/);
  } finally {
    pat.destroy();
    sam.destroy();
    own.destroy();
  }
});
