import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrames, FrameDecoder, MAX_FRAME, PacketBudget, PacketTooLarge, SMALL_FRAME } from '../../coordinator/doors/mysql/framing';
import { greetingPacket, newScramble, parseHandshakeResponse, SERVER_CAPABILITIES } from '../../coordinator/doors/mysql/handshake';
import { CLIENT, MalformedPacket, PayloadReader, PayloadWriter } from '../../coordinator/doors/mysql/protocol';
import { errPacket, okPacket, textRowPacket, wireError } from '../../coordinator/doors/mysql/results';
import { chError, QuellError } from '../../errors/quell-error';

test('frames: a payload of exactly 2^24 - 1 bytes is followed by an empty frame; the decoder joins them', () => {
  const payload = Buffer.alloc(MAX_FRAME, 7);
  const { frames, next } = encodeFrames(payload, 3);
  assert.equal(next, 5);
  const wire = Buffer.concat(frames);
  assert.equal(wire.length, 4 + MAX_FRAME + 4);
  const d = new FrameDecoder(32 * 1024 * 1024);
  // byte by byte across the header boundary, then the rest
  d.append(wire.subarray(0, 2));
  assert.equal(d.take(), undefined);
  d.append(wire.subarray(2));
  const p = d.take();
  assert.deepEqual([p?.seq, p?.frames, p?.payload.length], [3, 2, MAX_FRAME]);
  assert.equal(d.take(), undefined);
});

test('frames: packets are taken one at a time; what follows stays for takeLeftover (the TLS bytes after an SSLRequest)', () => {
  const d = new FrameDecoder(1024);
  const a = Buffer.concat(encodeFrames(Buffer.from('first'), 1).frames);
  d.append(Buffer.concat([a, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])]));
  assert.equal(d.take()?.payload.toString(), 'first');
  assert.deepEqual([...d.takeLeftover()], [0x16, 0x03, 0x01, 0x02, 0x00]);
  assert.equal(d.buffered, 0);
});

test('frames: a header that claims more than the limit is refused before its bytes arrive', () => {
  const d = new FrameDecoder(64 * 1024);
  d.append(Buffer.from('GET / HTTP/1.1'));
  assert.throws(() => d.take(), (e: unknown) => e instanceof PacketTooLarge && e.limit === 64 * 1024);
});

test('frames: a packet over the keep limit is thrown away as it arrives, never held; it comes out as dropped, with its command byte and size', () => {
  const d = new FrameDecoder({ max: 32 * 1024 * 1024, keep: 1000 });
  const big = Buffer.alloc(MAX_FRAME + 10, 0x61);
  big[0] = 0x03;
  const wire = Buffer.concat([...encodeFrames(big, 0).frames, ...encodeFrames(Buffer.from([0x0e]), 0).frames]);
  // in 64 KiB pieces, as a socket gives them: nothing piles up
  for (let i = 0; i < wire.length - 5; i += 65536) {
    d.append(wire.subarray(i, Math.min(i + 65536, wire.length - 5)));
    if (i + 65536 < wire.length - 5) assert.equal(d.take(), undefined);
    assert.ok(d.buffered <= 65536, `${d.buffered} bytes held`);
  }
  d.append(wire.subarray(wire.length - 5));
  const p = d.take();
  assert.deepEqual([p?.seq, p?.frames, [...(p?.payload ?? [])], p?.dropped], [0, 2, [0x03], { reason: 'tooLarge', size: MAX_FRAME + 10 }]);
  // what follows is the next packet, whole
  const ping = d.take();
  assert.deepEqual([ping?.seq, [...(ping?.payload ?? [])], ping?.dropped], [0, [0x0e], undefined]);
  // past max: refused at the header, numbered after it
  const e = new FrameDecoder({ max: 2000, keep: 1000 });
  e.append(Buffer.from([0xd0, 0x07, 0x00, 0x00]));
  assert.deepEqual(e.take(), undefined);
  e.append(Buffer.alloc(2000));
  assert.deepEqual(e.take()?.dropped, { reason: 'tooLarge', size: 2000 });
  e.append(Buffer.from([0xd1, 0x07, 0x00, 0x05]));
  assert.throws(() => e.take(), (err: unknown) => err instanceof PacketTooLarge && err.limit === 2000 && err.seq === 5);
});

test('frames: a budget shared by decoders refuses big frames past its limit, takes small ones, and gets its bytes back', () => {
  const budget = new PacketBudget(100 * 1024);
  const a = new FrameDecoder(1 << 20, budget);
  const b = new FrameDecoder(1 << 20, budget);
  const header = (len: number, seq = 0): Buffer => Buffer.from([len & 0xff, (len >> 8) & 0xff, len >> 16, seq]);
  a.append(Buffer.concat([header(60 * 1024), Buffer.from([0x03])]));
  assert.equal(a.take(), undefined);
  assert.equal(budget.inUse, 60 * 1024);
  b.append(Buffer.concat([header(60 * 1024), Buffer.from([0x03])]));
  assert.equal(b.take(), undefined);
  assert.equal(budget.inUse, 60 * 1024, 'the second big frame took nothing');
  b.append(Buffer.alloc(60 * 1024 - 1));
  assert.deepEqual(b.take()?.dropped, { reason: 'budget', size: 60 * 1024 });
  // a small frame always gets in
  b.append(Buffer.concat(encodeFrames(Buffer.alloc(SMALL_FRAME, 1), 0).frames));
  assert.equal(b.take()?.payload.length, SMALL_FRAME);
  assert.equal(budget.inUse, 60 * 1024);
  // the first packet completes: its bytes go back
  a.append(Buffer.alloc(60 * 1024 - 1));
  assert.equal(a.take()?.payload.length, 60 * 1024);
  assert.equal(budget.inUse, 0);
  // a connection that goes away mid-packet gives back what its packet took, and takes no more
  a.append(header(50 * 1024));
  assert.equal(a.take(), undefined);
  assert.equal(budget.inUse, 50 * 1024);
  a.close();
  a.close();
  assert.equal(budget.inUse, 0);
});

test('length-encoded integers and strings round-trip at every size class', () => {
  for (const n of [0, 250, 251, 65535, 65536, 2 ** 24 - 1, 2 ** 24, 2 ** 40]) {
    assert.equal(new PayloadReader(new PayloadWriter().lenenc(n).build()).lenenc(), n);
  }
  const r = new PayloadReader(new PayloadWriter().lenencString('héllo').nulString('x').build());
  assert.equal(r.lenencBytes().toString('utf8'), 'héllo');
  assert.equal(r.nulString(), 'x');
  assert.throws(() => r.u8(), MalformedPacket);
});

/** A HandshakeResponse41 as libmariadb builds one. */
function response(o: { caps: number; user?: string; auth?: Buffer; db?: string; plugin?: string; sslOnly?: boolean }): Buffer {
  const w = new PayloadWriter().u32(o.caps).u32(16 << 20).u8(45).zeros(23);
  if (o.sslOnly) return w.build();
  w.nulString(o.user ?? '');
  if (o.caps & CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA) w.lenencString(o.auth ?? Buffer.alloc(0));
  else w.u8((o.auth ?? Buffer.alloc(0)).length).bytes(o.auth ?? Buffer.alloc(0));
  if (o.caps & CLIENT.CONNECT_WITH_DB) w.nulString(o.db ?? '');
  if (o.caps & CLIENT.PLUGIN_AUTH) w.nulString(o.plugin ?? '');
  return w.build();
}

test('handshake response: SSLRequest, user, auth data, database and plugin; only capabilities both sides have count', () => {
  const base = CLIENT.PROTOCOL_41 | CLIENT.SECURE_CONNECTION | CLIENT.PLUGIN_AUTH | CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA;
  const ssl = parseHandshakeResponse(response({ caps: base | CLIENT.SSL, sslOnly: true }), SERVER_CAPABILITIES | CLIENT.SSL);
  assert.equal(ssl.sslRequest, true);
  const auth = Buffer.alloc(20, 9);
  const full = parseHandshakeResponse(response({ caps: base | CLIENT.CONNECT_WITH_DB, user: 'etl', auth, db: 'system', plugin: 'mysql_native_password' }), SERVER_CAPABILITIES);
  assert.deepEqual([full.sslRequest, full.user, full.authResponse, full.database, full.plugin], [false, 'etl', auth, 'system', 'mysql_native_password']);
  // a client that claims CONNECT_WITH_DB to a server that did not offer it... is read as the server understands it
  const noLenenc = parseHandshakeResponse(response({ caps: CLIENT.PROTOCOL_41 | CLIENT.SECURE_CONNECTION, user: 'u', auth }), SERVER_CAPABILITIES);
  assert.deepEqual([noLenenc.user, noLenenc.authResponse, noLenenc.plugin], ['u', auth, '']);
  assert.throws(() => parseHandshakeResponse(response({ caps: CLIENT.SECURE_CONNECTION, user: 'u' }), SERVER_CAPABILITIES), MalformedPacket);
  assert.throws(() => parseHandshakeResponse(Buffer.from([1, 2, 3]), SERVER_CAPABILITIES), MalformedPacket);
});

test('greeting: protocol 10, version, connection id, the scramble in two parts and mysql_native_password', () => {
  const scramble = newScramble();
  assert.ok([...scramble].every((b) => b >= 33 && b <= 126), 'printable, never NUL');
  const r = new PayloadReader(greetingPacket({ serverVersion: 'v', connectionId: 77, scramble, capabilities: SERVER_CAPABILITIES | CLIENT.SSL, charset: 45 }));
  assert.equal(r.u8(), 10);
  assert.equal(r.nulString(), 'v');
  assert.equal(r.u32(), 77);
  const first = r.bytes(8);
  r.skipBytes(1);
  const low = r.u16();
  r.skipBytes(3);
  const caps = low | (r.u16() << 16);
  assert.ok(caps & CLIENT.SSL && caps & CLIENT.PLUGIN_AUTH);
  assert.equal(r.u8(), 21);
  r.skipBytes(10);
  assert.deepEqual(Buffer.concat([first, r.bytes(12)]), scramble);
  r.skipBytes(1);
  assert.equal(r.nulString(), 'mysql_native_password');
});

test('errors: MariaDB-form errors keep their number and SQLSTATE; ClickHouse-form errors travel as ClickHouse sends them', () => {
  assert.deepEqual(wireError(QuellError.mariadb(1094, 'HY000', 'Unknown thread id: 9999')), { code: 1094, sqlstate: 'HY000', message: 'Unknown thread id: 9999' });
  assert.deepEqual(wireError(chError('UNKNOWN_IDENTIFIER', 'Unknown identifier: nope')), { code: 47, sqlstate: 'HY000', message: 'Code: 47. UNKNOWN_IDENTIFIER: Unknown identifier: nope' });
  const p = errPacket({ code: 1094, sqlstate: 'HY000', message: 'Unknown thread id: 9999' });
  assert.deepEqual([p[0], p.readUInt16LE(1), p.subarray(3).toString()], [0xff, 1094, '#HY000Unknown thread id: 9999']);
  const ok = new PayloadReader(okPacket(3, 1));
  assert.deepEqual([ok.u8(), ok.lenenc(), ok.lenenc(), ok.u16(), ok.u16()], [0, 3, 0, 2, 1]);
});

test('text rows: NULL as 0xfb, numbers and strings as text, MariaDB-form decimals with three places', () => {
  const cols = [{ name: 'a', type: 'String' as const }, { name: 'b', type: 'Float64' as const }, { name: 'c', type: 'UInt64' as const }];
  const r = new PayloadReader(textRowPacket([null, 0, 2 ** 41], cols, 'mariadb'));
  assert.equal(r.u8(), 0xfb);
  assert.equal(r.lenencBytes().toString(), '0.000');
  assert.equal(r.lenencBytes().toString(), String(2 ** 41));
  const ch = new PayloadReader(textRowPacket(['x', 1.5, 1], cols, 'clickhouse'));
  assert.deepEqual([ch.lenencBytes().toString(), ch.lenencBytes().toString(), ch.lenencBytes().toString()], ['x', '1.5', '1']);
});
