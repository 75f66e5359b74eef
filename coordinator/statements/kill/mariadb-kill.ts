import type { Expr, MysqlKillStatement } from '../../../sql/ast';
import { compileExpr, evalContext } from '../../../sql/compile';
import { QuellError } from '../../../errors/quell-error';
import { renderExpr } from '../../../sql/render';
import { idOwner } from '../../../common/thread-id';
import type { CoordinatorRecord } from '../../../common/etcd/etcd-layout';
import type { KillMode } from '../../../proto/generated/quell/v1/KillMode';
import type { ResultSink, StatementContext, StatementOutcome } from '../../context';
import { fanOut } from '../../cluster/fanout';
import { openKill } from '../../cluster/agent-calls';
import { PlanTally } from './kill-plan';
import { idFilter, userFilter } from './mariadb-filters';
import type { MemberNode } from '../../cluster/membership';
import { INACTIVE_MESSAGE } from './kill-merge';
import { mayKillOthersConnections } from './kill-targets';
import type { SessionHandle } from '../../doors/sessions';
import { toNodeFailure } from '../../../common/grpc/rpc-status';
import { skewReason } from '../../cluster/clock-offsets';
import { peerKillFailure } from '../../cluster/other-coordinators';

/** MariaDB's words (sql/share/errmsg-utf8.txt). */
const unknownThread = (id: number) => QuellError.mariadb(1094, 'HY000', `Unknown thread id: ${id}`);
const notOwnerOfThread = (id: string) => QuellError.mariadb(1095, 'HY000', `You are not owner of thread ${id}`);
/** A session id of a coordinator that has no live record: MariaDB's 1094, naming the coordinator when this one saw it leave, else the server id the id carries. */
const goneCoordinator = (id: number, serverId: number, departed: CoordinatorRecord | undefined) =>
  QuellError.mariadb(
    1094,
    'HY000',
    departed
      ? `Unknown thread id: ${id}: it is a session of coordinator '${departed.id}' (server id ${serverId}, at ${departed.address}), which has left (no registry record)`
      : `Unknown thread id: ${id}: it is a session of the coordinator with server id ${serverId}, which is not live (no registry record)`,
  );
const unknownQuery = (id: number) => QuellError.mariadb(1957, 'HY000', `Unknown query id: ${id}`);
const notOwnerOfQuery = (id: number) => QuellError.mariadb(1979, 'HY000', `You are not owner of query ${id}`);
const failed = (message: string) => QuellError.mariadb(1105, 'HY000', message);

const FIRST_ANSWER_MS = 10_000;

/** The id of `KILL <expr>`: a constant expression, as MariaDB allows; anything else is 1094 for its value. */
function constantId(expr: Expr): number {
  let value: unknown;
  try {
    value = compileExpr(expr, () => undefined, evalContext('')).evaluate(null);
  } catch (err) {
    if (err instanceof QuellError && err.errorName === 'UNKNOWN_IDENTIFIER') {
      throw QuellError.mariadb(1054, '42S22', `Unknown column '${err.message.replace(/^Unknown identifier: /, '')}' in 'KILL'`);
    }
    throw err;
  }
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? Math.trunc(n) : 0;
}

/**
 * One Kill call to each node, gathered: plans summed, failures kept, and the connections a node
 * refused because the request reached it past its deadline by its own clock (`refused`, with
 * why: the clock skew when the node's measured offset explains it). Those were not killed.
 */
async function callNodes(nodes: readonly MemberNode[], ctx: StatementContext, where: Expr, stmt: MysqlKillStatement, mode: KillMode, condition = ''): Promise<{ plan: PlanTally; failures: string[]; refused: string[] }> {
  const plan = new PlanTally();
  const failures: string[] = [];
  const refused: string[] = [];
  const text = renderExpr(where);
  ctx.summary.condition = condition || text;
  const open = openKill(ctx.pool, {
    target: 'KILL_TARGET_CONNECTION',
    where: text,
    mode,
    soft: stmt.soft,
    user: ctx.user.name,
    may_kill_others: mayKillOthersConnections(ctx.user),
    sync_timeout_ms: 0,
    statement_id: ctx.statementId,
    query_only: stmt.target === 'QUERY',
    client: ctx.client,
    // the kill log names the id the statement named, not the filter it became
    condition,
    act_by_unix_ms: String(Date.now() + FIRST_ANSWER_MS),
    reason: stmt.reason ?? '',
  });
  ctx.expectEndBy(Date.now() + FIRST_ANSWER_MS);
  for await (const batch of fanOut(nodes, open, { firstAnswerMs: FIRST_ANSWER_MS, callDeadlineMs: FIRST_ANSWER_MS, signal: ctx.signal, refuse: (n) => ctx.clocks?.incompatible?.(n.nodeId), metrics: ctx.metrics })) {
    for (const ev of batch) {
      if (ev.kind === 'message' && ev.message.plan) plan.add(ev.message.plan);
      else if (ev.kind === 'message' && ev.message.process && Number(ev.message.process.past_deadline_ms) > 0) {
        const p = ev.message.process;
        const skew = skewReason(ctx.clocks?.offset(ev.node.nodeId), Number(p.past_deadline_ms));
        refused.push(`${ev.node.nodeId}: thread ${p.thread_id}: ${skew ? `${p.error}; ${skew}` : p.error}`);
      } else if (ev.kind === 'failed') {
        failures.push(`${ev.node.nodeId}: ${ev.failure.kind} (${ev.failure.message})`);
        ctx.summary.miss(ev.node.nodeId);
      }
    }
  }
  return { plan, failures, refused };
}

/** The live agent that made this id, in whichever cluster: ids route to one node without asking the others. */
function ownerOf(id: number, ctx: StatementContext): MemberNode | undefined {
  const owner = idOwner(id);
  if (owner?.kind !== 'agent') return undefined;
  const serverId = owner.serverId;
  for (const cluster of ctx.membership.clusters()) {
    const node = ctx.membership.nodes(cluster).find((n) => n.active && n.serverId === serverId);
    if (node) return node;
  }
  return undefined;
}

/**
 * The coordinator other than this one whose session id this is (common/thread-id.ts: the
 * coordinator bit and its server id): its live record, or only its server id when none holds it.
 */
function otherCoordinatorOf(id: number, ctx: StatementContext): { record?: CoordinatorRecord; serverId: number } | undefined {
  const owner = idOwner(id);
  if (owner?.kind !== 'coordinator') return undefined;
  if (ctx.sessions?.isOurs(id)) return undefined;
  const record = ctx.membership.coordinators().find((c) => c.server_id === owner.serverId && c.id !== ctx.self?.id);
  return { record, serverId: owner.serverId };
}

/**
 * `KILL [CONNECTION|QUERY] id` of another coordinator's session: forwarded to that coordinator
 * (KillSession, mutual TLS, a short deadline), which carries it out with the killer's rights.
 * An owner that cannot be asked fails the KILL with one line naming it.
 */
async function forwardKill(id: number, record: CoordinatorRecord, stmt: MysqlKillStatement, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  ctx.summary.condition = `session ${id} on coordinator ${record.id}`;
  let answer;
  try {
    answer = await ctx.pool.coordinators.killSession(record.address, { session_id: id, query_only: stmt.target === 'QUERY', user: ctx.user.name, may_kill_others: mayKillOthersConnections(ctx.user), reason: stmt.reason ?? '' }, undefined, ctx.signal);
  } catch (err) {
    throw failed(peerKillFailure(record, toNodeFailure(err), `, which owns session ${id}`));
  }
  if (answer.error) throw QuellError.mariadb(answer.error.code, answer.error.name || 'HY000', answer.error.message);
  ctx.summary.count('killed', 1);
  sink.header([], undefined, 'mariadb');
  return { rows: 0, affectedRows: 0 };
}

/**
 * `KILL [CONNECTION|QUERY] id` of a session on this coordinator (a MySQL connection, e.g. the
 * `mariadb` client's Ctrl-C): MariaDB's rights (own user, or CONNECTION ADMIN/SUPER). A session
 * that kills itself ends its own KILL: it gets 1317 (QUERY) or 1927 (CONNECTION), as in MariaDB.
 */
function killSession(session: SessionHandle, stmt: MysqlKillStatement, ctx: StatementContext, sink: ResultSink): StatementOutcome {
  if (session.user !== ctx.user.name && !mayKillOthersConnections(ctx.user)) throw notOwnerOfThread(String(session.id));
  ctx.summary.condition = `session ${session.id}`;
  ctx.summary.count('killed', 1);
  sink.header([], undefined, 'mariadb');
  session.kill(stmt.target === 'QUERY' ? 'query' : 'connection', stmt.reason ?? '');
  return { rows: 0, affectedRows: 0 };
}

/**
 * The MariaDB form: KILL [HARD|SOFT] [CONNECTION|QUERY] id | QUERY ID id | USER u. Ids of the
 * coordinator's own sessions end those; another live coordinator's session ids are forwarded to
 * it (1094 when that coordinator has no record); agents' ids go to the node that made them (the id says which); USER goes to
 * every node (not to the coordinator's sessions), all or nothing. The result is an
 * affected-row count.
 */
export async function mariadbKill(stmt: MysqlKillStatement, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  const by = stmt.by;
  if (by.kind === 'threadId' || by.kind === 'queryId') {
    const id = constantId(by.expr);
    const isQuery = by.kind === 'queryId';
    const session = isQuery ? undefined : ctx.sessions?.get(id);
    if (session) return killSession(session, stmt, ctx, sink);
    const coordinator = isQuery ? undefined : otherCoordinatorOf(id, ctx);
    if (coordinator?.record) return forwardKill(id, coordinator.record, stmt, ctx, sink);
    if (coordinator) throw goneCoordinator(id, coordinator.serverId, ctx.membership.departedCoordinator(coordinator.serverId));
    const node = ownerOf(id, ctx);
    if (!node) throw isQuery ? unknownQuery(id) : unknownThread(id);
    const { plan, failures, refused } = await callNodes([node], ctx, idFilter(isQuery ? 'QUERY_ID' : 'ID', id), stmt, 'KILL_MODE_ASYNC', String(id));
    if (failures.length > 0) throw failed(`KILL could not reach the owning node: ${failures.join('; ')}`);
    if (refused.length > 0) throw failed(`KILL was refused by the owning node: ${refused.join('; ')}`);
    if (plan.denied) throw isQuery ? notOwnerOfQuery(id) : notOwnerOfThread(String(id));
    if (plan.eligible === 0) throw isQuery ? unknownQuery(id) : unknownThread(id);
    ctx.summary.count('killed', plan.eligible);
    sink.header([], undefined, 'mariadb');
    return { rows: 0, affectedRows: 0 };
  }

  // KILL USER: every connection of that user on every node, or none of them. The agents act
  // right after their plan, so all-or-nothing needs two rounds: TEST (lists, sends nothing)
  // proves that every member answers, and only then does the real round go out. A member that
  // cannot be asked at all (no live lease) fails the statement before anything is sent.
  const name = by.kind === 'currentUser' ? ctx.user.name : by.user;
  const where = userFilter(name, by.kind === 'user' ? by.host : undefined);
  const members = ctx.membership.nodes(ctx.defaultCluster);
  const inactive = members.filter((n) => !n.active);
  for (const n of inactive) ctx.summary.miss(n.nodeId);
  if (inactive.length > 0) {
    throw failed(`KILL USER killed nothing: not every node can be asked: ${inactive.map((n) => `${n.nodeId}: node_inactive (${INACTIVE_MESSAGE})`).join('; ')}`);
  }
  const check = await callNodes(members, ctx, where, stmt, 'KILL_MODE_TEST');
  if (check.failures.length > 0) throw failed(`KILL USER killed nothing: not every node answered: ${check.failures.join('; ')}`);
  if (check.plan.skipped > 0) throw notOwnerOfThread(check.plan.skippedId);
  if (check.plan.eligible === 0) {
    sink.header([], undefined, 'mariadb');
    return { rows: 0, affectedRows: 0 };
  }
  const done = await callNodes(members, ctx, where, stmt, 'KILL_MODE_ASYNC');
  const signalled = done.plan.eligible - done.refused.length;
  ctx.summary.count('killed', signalled);
  if (done.failures.length > 0 || done.refused.length > 0) {
    // every node answered the check a moment ago: what the others did cannot be taken back, so say it
    ctx.log.warn({ failures: done.failures, refused: done.refused }, 'KILL USER: nodes failed after the check');
    const why = [...(done.failures.length > 0 ? [`${done.failures.join('; ')} failed after the check`] : []), ...(done.refused.length > 0 ? [`refused by ${done.refused.join('; ')}`] : [])];
    throw failed(`KILL USER was not carried out everywhere: ${why.join('; ')}; the other nodes signalled ${signalled} connection(s)`);
  }
  sink.header([], undefined, 'mariadb');
  return { rows: 0, affectedRows: signalled };
}
