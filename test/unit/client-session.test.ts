import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { QuellClient } from '../../client/coordinator-client';
import { QuellError } from '../../errors/quell-error';
import { quellProto } from '../../proto/load';
import type { CoordinatorServiceSessionRequest__Output } from '../../proto/generated/quell/v1/CoordinatorServiceSessionRequest';
import type { CoordinatorServiceSessionResponse } from '../../proto/generated/quell/v1/CoordinatorServiceSessionResponse';
import type { StatementReply } from '../../proto/generated/quell/v1/StatementReply';

// QuellClient's Session stream against hand-driven coordinators (real gRPC on loopback): one
// stream carries many statements, and Execute's rules still hold (a statement moves on only
// when it did not start; a broken stream fails what was in flight; cancels and credits arrive).

type SessionCall = grpc.ServerDuplexStream<CoordinatorServiceSessionRequest__Output, CoordinatorServiceSessionResponse>;

interface Fake {
  readonly address: string;
  /** every message each stream received */
  readonly received: CoordinatorServiceSessionRequest__Output[];
  readonly streams: SessionCall[];
  stop(): void;
}

const servers: Fake[] = [];
const clients: QuellClient[] = [];
after(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.stop();
});

async function fake(onCalls: (call: SessionCall, msg: CoordinatorServiceSessionRequest__Output) => void): Promise<Fake> {
  const server = new grpc.Server();
  const received: CoordinatorServiceSessionRequest__Output[] = [];
  const streams: SessionCall[] = [];
  server.addService(quellProto().coordinator.quell.v1.CoordinatorService.service, {
    Execute: (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', { code: grpc.status.INTERNAL, details: 'Execute is not used here' }),
    Session: (call: SessionCall) => {
      streams.push(call);
      call.on('data', (msg: CoordinatorServiceSessionRequest__Output) => {
        received.push(msg);
        onCalls(call, msg);
      });
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const f = { address: `127.0.0.1:${port}`, received, streams, stop: () => server.forceShutdown() };
  servers.push(f);
  return f;
}

/** A whole result: a header, one row naming who answered and the statement, the end. */
function result(tag: number, who: string, sql: string): StatementReply[] {
  return [
    { tag, response: { header: { columns: [{ name: 'who', type: 'String' }, { name: 'sql', type: 'String' }], format: '', dialect: 'DIALECT_CLICKHOUSE', statement_id: '' } } },
    { tag, response: { rows: { rows: [{ values: [{ str: who }, { str: sql }] }] } } },
    { tag, response: { end: { rows: '1', elapsed_seconds: 0, affected_rows: '0', warnings: [] } } },
  ];
}

const answering = (who: string) => (call: SessionCall, msg: CoordinatorServiceSessionRequest__Output) => {
  const replies = msg.calls.filter((c) => c.execute).flatMap((c) => result(c.tag, who, c.execute?.sql ?? ''));
  if (replies.length > 0) call.write({ replies });
};

function client(addresses: string[]): QuellClient {
  const c = new QuellClient(addresses, { tls: { insecure: true } });
  clients.push(c);
  return c;
}

test('statements started together travel in one message on one stream, and each gets its own result', async () => {
  const a = await fake(answering('a'));
  const c = client([a.address]);
  await c.query('warm up');
  const results = await Promise.all(['s1', 's2', 's3'].map((sql) => c.query(sql)));
  assert.deepEqual(results.map((r) => r.rows), [[['a', 's1']], [['a', 's2']], [['a', 's3']]]);
  assert.equal(a.streams.length, 1, 'one stream for every statement');
  const batch = a.received.at(-1)?.calls ?? [];
  assert.deepEqual(batch.map((x) => x.execute?.sql), ['s1', 's2', 's3']);
  assert.equal(new Set(batch.map((x) => x.tag)).size, 3);
});

test('a statement the coordinator marks not started moves on to the next one; it is sent there once', async () => {
  const draining = await fake((call, msg) => {
    const replies = msg.calls.filter((x) => x.execute).map((x) => ({ tag: x.tag, not_started: true, response: { end: { error: { code: 236, name: 'ABORTED', message: 'the coordinator is shutting down; the statement was not started', dialect: 'DIALECT_CLICKHOUSE' as const }, rows: '0', elapsed_seconds: 0, affected_rows: '0', warnings: [] } } }));
    call.write({ replies });
  });
  const b = await fake(answering('b'));
  const c = client([draining.address, b.address]);
  assert.deepEqual((await c.query('SELECT 1')).rows, [['b', 'SELECT 1']]);
  assert.equal(c.address, b.address);
  assert.equal(b.received.flatMap((m) => m.calls).filter((x) => x.execute).length, 1);
});

test('a stream that breaks after a statement started fails that statement, which is never sent again', async () => {
  const broken = await fake((call, msg) => {
    const tag = msg.calls[0]?.tag ?? 0;
    call.write({ replies: [result(tag, 'x', '')[0] as StatementReply] });
    setImmediate(() => call.emit('error', { code: grpc.status.INTERNAL, details: 'coordinator crashed' }));
  });
  const b = await fake(answering('b'));
  const c = client([broken.address, b.address]);
  await assert.rejects(c.query('KILL QUERY WHERE 1 ASYNC'), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR' && /coordinator crashed/.test(e.message));
  assert.equal(b.received.length, 0, 'a statement that may have started is not sent elsewhere');
  // the next statement opens a new stream
  const again = await fake(answering('again'));
  const c2 = client([again.address]);
  assert.deepEqual((await c2.query('x')).rows, [['again', 'x']]);
});

test('a cancel reaches the coordinator for that statement only; row blocks are credited as the caller takes them', async () => {
  let rowsTag = 0;
  const a = await fake((call, msg) => {
    for (const x of msg.calls) {
      if (x.execute?.sql === 'rows') {
        rowsTag = x.tag;
        const [header, row] = result(x.tag, 'a', 'rows');
        call.write({ replies: [header as StatementReply, row as StatementReply, row as StatementReply] });
      }
    }
  });
  const c = client([a.address]);
  const abort = new AbortController();
  const waiting = c.query('wait', { signal: abort.signal });
  const it = c.execute('rows')[Symbol.asyncIterator]();
  assert.equal((await it.next()).value?.kind, 'header');
  assert.equal((await it.next()).value?.kind, 'rows');
  assert.equal((await it.next()).value?.kind, 'rows');
  abort.abort();
  await assert.rejects(waiting, (e: unknown) => e instanceof QuellError && e.errorName === 'QUERY_WAS_CANCELLED');
  const calls = (): CoordinatorServiceSessionRequest__Output['calls'] => a.received.flatMap((m) => m.calls);
  for (let i = 0; i < 1000 && !calls().some((x) => x.kind === 'cancel'); i++) await new Promise((r) => setImmediate(r));
  const waitTag = calls().find((x) => x.execute?.sql === 'wait')?.tag;
  assert.deepEqual(calls().filter((x) => x.kind === 'cancel').map((x) => x.tag), [waitTag]);
  const credited = calls().filter((x) => x.kind === 'credit' && x.tag === rowsTag).reduce((n, x) => n + (x.credit ?? 0), 0);
  assert.ok(credited >= 1, 'the row blocks taken were credited');
  // the caller leaves the result early: the statement is cancelled, not left hanging
  await it.return?.();
  for (let i = 0; i < 1000 && !calls().some((x) => x.kind === 'cancel' && x.tag === rowsTag); i++) await new Promise((r) => setImmediate(r));
  assert.ok(calls().some((x) => x.kind === 'cancel' && x.tag === rowsTag));
});
