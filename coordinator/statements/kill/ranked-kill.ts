import type { KillStatement, OrderItem } from '../../../sql/ast';
import { renderOrderKeys } from '../../../sql/render';
import type { KillResponse__Output } from '../../../proto/generated/quell/v1/KillResponse';
import { NodeFailure } from '../../../common/grpc/rpc-status';
import type { ResultSink, StatementContext, StatementOutcome } from '../../context';
import { fanOut, type FanoutEvent } from '../../cluster/fanout';
import { openKill, openKillEach } from '../../cluster/agent-calls';
import { checkOrder, type CheckedOrderKey } from '../analysis';
import { killFanout, killMerge, killRowSender, SYNC_GRACE_MS, type PreparedKill } from './kill-prepare';
import { choose, rankedLimit, type NodePlan } from './kill-rank';

/** A ranked kill as written: its LIMIT and ORDER BY (keys checked against the table later). */
export interface RankedClause {
  readonly limit: number;
  readonly orderBy: readonly OrderItem[];
}

/** The statement's ranked-kill clauses, range-checked; undefined for a plain KILL. */
export function rankedPrelude(stmt: KillStatement): RankedClause | undefined {
  const limit = rankedLimit(stmt.orderBy, stmt.limit);
  return limit === undefined ? undefined : { limit, orderBy: stmt.orderBy };
}

/** LIMIT without ORDER BY takes the oldest first, as a policy's LIMIT does. */
const OLDEST_FIRST: Record<string, CheckedOrderKey> = {
  query: { expr: 'elapsed', desc: true, type: 'Float64' },
  mutation: { expr: 'create_time', desc: false, type: 'DateTime' },
  connection: { expr: 'TIME', desc: true, type: 'Int64' },
};

const NO_PLAN = 'the agent did not list its matches for a ranked kill (it predates ORDER BY … LIMIT in KILL): nothing was killed there';

/**
 * KILL … WHERE … ORDER BY … LIMIT n (docs/ranked-kills.md). Phase one asks every node for its
 * first n matches (a TEST an older agent would only list), with each one's identity and ORDER
 * BY values; the coordinator ranks them all; phase two sends each node exactly its chosen
 * processes, which it kills only while each is still the process planned. Node rows come from
 * either phase. A node that misses a ranked mutation kill gets no queued kill: a queued kill
 * would act on every match there, not the chosen ones.
 */
export async function rankedKill(k: PreparedKill, ranked: RankedClause, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  const { spec, firstAnswerMs, syncMs } = k;
  const keys = ranked.orderBy.length > 0 ? checkOrder(ranked.orderBy, spec.table.columns) : [OLDEST_FIRST[spec.name] as CheckedOrderKey];
  const orderBy = keys.map(({ expr, desc }) => ({ expr, desc }));
  const condition = `${k.where} ORDER BY ${renderOrderKeys(orderBy)} LIMIT ${ranked.limit}`;
  ctx.summary.condition = condition;
  const planDeadlineMs = firstAnswerMs + SYNC_GRACE_MS;
  const killDeadlineMs = firstAnswerMs + syncMs + SYNC_GRACE_MS;
  ctx.expectEndBy(Date.now() + planDeadlineMs + killDeadlineMs);
  sink.header(k.columns, k.format);
  const send = killRowSender(ctx, sink, spec);
  const merge = killMerge(k, ctx, false);

  const base = { ...k.request, condition };
  const planRequest = { ...base, mode: 'KILL_MODE_TEST' as const, plan: true, order_by: orderBy, limit: ranked.limit, act_by_unix_ms: String(Date.now() + firstAnswerMs) };
  const plans: NodePlan[] = [];
  for await (const batch of fanOut(k.nodes, openKill(ctx.pool, planRequest), killFanout(ctx, firstAnswerMs, planDeadlineMs))) {
    const seen = batch.map((ev) => planned(ev, plans)).filter((ev) => ev !== undefined);
    await send(merge.pushAll(seen));
  }
  await send(merge.end());

  const chosen = choose(plans, keys.map((key) => key.desc), ranked.limit);
  if (chosen.length > 0 && !ctx.signal.aborted) {
    const picks = new Map(chosen.map((c) => [c.node.nodeId, c.picks]));
    const actBy = String(Date.now() + firstAnswerMs);
    const open = openKillEach(ctx.pool, (node) => ({ ...base, act_by_unix_ms: actBy, picked: true, picks: picks.get(node.nodeId) ?? [] }));
    for await (const batch of fanOut(chosen.map((c) => c.node), open, killFanout(ctx, firstAnswerMs, killDeadlineMs))) {
      // phase two's plans were counted in phase one; its rows and node failures go out
      await send(merge.pushAll(batch.filter((ev) => !(ev.kind === 'message' && ev.message.plan))));
    }
  }
  const failure = merge.failureError();
  if (failure) throw failure;
  return { rows: merge.rows };
}

/**
 * A phase-one event as the merge should see it: a plan is kept for ranking; an agent that
 * answered with rows instead of a plan's list did not know the plan call, and is that node's
 * node_error (its TEST rows are dropped: they were not chosen).
 */
function planned(ev: FanoutEvent<KillResponse__Output>, plans: NodePlan[]): FanoutEvent<KillResponse__Output> | undefined {
  if (ev.kind !== 'message') return ev;
  const plan = ev.message.plan;
  if (!plan) return undefined;
  if (plan.eligible > 0 && plan.planned.length === 0) return { kind: 'failed', node: ev.node, failure: new NodeFailure('node_error', NO_PLAN) };
  plans.push({ node: ev.node, planned: plan.planned });
  return ev;
}
