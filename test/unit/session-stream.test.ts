import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCAN_WINDOW, SessionStream, type SessionHandlers } from '../../node-agent/service/session-stream';
import { BatchWriter } from '../../common/mux/batch-writer';
import { TurnFlusher } from '../../common/mux/turn-flusher';
import { ProcessTable } from '../../node-agent/tables/process-table';
import type { Owner } from '../../node-agent/tables/live-table';
import { querySubject } from '../../node-agent/kill/kill-subjects';
import { processResolver } from '../../node-agent/tables/process-columns';
import { FilterCache } from '../../node-agent/tables/filter-cache';
import { executeKill } from '../../node-agent/kill/kill-executor';
import { memoryKillLog } from './kill-recorder-fixture';
import pino from 'pino';
import { MESSAGE_LIMIT_BYTES, rowBytes } from '../../proto/wire-size';
import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { ScanRequest__Output } from '../../proto/generated/quell/v1/ScanRequest';
import type { SessionCall__Output } from '../../proto/generated/quell/v1/SessionCall';
import type { SessionResponse } from '../../proto/generated/quell/v1/SessionResponse';
import type { SessionReply } from '../../proto/generated/quell/v1/SessionReply';
import type { Row } from '../../proto/generated/quell/v1/Row';

const NODE = { nodeId: 'n1', host: '127.0.0.1', port: 9701, address: '127.0.0.1:9701', clusters: ['c3'] };
const log = pino({ level: 'silent' });
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function killReq(where: string, mode: KillRequest__Output['mode'], syncMs = 60_000): KillRequest__Output {
  return { target: 'KILL_TARGET_QUERY', where, mode, soft: false, user: 'root', may_kill_others: true, sync_timeout_ms: syncMs, statement_id: 'st', query_only: false, client: '', condition: '', act_by_unix_ms: '0', reason: '', plan: false, order_by: [], picks: [], picked: false, limit: 0, escalate_after_ms: 0 };
}
const scanReq: ScanRequest__Output = { table: 'TABLE_PROCESSES', where: '', expressions: ['query_id'], statement_id: 'st', user: 'root', see_all_users: true };

/** A session over a fake transport: every message it writes, and whether it ended. */
function harness(handlers: SessionHandlers, opts: { holdWrites?: boolean } = {}) {
  const messages: SessionResponse[] = [];
  const held: (() => void)[] = [];
  let ended = false;
  const out = new BatchWriter<SessionReply, SessionResponse>(
    {
      write: (message, done) => {
        messages.push(message);
        if (opts.holdWrites) held.push(done);
        else done();
      },
    },
    new TurnFlusher(),
    (replies) => ({ replies }),
  );
  const session = new SessionStream(out, handlers, 'spiffe://quell/coordinator', log, () => {
    ended = true;
  });
  const send = (...calls: Partial<SessionCall__Output>[]): void => session.receive({ calls: calls.map((c) => ({ tag: 0, ...c })) });
  const replies = (): SessionReply[] => messages.flatMap((m) => m.replies ?? []);
  return { session, messages, replies, send, held, ended: () => ended };
}

/** A table whose processes ignore cancels (a SYNC kill waits its whole timeout for them). */
function stubbornTable(): ProcessTable {
  const table = new ProcessTable();
  const owner: Owner = { sessionId: 1, cancel: () => undefined };
  for (const id of ['q1', 'q2']) {
    table.register({ query_id: id, user: 'etl', query: 'SELECT 1', initial_query_id: '', initial_user: '', address: '::1', port: 0, client_hostname: '', client_name: '', current_database: 'default', query_kind: 'Select', uncancellable: false, thread_id: 0 }, owner);
  }
  return table;
}

function killHandlers(table: ProcessTable, killLog = memoryKillLog()): SessionHandlers {
  const filters = new FilterCache(processResolver(NODE), { hostName: 'n1', now: () => 0 });
  return {
    kill: (req, sink) => executeKill(req, querySubject(table), filters.get(req.where), sink, killLog),
    scan: () => Promise.reject(new Error('no scans here')),
  };
}

test('calls run at once; their replies go back tagged, gathered per turn, each ending with end', async () => {
  const h = harness(killHandlers(stubbornTable()));
  h.send({ tag: 7, kind: 'kill', kill: killReq("equals(query_id, 'q1')", 'KILL_MODE_ASYNC') }, { tag: 9, kind: 'kill', kill: killReq("equals(query_id, 'none')", 'KILL_MODE_TEST') });
  await nextTurn();
  await nextTurn();
  const byTag = (tag: number) => h.replies().filter((r) => r.tag === tag).map((r) => (r.kill?.plan ? 'plan' : r.kill?.process ? `${r.kill.process.query_id} ${r.kill.process.status}` : r.end ? 'end' : 'error'));
  assert.deepEqual(byTag(7), ['plan', 'q1 KILL_STATUS_WAITING', 'end']);
  assert.deepEqual(byTag(9), ['plan', 'end']);
  assert.equal(h.messages.length, 1, 'both calls answered in one message');
  assert.equal(h.session.inFlight, 0);
});

test('a cancel reaches the call: a SYNC wait stops at once, the kill log says waiting, and nothing more is sent for the tag', async () => {
  const killLog = memoryKillLog();
  const h = harness(killHandlers(stubbornTable(), killLog));
  h.send({ tag: 1, kind: 'kill', kill: killReq("equals(user, 'etl')", 'KILL_MODE_SYNC', 600_000) });
  await nextTurn();
  await nextTurn();
  assert.deepEqual(h.replies().map((r) => (r.kill?.plan ? 'plan' : 'other')), ['plan']);
  assert.equal(h.session.inFlight, 1, 'the SYNC kill waits for processes that ignore the cancel');
  h.send({ tag: 1, kind: 'cancel', cancel: true });
  assert.equal(h.session.inFlight, 0);
  // the kill settles its rows as waiting in the log, long before its 10-minute timeout
  for (let i = 0; i < 20 && killLog.entries.filter((e) => e.kill_status === 'waiting').length < 2; i++) await nextTurn();
  assert.deepEqual(killLog.entries.filter((e) => e.kill_status === 'waiting').map((e) => e.query_id).sort(), ['q1', 'q2']);
  await nextTurn();
  assert.deepEqual(h.replies().map((r) => (r.kill?.plan ? 'plan' : 'other')), ['plan'], 'no rows and no end after the cancel');
});

test('a scan keeps at most SCAN_WINDOW blocks unacknowledged, and goes on as credit arrives', async () => {
  const blocks = SCAN_WINDOW + 3;
  let written = 0;
  let finished = false;
  const h = harness({
    kill: () => Promise.reject(new Error('no kills here')),
    scan: async (_req, write) => {
      for (let i = 0; i < blocks; i++) {
        const wait = write([{ values: [{ str: `row-${i}` }] }]);
        written++;
        if (wait) await wait;
      }
      finished = true;
    },
  });
  h.send({ tag: 3, kind: 'scan', scan: scanReq });
  for (let i = 0; i < 5; i++) await nextTurn();
  assert.equal(written, SCAN_WINDOW, 'the scan waits at its window');
  h.send({ tag: 3, kind: 'credit', credit: 2 });
  for (let i = 0; i < 5; i++) await nextTurn();
  assert.equal(written, SCAN_WINDOW + 2);
  h.send({ tag: 3, kind: 'credit', credit: 10 });
  for (let i = 0; i < 5; i++) await nextTurn();
  assert.ok(finished);
  const replies = h.replies().filter((r) => r.tag === 3);
  assert.equal(replies.filter((r) => r.scan).length, blocks);
  assert.equal(replies.at(-1)?.end, true);
});

test('a waiting scan does not hold up the other calls of its stream', async () => {
  const h = harness({
    kill: (_req, sink) => {
      sink.write({ plan: { eligible: 0, skipped: 0, skipped_owner: '', skipped_id: '' } });
      return Promise.resolve();
    },
    scan: async (_req, write) => {
      for (;;) {
        const wait = write([{ values: [{ str: 'x' }] }]);
        if (wait) await wait;
      }
    },
  });
  h.send({ tag: 1, kind: 'scan', scan: scanReq });
  for (let i = 0; i < 3; i++) await nextTurn();
  h.send({ tag: 2, kind: 'kill', kill: killReq("equals(user, 'x')", 'KILL_MODE_ASYNC') });
  await nextTurn();
  assert.deepEqual(h.replies().filter((r) => r.tag === 2).map((r) => (r.end ? 'end' : 'plan')), ['plan', 'end']);
  h.session.close();
});

test('row blocks are split by encoded size, so that no message nears the 4 MB limit; a row that cannot fit fails its scan', async () => {
  const big = 'x'.repeat(300 * 1024);
  const h = harness({
    kill: () => Promise.reject(new Error('no kills here')),
    scan: async (req, write) => {
      const rows: Row[] = Array.from({ length: 20 }, () => ({ values: [{ str: big }] }));
      if (req.statement_id === 'too-big') rows.push({ values: [{ str: 'y'.repeat(MESSAGE_LIMIT_BYTES) }] });
      await write(rows);
    },
  });
  h.send({ tag: 1, kind: 'scan', scan: scanReq }, { tag: 2, kind: 'scan', scan: { ...scanReq, statement_id: 'too-big' } }, { tag: 1, kind: 'credit', credit: 100 });
  for (let i = 0; i < 5; i++) await nextTurn();
  const blocks = h.replies().filter((r) => r.tag === 1 && r.scan);
  assert.ok(blocks.length >= 6, `20 rows of 300 KiB travel in several blocks, got ${blocks.length}`);
  assert.equal(blocks.reduce((n, b) => n + (b.scan?.rows?.length ?? 0), 0), 20);
  for (const m of h.messages) {
    const size = (m.replies ?? []).reduce((n, r) => n + (r.scan?.rows ?? []).reduce((k, row) => k + rowBytes(row), 0), 0);
    assert.ok(size < MESSAGE_LIMIT_BYTES / 2, `a message of ${size} bytes`);
  }
  const failed = h.replies().find((r) => r.tag === 2 && r.error);
  assert.equal(failed?.error?.name, 'TOO_MANY_ROWS_OR_BYTES');
  assert.equal(h.replies().filter((r) => r.tag === 2 && r.scan).length, 0);
});

test('draining: new calls are refused as not started, and the stream ends once the calls in flight are done', async () => {
  let release: (() => void) | undefined;
  const h = harness({
    kill: (_req, sink) =>
      new Promise<void>((resolve) => {
        sink.write({ plan: { eligible: 0, skipped: 0, skipped_owner: '', skipped_id: '' } });
        release = resolve;
      }),
    scan: () => Promise.resolve(),
  });
  h.send({ tag: 1, kind: 'kill', kill: killReq("equals(user, 'x')", 'KILL_MODE_ASYNC') });
  h.session.drain();
  assert.equal(h.ended(), false, 'a call is in flight');
  h.send({ tag: 2, kind: 'kill', kill: killReq("equals(user, 'x')", 'KILL_MODE_ASYNC') });
  release?.();
  await nextTurn();
  assert.equal(h.ended(), true);
  const refused = h.replies().find((r) => r.tag === 2);
  assert.equal(refused?.error?.unavailable, true);
  assert.deepEqual(h.replies().filter((r) => r.tag === 1).map((r) => (r.end ? 'end' : 'plan')), ['plan', 'end']);
});

test('the stream closing stops every call in flight', async () => {
  let stopped = 0;
  const h = harness({
    kill: (_req, sink) =>
      new Promise<void>((resolve) => {
        sink.signal?.addEventListener('abort', () => {
          stopped++;
          resolve();
        });
      }),
    scan: () => Promise.resolve(),
  });
  h.send({ tag: 1, kind: 'kill', kill: killReq("equals(user, 'x')", 'KILL_MODE_SYNC') }, { tag: 2, kind: 'kill', kill: killReq("equals(user, 'y')", 'KILL_MODE_SYNC') });
  h.session.close();
  await nextTurn();
  assert.equal(stopped, 2);
  assert.equal(h.replies().length, 0);
});

test('a kill row whose query text could not fit a message goes out with the start of the text', async () => {
  const huge = 'SELECT ' + 'x'.repeat(MESSAGE_LIMIT_BYTES);
  const h = harness({
    kill: (_req, sink) => {
      sink.write({ plan: { eligible: 1, skipped: 0, skipped_owner: '', skipped_id: '' } });
      sink.write({ process: { status: 'KILL_STATUS_WAITING', query_id: 'q-huge', user: 'etl', query: huge } });
      return Promise.resolve();
    },
    scan: () => Promise.resolve(),
  });
  h.send({ tag: 4, kind: 'kill', kill: killReq("equals(user, 'etl')", 'KILL_MODE_ASYNC') });
  for (let i = 0; i < 3; i++) await nextTurn();
  const row = h.replies().find((r) => r.kill?.process)?.kill?.process;
  assert.equal(row?.query_id, 'q-huge');
  assert.ok(row?.query?.startsWith('SELECT xxx') && row.query.length < 100 * 1024, `query of ${row?.query?.length} characters`);
  assert.equal(h.replies().at(-1)?.end, true);
});
