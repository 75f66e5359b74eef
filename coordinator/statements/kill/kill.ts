import type { KillStatement } from '../../../sql/ast';
import { renderExpr } from '../../../sql/render';
import { chError } from '../../../errors/quell-error';
import type { SqlValue } from '../../../sql/types';
import type { KillMode } from '../../../proto/generated/quell/v1/KillMode';
import { errorText } from '../../../errors/error-text';
import { resolveSettings } from '../settings';
import { checkFilter, checkFormat, resolveCluster } from '../analysis';
import type { ResultSink, StatementContext, StatementOutcome } from '../../context';
import { fanOut } from '../../cluster/fanout';
import { openKill } from '../../cluster/agent-calls';
import { KILL_MUTATION, KILL_QUERY } from './kill-targets';
import { KillMerge } from './kill-merge';
import { hasGrant } from '../../auth/users';
import { unixNow } from '../../../sql/compile';
import { pinnedQueryIds } from './pinned-query-ids';
import { killDoorStatements } from './door-statement-kill';
import { withPromise } from '../../cluster/with-promise';

const MODES: Record<KillStatement['mode'], KillMode> = { SYNC: 'KILL_MODE_SYNC', ASYNC: 'KILL_MODE_ASYNC', TEST: 'KILL_MODE_TEST' };
/** grace beyond sync_kill_timeout for the agent's last rows to arrive */
const SYNC_GRACE_MS = 2_000;

/**
 * KILL QUERY|MUTATION [ON CLUSTER c] WHERE … : analyse, fan out to every member, and feed what
 * comes back through the merge (coordinator/statements/kill/kill-merge.ts) to the client.
 */
export async function kill(stmt: KillStatement, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  const spec = stmt.target === 'QUERY' ? KILL_QUERY : KILL_MUTATION;
  const format = checkFormat(stmt);
  const settings = resolveSettings(stmt.settings);
  checkFilter(stmt.where, spec.table.columns);
  const cluster = resolveCluster(ctx, stmt.cluster);
  const mayKillOthers = hasGrant(ctx.user, spec.grant);
  if (!spec.ownRule && !mayKillOthers) {
    throw chError('ACCESS_DENIED', `${ctx.user.name}: Not enough privileges. To execute this query it's necessary to have grant ${spec.grant}`);
  }
  const nodes = ctx.membership.nodes(cluster);
  const where = renderExpr(stmt.where);
  const statementTime = unixNow();
  const firstAnswerMs = settings.distributed_ddl_task_timeout * 1000;
  const syncMs = stmt.mode === 'SYNC' ? settings.sync_kill_timeout * 1000 : 0;
  ctx.log.debug({ cluster, nodes: nodes.length, mode: stmt.mode, target: spec.name }, 'kill');
  ctx.summary.condition = where;

  // statements on the coordinators' doors are reached by their query_id alone
  const queryIds = spec.name === KILL_QUERY.name ? pinnedQueryIds(stmt.where) : undefined;
  const doors = queryIds ? killDoorStatements(queryIds, ctx, { test: stmt.mode === 'TEST', waitMs: syncMs, mayKillOthers, reason: settings.kill_reason }) : undefined;
  const open = openKill(ctx.pool, {
    target: spec.wire,
    where,
    mode: MODES[stmt.mode],
    soft: false,
    user: ctx.user.name,
    may_kill_others: mayKillOthers,
    sync_timeout_ms: syncMs,
    statement_id: ctx.statementId,
    query_only: false,
    client: ctx.client,
    condition: '',
    act_by_unix_ms: String(Date.now() + firstAnswerMs),
    reason: settings.kill_reason,
  });
  const callDeadlineMs = firstAnswerMs + syncMs + SYNC_GRACE_MS;
  ctx.expectEndBy(Date.now() + callDeadlineMs);
  const events = fanOut(nodes, open, { firstAnswerMs, callDeadlineMs, signal: ctx.signal, refuse: (n) => ctx.clocks?.incompatible?.(n.nodeId), metrics: ctx.metrics });
  sink.header(spec.result, format);
  const nodeIdAt = spec.result.length - 2;
  // the merge holds rows only until every plan is in; after that each waits for the client
  const send = async (rows: SqlValue[][]): Promise<void> => {
    for (const r of rows) {
      const status = String(r[0]);
      ctx.summary.count(status);
      // node rows (node_timeout, …) and durable kills queued for a node that was down
      if (status.startsWith('node_') || status === 'queued') ctx.summary.miss(String(r[nodeIdAt]));
    }
    if (rows.length > 0) await sink.rows(rows);
  };
  const merge = new KillMerge({
    target: spec,
    nodes,
    user: ctx.user.name,
    queueMissed: spec.durable && stmt.mode !== 'TEST',
    throwOnNodeFailure: settings.distributed_ddl_output_mode === 'throw',
    clocks: ctx.clocks,
    outside: doors !== undefined,
  });
  if (doors) {
    // the door statements are asked beside the nodes: a coordinator that does not answer holds up only its own row
    for await (const item of withPromise(events, doors)) await send('event' in item ? merge.push(item.event) : merge.settleOutside(item.value.plan, item.value.rows));
  } else {
    for await (const ev of events) await send(merge.push(ev));
  }
  await send(merge.end());
  // a statement its client cancelled did not miss those nodes: nothing is queued for them
  if (merge.missed.length > 0 && !ctx.signal.aborted) {
    try {
      const intent = await ctx.killQueue.enqueue({ cluster, where, user: ctx.user.name, nodes: merge.missed.map((m) => m.node.nodeId), ttlSeconds: settings.mutation_kill_ttl, statementTime }, settings.distributed_ddl_task_timeout * 1000);
      await send(merge.queued(intent.id, new Date(intent.expires_at * 1000)));
    } catch (err) {
      const why = errorText(err);
      ctx.log.warn({ err: why }, 'could not queue a durable kill');
      await send(merge.notQueued(why));
    }
  }
  const failure = merge.failureError();
  if (failure) throw failure;
  return { rows: merge.rows };
}
