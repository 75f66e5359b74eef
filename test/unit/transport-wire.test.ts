import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { QuellClient } from '../../client/coordinator-client';
import { frame, MessageReader } from '../../client/transport/grpc-wire';
import { messages } from '../../proto/generated/coordinator-codec';
import { deserializer, serializer, TO_OBJECT_OPTIONS, type GeneratedCodec } from '../../proto/service-definition';
import { MESSAGE_LIMIT_BYTES } from '../../proto/wire-size';
import type { CoordinatorServiceSessionRequest__Output } from '../../proto/generated/quell/v1/CoordinatorServiceSessionRequest';
import type { ExecuteResponse } from '../../proto/generated/quell/v1/ExecuteResponse';
import type { TlsOptions } from '../../common/tls/options';
import { QuellError } from '../../errors/quell-error';
import type { SqlValue } from '../../sql/types';
import { testPki, type TestPki } from '../integration/tls-fixture';

// The client transport (client/transport/) reads gRPC off HTTP/2 by itself: these
// coordinators write the wire by hand, the way grpc-js never happens to (messages cut anywhere,
// several in one frame, a status in the headers, percent-encoded messages). rawCoordinator's
// Session answers UNIMPLEMENTED, as an older coordinator's does, and the client then calls
// Execute; rawSessionCoordinator answers statements on its Session stream by hand.

const encode = serializer((messages as unknown as GeneratedCodec['messages'])['quell.v1.ExecuteResponse'] as GeneratedCodec['messages'][string]);
const HEADER: ExecuteResponse = { header: { columns: [{ name: 'who', type: 'String' }], format: '', dialect: 'DIALECT_CLICKHOUSE', statement_id: 's' } };
const rowsOf = (...names: string[]): ExecuteResponse => ({ rows: { rows: names.map((n) => ({ values: [{ str: n }] })) } });
const END: ExecuteResponse = { end: { rows: '1', elapsed_seconds: 0, affected_rows: '0', warnings: [] } };
const wire = (...ms: ExecuteResponse[]): Buffer => Buffer.concat(ms.map((m) => frame(encode(m))));

let pki: TestPki;
const servers: http2.Http2SecureServer[] = [];
const clients: QuellClient[] = [];
before(async () => {
  pki = await testPki();
});
after(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.close();
});

const OK = { ':status': 200, 'content-type': 'application/grpc' };

/** A TLS HTTP/2 server with `identity`'s certificate that answers every Execute with `answer` (Session: UNIMPLEMENTED); the paths of the Executes. */
async function rawCoordinator(answer: (stream: http2.ServerHttp2Stream) => void, identity: TlsOptions = pki.coordinator()): Promise<{ address: string; paths: string[] }> {
  const paths: string[] = [];
  const server = http2.createSecureServer({ ca: readFileSync(pki.ca), cert: readFileSync(identity.cert as string), key: readFileSync(identity.key as string) });
  server.on('stream', (stream, headers) => {
    if (headers[':path'] === '/quell.v1.CoordinatorService/Session') {
      stream.respond({ ...OK, 'grpc-status': '12', 'grpc-message': 'unknown method' }, { endStream: true });
      return;
    }
    paths.push(String(headers[':path']));
    // the request is read whole, as a server does before it answers
    stream.resume();
    stream.on('end', () => answer(stream));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, paths };
}


async function rows(address: string, sql = 'SELECT 1'): Promise<SqlValue[][]> {
  const c = new QuellClient([address], { tls: pki.anonymous() });
  clients.push(c);
  const out: SqlValue[][] = [];
  for await (const ev of c.execute(sql)) if (ev.kind === 'rows') out.push(...ev.rows);
  return out;
}

test('MessageReader finds every message whatever the chunks: cut at every byte, several in one chunk, an empty message', () => {
  const bytes = wire(HEADER, rowsOf('a', 'b'), {}, END);
  const whole: Buffer[] = [];
  new MessageReader().push(bytes, (m) => whole.push(Buffer.from(m)));
  assert.equal(whole.length, 4);
  for (let cut = 1; cut < bytes.length; cut++) {
    for (const step of [1, 3, 7]) {
      const got: Buffer[] = [];
      const reader = new MessageReader();
      reader.push(bytes.subarray(0, cut), (m) => got.push(Buffer.from(m)));
      for (let at = cut; at < bytes.length; at += step) reader.push(bytes.subarray(at, at + step), (m) => got.push(Buffer.from(m)));
      assert.deepEqual(got, whole, `cut at ${cut}, then ${step} bytes at a time`);
    }
  }
});

test('MessageReader refuses a compressed message (none was asked for)', () => {
  const bytes = wire(HEADER);
  bytes[0] = 1;
  assert.throws(() => new MessageReader().push(bytes, () => undefined), /compressed/);
});

test('MessageReader refuses a length prefix over the receive limit from its header, before buffering the body', () => {
  const head = Buffer.from([0, 0, 0, 0, 0]);
  head.writeUInt32BE(MESSAGE_LIMIT_BYTES + 1, 1);
  assert.throws(() => new MessageReader().push(head, () => assert.fail('no message')), /over the 4194304 limit/);
  const atLimit = Buffer.from([0, 0, 0, 0, 0]);
  atLimit.writeUInt32BE(MESSAGE_LIMIT_BYTES, 1);
  new MessageReader().push(atLimit, () => assert.fail('the body has not come yet'));
});

test('a result written a few bytes per DATA frame, then several messages in one frame, arrives whole', async () => {
  const c = await rawCoordinator((stream) => {
    stream.respond(OK, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }));
    const first = wire(HEADER, rowsOf('a'));
    const pieces: Buffer[] = [];
    for (let at = 0; at < first.length; at += 3) pieces.push(first.subarray(at, at + 3));
    const next = (): void => {
      const piece = pieces.shift();
      // each piece waits for the last to be sent, so that each is a frame of its own
      if (piece) stream.write(piece, () => setImmediate(next));
      else stream.end(wire(rowsOf('b', 'c'), rowsOf('d'), END));
    };
    next();
  });
  assert.deepEqual(await rows(c.address), [['a'], ['b'], ['c'], ['d']]);
  assert.deepEqual(c.paths, ['/quell.v1.CoordinatorService/Execute']);
});

test("a trailers-only refusal carries the coordinator's QuellError, its percent-encoded message decoded", async () => {
  const c = await rawCoordinator((stream) => {
    stream.respond(
      { ...OK, 'grpc-status': '9', 'grpc-message': 'Table system.n%C3%B6pe doesn%27t exist: 100%25 sure', 'quell-error-code': '60', 'quell-error-name': 'UNKNOWN_TABLE', 'quell-error-dialect': 'clickhouse' },
      { endStream: true },
    );
  });
  await assert.rejects(rows(c.address), (e: unknown) => {
    assert.ok(e instanceof QuellError);
    assert.deepEqual([e.code, e.errorName, e.message], [60, 'UNKNOWN_TABLE', "Table system.nöpe doesn't exist: 100% sure"]);
    return true;
  });
});

test('a grpc-message that is not percent-encoded after all is shown as it came', async () => {
  const c = await rawCoordinator((stream) => stream.respond({ ...OK, 'grpc-status': '13', 'grpc-message': 'disk 100% full' }, { endStream: true }));
  await assert.rejects(rows(c.address), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR' && e.message.endsWith('failed the call: disk 100% full'));
});

test('a compressed message fails the statement with NETWORK_ERROR, and it is not sent again', async () => {
  const c = await rawCoordinator((stream) => {
    stream.respond(OK);
    const bytes = wire(HEADER);
    bytes[0] = 1;
    stream.end(bytes);
  });
  await assert.rejects(rows(c.address), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR' && /compressed message/.test(e.message));
  assert.equal(c.paths.length, 1);
});

test('an HTTP error without a gRPC status (a proxy in the way) fails the statement with NETWORK_ERROR', async () => {
  const c = await rawCoordinator((stream) => stream.respond({ ':status': 502 }, { endStream: true }));
  await assert.rejects(rows(c.address), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR' && /HTTP status 502/.test(e.message));
  assert.equal(c.paths.length, 1);
});

test("a server with another identity's certificate (signed by the same CA) is never sent the statement", async () => {
  const impostor = await rawCoordinator((stream) => stream.respond({ ...OK, 'grpc-status': '0' }, { endStream: true }), pki.agent('n1'));
  await assert.rejects(rows(impostor.address), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR' && /identity mismatch: expected spiffe:\/\/quell\/coordinator/.test(e.message));
  assert.deepEqual(impostor.paths, []);
});

test('NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment does not let the client send a statement to an impostor (grpc-js ignores it too)', async () => {
  const impostor = await rawCoordinator((stream) => stream.respond({ ...OK, 'grpc-status': '0' }, { endStream: true }), pki.agent('n1'));
  const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  try {
    await assert.rejects(rows(impostor.address), (e: unknown) => e instanceof QuellError && /identity mismatch/.test(e.message));
  } finally {
    if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
  }
  assert.deepEqual(impostor.paths, []);
});

test("a message the client cannot read fails the statement even when the coordinator's trailers then say OK: its rows are not silently cut short", async () => {
  const c = await rawCoordinator((stream) => {
    stream.respond(OK, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    const bad = wire(rowsOf('b'));
    bad[0] = 1;
    // header and one row, then a message it cannot read, the rest and OK, in one go
    stream.end(Buffer.concat([wire(HEADER, rowsOf('a')), bad, wire(rowsOf('c'), END)]));
  });
  await assert.rejects(rows(c.address), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR' && /compressed message/.test(e.message));
});

const codec = messages as unknown as GeneratedCodec['messages'];
const decodeSessionRequest = deserializer(codec['quell.v1.CoordinatorServiceSessionRequest'] as GeneratedCodec['messages'][string], TO_OBJECT_OPTIONS) as (b: Buffer) => CoordinatorServiceSessionRequest__Output;
const encodeSessionResponse = serializer(codec['quell.v1.CoordinatorServiceSessionResponse'] as GeneratedCodec['messages'][string]);

/**
 * A coordinator whose Session stream is written by hand: each statement is answered with its
 * header, one row (its SQL) and its end, as one message cut into 3-byte DATA frames; then it
 * waits for the next statement on the same stream. The statements it read, in order.
 */
async function rawSessionCoordinator(): Promise<{ address: string; statements: string[]; streams: number }> {
  const seen = { address: '', statements: [] as string[], streams: 0 };
  const server = http2.createSecureServer({ ca: readFileSync(pki.ca), cert: readFileSync(pki.coordinator().cert as string), key: readFileSync(pki.coordinator().key as string) });
  server.on('stream', (stream, headers) => {
    assert.equal(headers[':path'], '/quell.v1.CoordinatorService/Session');
    seen.streams++;
    stream.respond(OK);
    const reader = new MessageReader();
    let out = Promise.resolve();
    stream.on('data', (chunk: Buffer) =>
      reader.push(chunk, (m) => {
        for (const call of decodeSessionRequest(m).calls) {
          if (!call.execute) continue;
          seen.statements.push(call.execute.sql);
          const tag = call.tag;
          const bytes = frame(encodeSessionResponse({ replies: [HEADER, rowsOf(call.execute.sql), END].map((response) => ({ tag, response })) }));
          out = out.then(async () => {
            for (let at = 0; at < bytes.length; at += 3) await new Promise<void>((resolve) => stream.write(bytes.subarray(at, at + 3), () => setImmediate(resolve)));
          });
        }
      }),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  seen.address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return seen;
}

test('statements on a Session stream written 3 bytes per DATA frame arrive whole, each with its own rows, all on one stream', async () => {
  const c = await rawSessionCoordinator();
  const client = new QuellClient([c.address], { tls: pki.anonymous() });
  clients.push(client);
  const [a, b] = await Promise.all([client.query('SELECT a'), client.query('SELECT b')]);
  assert.deepEqual([a.rows, b.rows], [[['SELECT a']], [['SELECT b']]]);
  assert.deepEqual((await client.query('SELECT c')).rows, [['SELECT c']]);
  assert.deepEqual(c.statements.sort(), ['SELECT a', 'SELECT b', 'SELECT c']);
  assert.equal(c.streams, 1);
});
