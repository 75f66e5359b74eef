import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { HttpSink } from '../../coordinator/doors/http/http-sink';
import { chError } from '../../errors/quell-error';
import type { Column, SqlValue } from '../../sql/types';

// The HTTP door's sink on a real loopback HTTP server: flow control, and where an error goes
// (its own status before any row, appended to the body after rows, as ClickHouse does).

const COLUMNS: Column[] = [
  { name: 'text', type: 'String' },
  { name: 'n', type: 'UInt64' },
];
const log = pino({ level: 'silent' });

type Produce = (sink: HttpSink) => Promise<void>;

interface Served {
  readonly port: number;
  sink?: HttpSink;
  produced: number;
  done: boolean;
  close(): void;
}

/** A server whose one handler runs `produce` against an HttpSink, as the door wires it. */
async function serve(produce: Produce): Promise<Served> {
  const server = http.createServer((req, res) => {
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const sink = new HttpSink(res, { statementId: 'st-1', defaultFormat: 'TabSeparated', signal: abort.signal, log });
    served.sink = sink;
    void produce(sink).then(() => {
      served.done = true;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const served: Served = {
    port: (server.address() as AddressInfo).port,
    produced: 0,
    done: false,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
  return served;
}

function get(port: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port, path: '/' }, resolve).on('error', reject));
}

async function text(res: http.IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let out = '';
  for await (const chunk of res) out += chunk as string;
  return out;
}

/** Lets the event loop run until `cond` holds (no clock involved: it fails only by never holding). */
async function until(cond: () => boolean, turns = 100_000): Promise<void> {
  for (let i = 0; i < turns && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), 'condition never held');
}

// 40 MB: more than loopback socket buffers hold
const ROWS = 4_000;
const CELL = 'x'.repeat(10_000);

test('a client that does not read stalls the producer; once it reads, every row arrives in order', async () => {
  const s = await serve(async (sink) => {
    sink.header(COLUMNS, undefined);
    for (let i = 0; i < ROWS; i += 100) {
      const rows: SqlValue[][] = Array.from({ length: 100 }, (_, k) => [CELL, i + k]);
      s.produced += rows.length;
      await sink.rows(rows);
    }
    await sink.end({ error: undefined, rows: ROWS, affectedRows: 0, elapsedSeconds: 0 });
  });
  try {
    const res = await get(s.port);
    res.pause();
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-clickhouse-query-id'], 'st-1');
    await until(() => (s.sink?.stalls ?? 0) > 0);
    // the kernel's socket buffers may still take a little more, but not the whole result
    for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
    assert.equal(s.done, false);
    assert.ok(s.produced < ROWS, `produced ${s.produced} of ${ROWS} rows for a client that reads nothing`);
    const body = await text(res);
    const numbers = body
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => Number(l.split('\t')[1]));
    assert.deepEqual(numbers, Array.from({ length: ROWS }, (_, i) => i));
    await until(() => s.done);
  } finally {
    s.close();
  }
});

test('a client that goes away releases a stalled producer', async () => {
  const s = await serve(async (sink) => {
    sink.header(COLUMNS, undefined);
    for (let i = 0; i < ROWS; i += 100) {
      s.produced += 100;
      await sink.rows(Array.from({ length: 100 }, (_, k) => [CELL, i + k]));
    }
    await sink.end({ error: undefined, rows: ROWS, affectedRows: 0, elapsedSeconds: 0 });
  });
  try {
    const res = await get(s.port);
    res.pause();
    await until(() => (s.sink?.stalls ?? 0) > 0);
    res.destroy();
    await until(() => s.done);
    assert.equal(s.produced, ROWS);
  } finally {
    s.close();
  }
});

test('an error after rows went out is appended to the 200 body; one before any row gets its status', async () => {
  const late = await serve(async (sink) => {
    sink.header(COLUMNS, 'TSV');
    await sink.rows([['a', 1]]);
    // the block goes out on the next turn: the 200 is sent with it
    await new Promise((r) => setImmediate(r));
    await sink.end({ error: chError('TIMEOUT_EXCEEDED', 'too slow'), rows: 1, affectedRows: 0, elapsedSeconds: 0 });
  });
  const early = await serve(async (sink) => {
    sink.header(COLUMNS, undefined);
    // gathered but not yet sent: dropped, as ClickHouse drops its unsent buffer
    await sink.rows([['a', 1]]);
    await sink.end({ error: chError('ACCESS_DENIED', 'no'), rows: 0, affectedRows: 0, elapsedSeconds: 0 });
  });
  try {
    const a = await get(late.port);
    assert.equal(a.statusCode, 200);
    assert.equal(a.headers['x-clickhouse-format'], 'TSV');
    assert.match(await text(a), /^a\t1\nCode: 159\. DB::Exception: too slow\. \(TIMEOUT_EXCEEDED\) \(version [^\n]+\)\n$/);
    const b = await get(early.port);
    assert.equal(b.statusCode, 403);
    assert.equal(b.headers['x-clickhouse-exception-code'], '497');
    assert.match(await text(b), /^Code: 497\. DB::Exception: no\. \(ACCESS_DENIED\)/);
  } finally {
    late.close();
    early.close();
  }
});
