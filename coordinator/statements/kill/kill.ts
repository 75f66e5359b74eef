import type { KillStatement } from '../../../sql/ast';
import type { ResultSink, StatementContext, StatementOutcome } from '../../context';
import { errorText } from '../../../errors/error-text';
import { fanOut } from '../../cluster/fanout';
import { openKill } from '../../cluster/agent-calls';
import { unixNow } from '../../../sql/compile';
import { killFanout, killMerge, killRowSender, prepareKill, SYNC_GRACE_MS } from './kill-prepare';
import { rankedKill, rankedPrelude } from './ranked-kill';

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

  const open = openKill(ctx.pool, { ...k.request, act_by_unix_ms: String(Date.now() + firstAnswerMs) });
  const callDeadlineMs = firstAnswerMs + syncMs + SYNC_GRACE_MS;
  ctx.expectEndBy(Date.now() + callDeadlineMs);
  const events = fanOut(k.nodes, open, killFanout(ctx, firstAnswerMs, callDeadlineMs));
  sink.header(k.columns, k.format);
  // the merge holds rows only until every plan is in; after that each waits for the client
  const send = killRowSender(ctx, sink, spec);
  const merge = killMerge(k, ctx, spec.durable && stmt.mode !== 'TEST');
  // one send per batch of replies: a statement to 100 agents merges them as they come, in bulk
  for await (const batch of events) await send(merge.pushAll(batch));
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
