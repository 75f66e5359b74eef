import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { quellProto } from '../../proto/load';
import { BLOCK_BYTES, ExecuteSink, HELD_BYTES } from '../../coordinator/doors/grpc/execute-sink';
import type { ExecuteRequest__Output } from '../../proto/generated/quell/v1/ExecuteRequest';
import type { ExecuteResponse, ExecuteResponse__Output } from '../../proto/generated/quell/v1/ExecuteResponse';

// Issue 11 item 6: the coordinator writes a result only as fast as its client reads it. A real
// gRPC server streams a 20 MB result through ExecuteSink to a raw HTTP/2 client that does not
// read: the producer must stop, holding a bounded amount, and go on once the client reads.

type Call = grpc.ServerWritableStream<ExecuteRequest__Output, ExecuteResponse>;

const ROWS = 2_000;
const CELL = 'x'.repeat(10_000);
const BATCH = 100; // 1 MB per rows() call: one call must already be split into blocks

interface Producer {
  produced: number;
  done: boolean;
  sink?: ExecuteSink;
}

async function server(p: Producer): Promise<{ port: number; stop: () => void }> {
  const s = new grpc.Server();
  s.addService(quellProto().coordinator.quell.v1.CoordinatorService.service, {
    Execute: (call: Call) => {
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      const sink = new ExecuteSink(call, 'st', abort.signal);
      p.sink = sink;
      void (async () => {
        sink.header([{ name: 'text', type: 'String' }, { name: 'n', type: 'UInt64' }], undefined);
        for (let i = 0; i < ROWS; i += BATCH) {
          const rows = Array.from({ length: BATCH }, (_, k) => [CELL, i + k]);
          p.produced += rows.length;
          await sink.rows(rows);
        }
        await sink.end({ error: undefined, rows: ROWS, elapsedSeconds: 0, affectedRows: 0 });
        p.done = true;
        call.end();
      })();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, n) => (err ? reject(err) : resolve(n))),
  );
  return { port, stop: () => s.forceShutdown() };
}

/** gRPC's length-prefixed messages in a response body. */
function messages(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; ) {
    const len = body.readUInt32BE(at + 1);
    out.push(body.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  return out;
}

/** Lets the event loop run until `cond` holds (no clock involved: it fails only by never holding). */
async function until(cond: () => boolean, turns = 100_000): Promise<void> {
  for (let i = 0; i < turns && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), 'condition never held');
}

test('a client that does not read stalls its statement; the coordinator holds a bounded amount; nothing is lost', async () => {
  const p: Producer = { produced: 0, done: false };
  const srv = await server(p);
  const session = http2.connect(`http://127.0.0.1:${srv.port}`);
  try {
    const req = session.request({ ':method': 'POST', ':path': '/quell.v1.CoordinatorService/Execute', 'content-type': 'application/grpc', te: 'trailers' });
    req.end(Buffer.from([0, 0, 0, 0, 0])); // one empty ExecuteRequest
    req.pause(); // and do not read

    await until(() => (p.sink?.stalls ?? 0) > 0);
    const stalledAt = p.produced;
    // turns go by and the producer stays where it is
    for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
    assert.equal(p.produced, stalledAt, 'the producer is paused');
    assert.equal(p.done, false);
    assert.ok(p.sink && p.sink.heldBytes <= HELD_BYTES + BLOCK_BYTES, `held ${p.sink?.heldBytes}`);
    assert.ok(stalledAt * CELL.length < 2 * HELD_BYTES, `produced ${stalledAt} rows before stalling`);

    // now the client reads: everything arrives, in order, in messages gRPC clients accept
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.resume();
    await new Promise<void>((resolve) => req.on('end', () => resolve()));
    const decode = quellProto().coordinator.quell.v1.CoordinatorService.service.Execute.responseDeserialize as (b: Buffer) => ExecuteResponse__Output;
    const msgs = messages(Buffer.concat(chunks));
    for (const m of msgs) assert.ok(m.length <= 4 * 1024 * 1024, `a message of ${m.length} bytes`);
    const decoded = msgs.map(decode);
    const numbers = decoded.flatMap((m) => m.rows?.rows.map((r) => Number(r.values[1]?.int)) ?? []);
    assert.deepEqual(numbers, Array.from({ length: ROWS }, (_, i) => i));
    assert.ok(decoded.filter((m) => m.rows).length >= 20, 'the 20 MB result went out in blocks');
    assert.equal(decoded.at(-1)?.end?.rows, String(ROWS));
    assert.equal(p.done, true);
  } finally {
    session.destroy();
    srv.stop();
  }
});

test('a client that goes away releases a stalled producer', async () => {
  const p: Producer = { produced: 0, done: false };
  const srv = await server(p);
  const session = http2.connect(`http://127.0.0.1:${srv.port}`);
  try {
    const req = session.request({ ':method': 'POST', ':path': '/quell.v1.CoordinatorService/Execute', 'content-type': 'application/grpc', te: 'trailers' });
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    req.pause();
    await until(() => (p.sink?.stalls ?? 0) > 0);
    req.close(http2.constants.NGHTTP2_CANCEL);
    // the producer runs to its end without anyone reading: its writes are dropped
    await until(() => p.done);
    assert.equal(p.produced, ROWS);
  } finally {
    session.destroy();
    srv.stop();
  }
});
