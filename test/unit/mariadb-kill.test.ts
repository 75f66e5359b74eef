import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { parseStatement } from '../../sql/parser';
import type { MysqlKillStatement } from '../../sql/ast';
import { mariadbKill } from '../../coordinator/statements/kill/mariadb-kill';
import type { ResultSink, StatementContext } from '../../coordinator/context';
import type { SessionHandle, SessionKill } from '../../coordinator/doors/sessions';
import type { MemberNode } from '../../coordinator/cluster/membership';
import { StatementSummary } from '../../coordinator/statements/statement-summary';
import type { Grant } from '../../coordinator/auth/users';
import { QuellError, renderError } from '../../errors/quell-error';
import { idOwner, makeSessionId } from '../../common/thread-id';
import type { KillSessionRequest } from '../../proto/generated/quell/v1/KillSessionRequest';
import type { KillSessionResponse__Output } from '../../proto/generated/quell/v1/KillSessionResponse';
import { serviceError } from '../../common/grpc/rpc-status';
import { coordinatorRecord } from './coordinator-record';

/**
 * The MariaDB form's decisions that need no node: ids of the coordinator's own sessions, ids no
 * node made, and KILL USER refused before anything is sent when a member cannot be asked. The
 * calls to agents are covered by the integration tests (mariadb*.test.ts).
 */
function harness(user: string, grants: Grant[], members: Partial<MemberNode>[] = [], peer: (address: string, req: KillSessionRequest) => Promise<KillSessionResponse__Output> = () => Promise.resolve({ error: null })) {
  const killed: [number, SessionKill][] = [];
  const reasons: string[] = [];
  const forwarded: [string, KillSessionRequest][] = [];
  const session = (id: number, owner: string): SessionHandle => ({
    id,
    user: owner,
    kill: (scope, reason) => {
      killed.push([id, scope]);
      reasons.push(reason);
    },
    process: () => ({ id, user: owner, host: 'localhost', db: undefined, command: 'Sleep', timeMs: 0, info: undefined }),
  });
  const sessions = new Map([
    [5, session(5, 'alice')],
    [6, session(6, 'bob')],
  ]);
  const ctx = {
    user: { name: user, readonly: false, grants: new Set(grants) },
    // this coordinator (A) holds server id 4
    sessions: { get: (id: number) => sessions.get(id), isOurs: (id: number) => idOwner(id)?.serverId === 4 && idOwner(id)?.kind === 'coordinator', serverId: 4 },
    membership: { clusters: () => ['c3'], nodes: () => members as MemberNode[], coordinators: () => COORDINATORS, departedCoordinator: (serverId: number) => (serverId === 12 ? coordinator('C', 12) : undefined) },
    self: { id: 'A', live: true, statementsRunning: 1 },
    defaultCluster: 'c3',
    summary: new StatementSummary(),
    pool: {
      session: () => {
        throw new Error('no node is asked in these cases');
      },
      coordinators: {
        killSession: (address: string, req: KillSessionRequest) => {
          forwarded.push([address, req]);
          return peer(address, req);
        },
      },
    },
  } as unknown as StatementContext;
  const sink: ResultSink = { header: () => undefined, rows: () => Promise.resolve(), warn: () => undefined };
  const kill = (sql: string, reason?: string) => mariadbKill({ ...(parseStatement(sql) as MysqlKillStatement), ...(reason === undefined ? {} : { reason }) }, ctx, sink);
  return { kill, killed, forwarded, reasons };
}

const coordinator = (id: string, serverId: number) => coordinatorRecord(id, serverId, { address: `${id}:9700`, mysql_address: `${id}:3306` });
const COORDINATORS = [coordinator('A', 4), coordinator('B', 9)];

const mariadbError = (text: string) => (e: unknown) => e instanceof QuellError && renderError(e) === text;

test("a session of this coordinator: its own user's KILL QUERY ends the statement, KILL the session", async () => {
  const h = harness('alice', []);
  assert.deepEqual(await h.kill('KILL QUERY 5'), { rows: 0, affectedRows: 0 });
  await h.kill('KILL 5');
  await h.kill('KILL CONNECTION 2 + 3');
  assert.deepEqual(h.killed, [[5, 'query'], [5, 'connection'], [5, 'connection']]);
});

test("another user's session needs CONNECTION ADMIN, SUPER or KILL CONNECTION (1095 otherwise)", async () => {
  await assert.rejects(harness('alice', ['KILL QUERY']).kill('KILL QUERY 6'), mariadbError('ERROR 1095 (HY000): You are not owner of thread 6'));
  for (const grant of ['CONNECTION ADMIN', 'SUPER', 'KILL CONNECTION'] as const) {
    const h = harness('alice', [grant]);
    await h.kill('KILL 6');
    assert.deepEqual(h.killed, [[6, 'connection']], grant);
  }
});

test('an id no session and no live node has: 1094 / 1957; a column in the id: 1054', async () => {
  const h = harness('alice', ['ALL']);
  await assert.rejects(h.kill('KILL 9999'), mariadbError('ERROR 1094 (HY000): Unknown thread id: 9999'));
  await assert.rejects(h.kill('KILL QUERY ID 77'), mariadbError('ERROR 1957 (HY000): Unknown query id: 77'));
  await assert.rejects(h.kill('KILL nosuchcolumn'), (e: unknown) => e instanceof QuellError && e.code === 1054);
});

test('KILL USER with an inactive member kills nothing and names it (1105)', async () => {
  const h = harness('admin', ['ALL'], [
    { nodeId: 'n1', active: true },
    { nodeId: 'n2', active: false },
  ]);
  await assert.rejects(h.kill('KILL USER bob'), (e: unknown) => e instanceof QuellError && e.code === 1105 && /KILL USER killed nothing: not every node can be asked: n2: node_inactive/.test(e.message));
  assert.deepEqual(h.killed, []);
});

test("another live coordinator's session id is forwarded to it with the killer's rights; its answer is the KILL's; this one's id that no session holds: plain 1094", async () => {
  const h = harness('alice', ['KILL QUERY']);
  const onB = makeSessionId(9, 3, 17);
  await h.kill(`KILL QUERY ${onB}`);
  await h.kill(`KILL ${onB}`);
  assert.deepEqual(h.forwarded, [
    ['B:9700', { session_id: onB, query_only: true, user: 'alice', may_kill_others: false, reason: '' }],
    ['B:9700', { session_id: onB, query_only: false, user: 'alice', may_kill_others: false, reason: '' }],
  ]);
  const denied = harness('alice', ['ALL'], [], () => Promise.resolve({ error: { code: 1095, name: 'HY000', message: `You are not owner of thread ${onB}`, dialect: 'DIALECT_MARIADB' } }));
  await assert.rejects(denied.kill(`KILL ${onB}`), mariadbError(`ERROR 1095 (HY000): You are not owner of thread ${onB}`));
  assert.equal(denied.forwarded[0]?.[1].may_kill_others, true);
  // a failed forward says what failed (common/grpc/rpc-status.ts toNodeFailure): no answer in time is not 'could not reach'
  const late = harness('alice', ['ALL'], [], () => Promise.reject(serviceError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded\nafter 5 s')));
  await assert.rejects(late.kill(`KILL ${onB}`), mariadbError(`ERROR 1105 (HY000): KILL got no answer in time from coordinator 'B' at B:9700, which owns session ${onB}: no answer before the deadline`));
  const unreachable = harness('alice', ['ALL'], [], () => Promise.reject(serviceError(grpc.status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:9700.')));
  await assert.rejects(unreachable.kill(`KILL ${onB}`), mariadbError(`ERROR 1105 (HY000): KILL could not reach coordinator 'B' at B:9700, which owns session ${onB}: connect ECONNREFUSED 127.0.0.1:9700`));
  const onA = makeSessionId(4, 1, 17);
  await assert.rejects(h.kill(`KILL ${onA}`), mariadbError(`ERROR 1094 (HY000): Unknown thread id: ${onA}`));
  // a coordinator id with a server id no coordinator holds
  const nobody = makeSessionId(77, 1, 1);
  await assert.rejects(h.kill(`KILL ${nobody}`), mariadbError(`ERROR 1094 (HY000): Unknown thread id: ${nobody}: it is a session of the coordinator with server id 77, which is not live (no registry record)`));
  // one this coordinator saw leave is named
  const onC = makeSessionId(12, 1, 3);
  await assert.rejects(h.kill(`KILL QUERY ${onC}`), mariadbError(`ERROR 1094 (HY000): Unknown thread id: ${onC}: it is a session of coordinator 'C' (server id 12, at C:9700), which has left (no registry record)`));
  assert.equal(h.forwarded.length, 2, 'nothing more is forwarded: not to a coordinator that left');
});

test("the killer's kill_reason goes with the kill: to this coordinator's session, and forwarded to the owner of another's", async () => {
  const h = harness('alice', ['ALL']);
  await h.kill('KILL QUERY 6', 'runaway report');
  const onB = makeSessionId(9, 3, 17);
  await h.kill(`KILL ${onB}`, 'maintenance');
  assert.deepEqual(h.killed, [[6, 'query']]);
  assert.deepEqual(h.reasons, ['runaway report']);
  assert.deepEqual(h.forwarded.map(([, req]) => [req.session_id, req.query_only, req.reason]), [[onB, false, 'maintenance']]);
});
