import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchWriter } from '../../common/mux/batch-writer';
import { TurnFlusher } from '../../common/mux/turn-flusher';
import { StatementSession } from '../../coordinator/doors/grpc/statement-session';
import { HELD_BYTES } from '../../coordinator/doors/grpc/execute-sink';
import type { StatementRequest, StatementRunner, StatementSink } from '../../coordinator/statements/statement-runner';
import type { StatementCall__Output } from '../../proto/generated/quell/v1/StatementCall';
import type { CoordinatorServiceSessionResponse } from '../../proto/generated/quell/v1/CoordinatorServiceSessionResponse';
import type { StatementReply } from '../../proto/generated/quell/v1/StatementReply';

// The coordinator's side of a client's Session stream: statements run as Execute calls do, each
// result comes back tagged, and flow control and cancellation hold per statement.

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await nextTurn();
}

/** A runner that answers `rows N` with N rows of 100 KB, and `wait` only when cancelled. */
function fakeRunner(): { runner: StatementRunner; produced: Map<string, number>; cancelled: string[]; refusing: boolean } {
  const state = { produced: new Map<string, number>(), cancelled: [] as string[], refusing: false, runner: undefined as unknown as StatementRunner };
  state.runner = {
    newStatementId: () => 'generated',
    get refusing() {
      return state.refusing;
    },
    async run(req: StatementRequest, sink: StatementSink): Promise<void> {
      sink.header([{ name: 'x', type: 'String' }], undefined);
      const m = /^rows (\d+)$/.exec(req.sql);
      let rows = 0;
      if (m) {
        for (let i = 0; i < Number(m[1]); i++) {
          await sink.rows([['x'.repeat(100_000)]]);
          rows++;
          state.produced.set(req.sql, rows);
        }
      } else if (req.sql === 'wait') {
        await new Promise<void>((resolve) => req.signal.addEventListener('abort', () => resolve()));
        state.cancelled.push(req.statementId ?? '');
      }
      await sink.end({ error: undefined, rows, affectedRows: 0, elapsedSeconds: 0 });
    },
  } as unknown as StatementRunner;
  return state;
}

function harness(runner: StatementRunner) {
  const messages: CoordinatorServiceSessionResponse[] = [];
  let ended = false;
  const out = new BatchWriter<StatementReply, CoordinatorServiceSessionResponse>(
    {
      write: (message, done) => {
        messages.push(message);
        done();
      },
    },
    new TurnFlusher(),
    (replies) => ({ replies }),
  );
  const session = new StatementSession(out, runner, undefined, '127.0.0.1:5555', () => {
    ended = true;
  });
  const send = (...calls: Partial<StatementCall__Output>[]): void => session.receive({ calls: calls.map((c) => ({ tag: 0, ...c })) });
  const replies = (tag: number): string[] =>
    messages
      .flatMap((m) => m.replies ?? [])
      .filter((r) => r.tag === tag)
      .map((r) => (r.not_started ? 'not started' : r.response?.header ? 'header' : r.response?.rows ? 'rows' : r.response?.end ? 'end' : '?'));
  return { session, messages, send, replies, ended: () => ended };
}

const execute = (sql: string, statement_id = '') => ({ kind: 'execute' as const, execute: { sql, user: 'default', password: '', statement_id, dialect: 'DIALECT_CLICKHOUSE' as const } });

test('statements run at once and their results come back tagged; what is ready together leaves in one message', async () => {
  const r = fakeRunner();
  const h = harness(r.runner);
  h.send({ tag: 1, ...execute('rows 1') }, { tag: 2, ...execute('rows 0') });
  await turns(5);
  assert.deepEqual(h.replies(1), ['header', 'rows', 'end']);
  assert.deepEqual(h.replies(2), ['header', 'end']);
  assert.equal(h.messages.length, 1, 'two short results, one message');
  assert.equal(h.session.inFlight, 0);
});

test('a statement whose client does not credit its rows stalls at its own limit; the others run to the end', async () => {
  const r = fakeRunner();
  const h = harness(r.runner);
  const many = 200; // 20 MB of rows
  h.send({ tag: 1, ...execute(`rows ${many}`) });
  await turns(20);
  const stalledAt = r.produced.get(`rows ${many}`) ?? 0;
  assert.ok(stalledAt * 100_000 <= HELD_BYTES + 200_000, `produced ${stalledAt} rows without credit`);
  assert.ok(stalledAt > 0);
  h.send({ tag: 2, ...execute('rows 3') });
  await turns(10);
  assert.deepEqual(h.replies(2), ['header', 'rows', 'end'], 'rows made in one turn travel as one block');
  assert.equal(r.produced.get(`rows ${many}`), stalledAt, 'still stalled');
  // the client takes what it was sent: the statement goes on, a little at a time, to its end
  let credited = 0;
  for (let i = 0; i < 400 && h.replies(1).at(-1) !== 'end'; i++) {
    const blocks = h.replies(1).filter((x) => x === 'rows').length;
    h.send({ tag: 1, kind: 'credit', credit: blocks - credited });
    credited = blocks;
    await turns(2);
  }
  assert.equal(r.produced.get(`rows ${many}`), many);
  assert.equal(h.replies(1).at(-1), 'end');
});

test('a cancel stops its statement only', async () => {
  const r = fakeRunner();
  const h = harness(r.runner);
  h.send({ tag: 1, ...execute('wait', 'st-1') }, { tag: 2, ...execute('wait', 'st-2') });
  await turns(2);
  h.send({ tag: 2, kind: 'cancel', cancel: true });
  await turns(3);
  assert.deepEqual(r.cancelled, ['st-2']);
  assert.equal(h.session.inFlight, 1);
  h.session.close();
  await turns(3);
  assert.deepEqual(r.cancelled.sort(), ['st-1', 'st-2'], 'the stream closing cancels the rest');
});

test('draining: a new statement is refused as not started, and the stream ends once the running ones are done', async () => {
  const r = fakeRunner();
  const h = harness(r.runner);
  h.send({ tag: 1, ...execute('wait') });
  await turns(2);
  r.refusing = true;
  h.session.drain();
  h.send({ tag: 2, ...execute('rows 1') });
  await turns(2);
  assert.deepEqual(h.replies(2), ['not started']);
  assert.equal(h.ended(), false);
  h.send({ tag: 1, kind: 'cancel', cancel: true });
  await turns(5);
  assert.equal(h.ended(), true);
});
