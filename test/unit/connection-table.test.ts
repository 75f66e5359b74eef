import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionTable, type ConnectionStateUpdate } from '../../node-agent/tables/connection-table';
import { connectionResolver } from '../../node-agent/tables/connection-columns';
import { connectionSubject } from '../../node-agent/kill/kill-subjects';
import { memoryKillLog } from './kill-recorder-fixture';
import { executeKill } from '../../node-agent/kill/kill-executor';
import { FilterCache, ExpressionCache } from '../../node-agent/tables/filter-cache';
import { IdSequence } from '../../node-agent/tables/id-sequence';
import type { ServerIdHold } from '../../common/etcd/server-id';
import type { CancelTarget, Owner } from '../../node-agent/tables/live-table';
import { makeId, serverIdOf } from '../../common/thread-id';
import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { KillResponse } from '../../proto/generated/quell/v1/KillResponse';

const NODE = { nodeId: 'n1', host: '127.0.0.1', port: 9701, address: '127.0.0.1:9701', clusters: ['c3'] };
const CTX = { hostName: 'n1', now: () => 0 };

function setup(hold: ServerIdHold = { serverId: 7, incarnation: 3 }) {
  let held: ServerIdHold | undefined = hold;
  const table = new ConnectionTable(new IdSequence(() => held), new IdSequence(() => held));
  const resolve = connectionResolver(NODE);
  const exprs = new ExpressionCache(resolve, CTX);
  const read = (threadId: number, column: string) => exprs.get(column).evaluate(table.get(String(threadId))!.row);
  return { table, resolve, read, rehold: (h: ServerIdHold) => (held = h) };
}

/** A workload that records the kills it is sent. */
function workload(sessionId = 1): Owner & { kills: CancelTarget[]; soft: boolean[] } {
  const o = {
    sessionId,
    kills: [] as CancelTarget[],
    soft: [] as boolean[],
    cancel(target: CancelTarget, soft: boolean) {
      o.kills.push(target);
      o.soft.push(soft);
    },
  };
  return o;
}

const running = (info: string, extra: Partial<ConnectionStateUpdate> = {}): ConnectionStateUpdate => ({
  info, state: info ? 'User sleep' : '', examined_rows: 0, memory_used: 0, ...extra,
});

function request(where: string, o: Partial<KillRequest__Output> = {}): KillRequest__Output {
  return {
    target: 'KILL_TARGET_CONNECTION', where, mode: 'KILL_MODE_ASYNC', soft: false, user: 'root', may_kill_others: true,
    sync_timeout_ms: 0, statement_id: 't', query_only: false, client: '', condition: '', act_by_unix_ms: '0', reason: '', plan: false, order_by: [], picks: [], picked: false, limit: 0, escalate_after_ms: 0, ...o,
  };
}

async function kill(table: ConnectionTable, req: KillRequest__Output, log = memoryKillLog()): Promise<KillResponse[]> {
  const out: KillResponse[] = [];
  const filter = new FilterCache(connectionResolver(NODE), CTX).get(req.where);
  await executeKill(req, connectionSubject(table), filter, { write: (m) => out.push(m), closed: false }, log);
  return out;
}

const rows = (msgs: KillResponse[]) => msgs.filter((m) => m.process).map((m) => [m.process?.thread_id, m.process?.status]);

test('thread ids and query ids follow the layout, each with its own counter', () => {
  const { table, rehold } = setup({ serverId: 7, incarnation: 3 });
  const w = workload();
  const a = table.open({ user: 'alice', host: 'localhost', db: '' }, w);
  const b = table.open({ user: 'bob', host: 'localhost', db: 'shop' }, w);
  assert.equal(a.row.id, makeId(7, 3, 1));
  assert.equal(b.row.id, makeId(7, 3, 2));
  assert.equal(a.key, String(a.row.id));
  assert.equal(serverIdOf(a.row.id), 7);
  assert.equal(table.update(a.key, w, running('SELECT SLEEP(100)')), makeId(7, 3, 1));
  assert.equal(a.row.query_id, makeId(7, 3, 1), 'query ids count separately from thread ids');
  assert.equal(serverIdOf(a.row.query_id), 7);
  // a new incarnation (re-taken server id) starts the counters again
  rehold({ serverId: 9, incarnation: 1 });
  assert.equal(table.open({ user: 'carol', host: 'h', db: '' }, w).row.id, makeId(9, 1, 1));
});

test('an id sequence skips ids in use and refuses to make ids before a server id is held', () => {
  const seq = new IdSequence(() => ({ serverId: 1, incarnation: 0 }));
  const taken = new Set([makeId(1, 0, 1), makeId(1, 0, 2)]);
  assert.equal(seq.next((id) => taken.has(id)), makeId(1, 0, 3));
  assert.throws(() => new IdSequence(() => undefined).next(), /no server id/);
});

test('PROCESSLIST: COMMAND Query while a statement runs, Sleep when idle (INFO NULL), QUERY_ID per statement', () => {
  const { table, read } = setup();
  const w = workload();
  const c = table.open({ user: 'alice', host: 'app1', db: '' }, w);
  assert.equal(read(c.row.id, 'COMMAND'), 'Sleep');
  assert.equal(read(c.row.id, 'INFO'), null);
  assert.equal(read(c.row.id, 'INFO_BINARY'), null);
  assert.equal(read(c.row.id, 'DB'), null);
  assert.equal(read(c.row.id, 'QUERY_ID'), 0);
  assert.equal(read(c.row.id, 'ID'), c.row.id);
  assert.equal(read(c.row.id, 'TID'), c.row.id);

  table.update(c.key, w, running('SELECT SLEEP(100)', { memory_used: 500, examined_rows: 10 }));
  const q1 = c.row.query_id;
  assert.equal(read(c.row.id, 'COMMAND'), 'Query');
  assert.equal(read(c.row.id, 'INFO'), 'SELECT SLEEP(100)');
  assert.equal(read(c.row.id, 'INFO_BINARY'), 'SELECT SLEEP(100)');
  assert.equal(read(c.row.id, 'STATE'), 'User sleep');
  assert.equal(read(c.row.id, 'EXAMINED_ROWS'), 10);
  // a progress report of the same statement is not a new statement
  assert.equal(table.update(c.key, w, running('SELECT SLEEP(100)', { memory_used: 200, examined_rows: 20 })), undefined);
  assert.equal(c.row.query_id, q1);
  assert.equal(read(c.row.id, 'MEMORY_USED'), 200);
  assert.equal(read(c.row.id, 'MAX_MEMORY_USED'), 500);
  for (const col of ['STAGE', 'MAX_STAGE', 'PROGRESS']) assert.equal(read(c.row.id, col), 0);
  const ms = read(c.row.id, 'TIME_MS');
  assert.ok(typeof ms === 'number' && ms >= 0 && ms < 1000);
  assert.equal(read(c.row.id, 'TIME'), 0);

  table.update(c.key, w, running(''));
  assert.equal(read(c.row.id, 'COMMAND'), 'Sleep');
  assert.equal(read(c.row.id, 'INFO'), null);
  assert.equal(read(c.row.id, 'QUERY_ID'), q1, 'an idle connection shows its last QUERY_ID, as MariaDB');
  table.update(c.key, w, running('SELECT SLEEP(100)'));
  assert.notEqual(c.row.query_id, q1, 'the same text after idle is a new statement');

  assert.equal(table.close(c.key, workload(2)), false, 'only the owner closes');
  assert.equal(table.close(c.key, w), true);
  assert.equal(table.size, 0);
});

test('a dropped stream removes all its connections', () => {
  const { table } = setup();
  const w1 = workload(1);
  const w2 = workload(2);
  table.open({ user: 'a', host: 'h', db: '' }, w1);
  table.open({ user: 'a', host: 'h', db: '' }, w1);
  table.open({ user: 'a', host: 'h', db: '' }, w2);
  assert.equal(table.endAllOf(w1), 2);
  assert.equal(table.size, 1);
});

test('KILL CONNECTION: own connections always, others only with the grant; the plan names a skipped thread id', async () => {
  const { table, read } = setup();
  const w = workload();
  const alice = table.open({ user: 'alice', host: 'h', db: '' }, w);
  const bob = table.open({ user: 'bob', host: 'h', db: '' }, w);
  table.update(alice.key, w, running('SELECT SLEEP(100)'));

  const denied = await kill(table, request(`equals(ID, ${bob.row.id})`, { user: 'alice', may_kill_others: false }));
  assert.deepEqual(denied, [{ plan: { eligible: 0, skipped: 1, skipped_owner: 'bob', skipped_id: String(bob.row.id) } }]);
  assert.equal(w.kills.length, 0);

  const own = await kill(table, request(`equals(ID, ${alice.row.id})`, { user: 'alice', may_kill_others: false, soft: true }));
  assert.deepEqual(own[0], { plan: { eligible: 1, skipped: 0, skipped_owner: '', skipped_id: '' } });
  assert.deepEqual(own[1], {
    process: { status: 'KILL_STATUS_WAITING', thread_id: String(alice.row.id), user: 'alice', query: 'SELECT SLEEP(100)', query_id: String(alice.row.query_id) },
  });
  assert.deepEqual(w.kills, [{ kind: 'connection', thread_id: alice.row.id, query_only: false, query_id: alice.row.query_id }]);
  assert.deepEqual(w.soft, [true]);
  assert.equal(read(alice.row.id, 'COMMAND'), 'Killed');
  table.update(alice.key, w, running(''));
  assert.equal(read(alice.row.id, 'COMMAND'), 'Killed', 'Killed until the connection is gone');

  const others = await kill(table, request("equals(USER, 'bob')", { user: 'root', may_kill_others: true }));
  assert.deepEqual(rows(others), [[String(bob.row.id), 'KILL_STATUS_WAITING']]);
});

test('KILL QUERY: interrupts the running statement by QUERY_ID; on an idle connection it is dropped but still listed', async () => {
  const { table, read } = setup();
  const w = workload();
  const busy = table.open({ user: 'carol', host: 'localhost', db: '' }, w);
  const idle = table.open({ user: 'carol', host: 'LocalHost', db: '' }, w);
  table.update(busy.key, w, running('UPDATE t SET x = 1'));

  const byQueryId = await kill(table, request(`equals(QUERY_ID, ${busy.row.query_id})`, { query_only: true }));
  assert.deepEqual(rows(byQueryId), [[String(busy.row.id), 'KILL_STATUS_WAITING']]);
  assert.deepEqual(w.kills, [{ kind: 'connection', thread_id: busy.row.id, query_only: true, query_id: busy.row.query_id }]);
  assert.equal(read(busy.row.id, 'COMMAND'), 'Query', 'a query kill leaves the connection');

  w.kills.length = 0;
  const msgs = await kill(table, request("and(equals(USER, 'carol'), equals(lower(HOST), 'localhost'))", { query_only: true }));
  assert.deepEqual(msgs[0], { plan: { eligible: 2, skipped: 0, skipped_owner: '', skipped_id: '' } });
  assert.deepEqual(rows(msgs).sort(), [
    [String(busy.row.id), 'KILL_STATUS_WAITING'],
    [String(idle.row.id), 'KILL_STATUS_FINISHED'],
  ]);
  assert.deepEqual(w.kills.map((k) => k.kind === 'connection' && k.thread_id), [busy.row.id], 'nothing is sent to the idle connection');
});

test('TEST lists unknown_status and sends nothing', async () => {
  const { table } = setup();
  const w = workload();
  const c = table.open({ user: 'dave', host: 'h', db: '' }, w);
  const msgs = await kill(table, request("equals(USER, 'dave')", { mode: 'KILL_MODE_TEST' }));
  assert.deepEqual(rows(msgs), [[String(c.row.id), 'KILL_STATUS_UNKNOWN_STATUS']]);
  assert.equal(w.kills.length, 0);
  assert.equal(c.row.command, 'Sleep');
});

test('kill log: the MariaDB form is logged as HARD or SOFT with the id it named; KILL QUERY of an idle connection logs finished', async () => {
  const { table } = setup();
  const w = workload();
  const busy = table.open({ user: 'erin', host: 'h', db: '' }, w);
  const idle = table.open({ user: 'erin', host: 'h', db: '' }, w);
  table.update(busy.key, w, running('UPDATE t SET x = 1'));
  const log = memoryKillLog();
  await kill(table, request(`equals(ID, ${busy.row.id})`, { soft: true, condition: String(busy.row.id), client: '10.0.0.9:5000' }), log);
  await kill(table, request(`equals(ID, ${idle.row.id})`, { query_only: true, condition: String(idle.row.id) }), log);
  assert.deepEqual(
    log.entries.map((e) => [e.target, e.mode, e.condition, e.thread_id, e.process_user, e.query, e.kill_status]),
    [
      ['CONNECTION', 'SOFT', String(busy.row.id), busy.row.id, 'erin', 'UPDATE t SET x = 1', 'waiting'],
      ['QUERY', 'HARD', String(idle.row.id), idle.row.id, 'erin', '', 'waiting'],
      ['QUERY', 'HARD', String(idle.row.id), idle.row.id, 'erin', '', 'finished'],
    ],
  );
  assert.equal(log.entries[0]?.client, '10.0.0.9:5000');
  assert.equal(log.entries[0]?.query_id, String(busy.row.query_id));
});
