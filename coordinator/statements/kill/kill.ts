import type { KillStatement } from '../../../sql/ast';
import type { ResultSink, StatementContext, StatementOutcome } from '../../context';
import { errorText } from '../../../errors/error-text';
import { fanOut } from '../../cluster/fanout';
import { openKill } from '../../cluster/agent-calls';
import { unixNow } from '../../../sql/compile';
import type { OutsideOutcome } from './kill-merge';
import { killFanout, killMerge, killRowSender, prepareKill, SYNC_GRACE_MS } from './kill-prepare';
import { rankedKill, rankedPrelude } from './ranked-kill';
import { pinnedQueryIds } from './pinned-query-ids';
import { killDoorStatements } from './door-statement-kill';
import { KILL_QUERY } from './kill-targets';
import { withPromise } from '../../cluster/with-promise';

/**
 * KILL QUERY|MUTATION [ON CLUSTER c] WHERE … : analyse, fan out to every member, and feed what
 * comes back through the merge (coordinator/statements/kill/kill-merge.ts) to the client. With
 * ORDER BY … LIMIT n it is a ranked kill (ranked-kill.ts).
 */
export async function kill(stmt: KillStatement, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  const ranked = rankedPrelude(stmt);
  const k = prepareKill(stmt, ctx);
  ctx.log.debug({ cluster: k.cluster, nodes: k.nodes.length, mode: stmt.mode, target: k.spec.name }, 'kill');
  if (ranked) return rankedKill(k, ranked, ctx, sink);
  const { spec, settings, where, firstAnswerMs, syncMs } = k;
  const statementTime = unixNow();
  ctx.summary.condition = where;

  // statements on the coordinators' doors are reached by their query_id alone
  const queryIds = spec.name === KILL_QUERY.name ? pinnedQueryIds(stmt.where) : undefined;
  const doors = queryIds ? killDoorStatements(queryIds, ctx, { test: stmt.mode === 'TEST', waitMs: syncMs, mayKillOthers: k.mayKillOthers, reason: settings.kill_reason }) : undefined;
  const open = openKill(ctx.pool, { ...k.request, act_by_unix_ms: Date.now() + firstAnswerMs });
  const callDeadlineMs = firstAnswerMs + syncMs + SYNC_GRACE_MS;
  ctx.expectEndBy(Date.now() + callDeadlineMs);
  const events = fanOut(k.nodes, open, killFanout(ctx, firstAnswerMs, callDeadlineMs));
  sink.header(k.columns, k.format);
  // the merge holds rows only until every plan is in; after that each waits for the client
  const send = killRowSender(ctx, sink, spec);
  const merge = killMerge(k, ctx, spec.durable && stmt.mode !== 'TEST', doors !== undefined);
  if (doors) {
    // a door statement gets no hard kill: with escalate_after its row says it was not escalated
    const withEscalated = (o: OutsideOutcome): OutsideOutcome => (k.escalateMs > 0 ? { ...o, rows: o.rows.map((r) => [...r, 0]) } : o);
    // the door statements are asked beside the nodes. Once every node planned and something is
    // eligible, the agents' rows go out without them; while nothing is, only the doors' plan can
    // decide ACCESS_DENIED, so every row waits until each other coordinator answered or timed out
    // (PEER_KILL_DEADLINE_MS, plus the SYNC wait)
    for await (const item of withPromise(events, doors)) await send('event' in item ? merge.pushAll(item.event) : merge.settleOutside(withEscalated(item.value)));
  } else {
    // one send per batch of replies: a statement to 100 agents merges them as they come, in bulk
    for await (const batch of events) await send(merge.pushAll(batch));
  }
  await send(merge.end());
  // a statement its client cancelled did not miss those nodes: nothing is queued for them
  if (merge.missed.length > 0 && !ctx.signal.aborted) {
    try {
      const intent = await ctx.killQueue.enqueue({ cluster: k.cluster, where, user: ctx.user.name, nodes: merge.missed.map((m) => m.node.nodeId), ttlSeconds: settings.mutation_kill_ttl, statementTime }, settings.distributed_ddl_task_timeout * 1000);
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
