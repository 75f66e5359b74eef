import type { KillStatement } from '../sql/ast';
import { renderExpr } from '../sql/render';
import { chError } from '../errors/quell-error';
import { findAgentTable, KILL_MUTATION_RESULT, KILL_QUERY_RESULT, type AgentTable } from '../sql/tables';
import type { Column, SqlValue } from '../sql/types';
import type { KillResponse__Output } from '../proto/generated/quell/v1/KillResponse';
import type { KilledProcess__Output } from '../proto/generated/quell/v1/KilledProcess';
import type { KillMode } from '../proto/generated/quell/v1/KillMode';
import type { KillTarget } from '../proto/generated/quell/v1/KillTarget';
import type { NodeFailureKind } from '../common/rpc-status';
import { nodeFailuresError } from './node-failures';
import { resolveSettings, type StatementSettings } from './settings';
import { checkFilter, checkFormat, resolveCluster } from './analysis';
import type { ResultSink, StatementContext, StatementOutcome } from './context';
import { fanOut } from './fanout';
import type { MemberNode } from './membership';
import { renderProcessStatus } from './kill-status';
import { hasGrant, type Grant } from './users';
import { errorText } from '../errors/error-text';

const MODES: Record<KillStatement['mode'], KillMode> = { SYNC: 'KILL_MODE_SYNC', ASYNC: 'KILL_MODE_ASYNC', TEST: 'KILL_MODE_TEST' };
/** grace beyond sync_kill_timeout for the agent's last rows to arrive */
const SYNC_GRACE_MS = 2_000;
const INACTIVE_MESSAGE = 'node has no live lease in etcd (stopped, crashed or partitioned)';

type NodeStatus = NodeFailureKind | 'node_inactive';

/** What differs between KILL QUERY and KILL MUTATION. */
interface TargetSpec {
  readonly name: string;
  readonly wire: KillTarget;
  readonly table: AgentTable;
  readonly result: readonly Column[];
  readonly grant: Grant;
  /** the target's own result columns, between kill_status and host */
  cells(p: KilledProcess__Output): SqlValue[];
  /** a user may kill its own queries; mutations have no owner and always need the grant */
  readonly ownRule: boolean;
  /** nodes that missed the kill get it queued in etcd (mutations outlive their clients) */
  readonly durable: boolean;
}

const QUERY: TargetSpec = {
  name: 'query',
  wire: 'KILL_TARGET_QUERY',
  table: findAgentTable('system.processes')!,
  result: KILL_QUERY_RESULT,
  grant: 'KILL QUERY',
  cells: (p) => [p.query_id, p.user, p.query],
  ownRule: true,
  durable: false,
};

const MUTATION: TargetSpec = {
  name: 'mutation',
  wire: 'KILL_TARGET_MUTATION',
  table: findAgentTable('system.mutations')!,
  result: KILL_MUTATION_RESULT,
  grant: 'KILL MUTATION',
  cells: (p) => [p.database, p.table, p.mutation_id, p.command],
  ownRule: false,
  durable: true,
};

function nodeRow(spec: TargetSpec, node: MemberNode, status: string, error: string): SqlValue[] {
  const blanks = spec.result.length - 5;
  return [status, ...new Array<string>(blanks).fill(''), node.host, node.port, node.nodeId, error];
}

/**
 * KILL QUERY|MUTATION [ON CLUSTER c] WHERE … : fan out to every member, merge rows as they
 * arrive. Rows are held back only until every node has sent its plan, so that a kill that
 * nobody may perform fails with ACCESS_DENIED instead of returning rows.
 */
export async function kill(stmt: KillStatement, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  const spec = stmt.target === 'QUERY' ? QUERY : MUTATION;
  const format = checkFormat(stmt);
  const settings: StatementSettings = resolveSettings(stmt.settings);
  checkFilter(stmt.where, spec.table.columns);
  const cluster = resolveCluster(ctx, stmt.cluster);
  const mayKillOthers = hasGrant(ctx.user, spec.grant);
  if (!spec.ownRule && !mayKillOthers) {
    throw chError('ACCESS_DENIED', `${ctx.user.name}: Not enough privileges. To execute this query it's necessary to have grant ${spec.grant}`);
  }
  const nodes = ctx.membership.nodes(cluster);
  const where = renderExpr(stmt.where);
  const firstAnswerMs = settings.distributed_ddl_task_timeout * 1000;
  const syncMs = stmt.mode === 'SYNC' ? settings.sync_kill_timeout * 1000 : 0;
  ctx.log.info({ cluster, nodes: nodes.length, mode: stmt.mode, target: spec.name }, 'kill');

  const events = fanOut<KillResponse__Output>(
    nodes,
    ctx.pool,
    (client, options) =>
      client.Kill(
        {
          target: spec.wire,
          where,
          mode: MODES[stmt.mode],
          soft: false,
          user: ctx.user.name,
          may_kill_others: mayKillOthers,
          sync_timeout_ms: syncMs,
          statement_id: ctx.statementId,
          query_only: false,
        },
        options,
      ),
    { firstAnswerMs, callDeadlineMs: firstAnswerMs + syncMs + SYNC_GRACE_MS, signal: ctx.signal },
  );

  sink.header(spec.result, format);
  const held: SqlValue[][] = [];
  const failures: string[] = [];
  /** nodes that did not take the kill, with why: queued for durable targets */
  const missed: { node: MemberNode; status: NodeStatus; error: string }[] = [];
  const queueMissed = spec.durable && stmt.mode !== 'TEST';
  let timedOut = 0;
  let eligible = 0;
  let skipped = 0;
  let skippedOwner = '';
  let released = false;
  let rows = 0;
  // nodes whose plan (or failure) is still outstanding
  const unplanned = new Set(nodes.filter((n) => n.active).map((n) => n.nodeId));

  const emit = (row: SqlValue[]): void => {
    rows++;
    if (released) sink.rows([row]);
    else held.push(row);
  };
  const release = (): void => {
    released = true;
    if (held.length > 0) sink.rows(held.splice(0));
  };
  const planSettled = (nodeId: string): void => {
    unplanned.delete(nodeId);
    if (released || unplanned.size > 0) return;
    if (eligible === 0 && skipped > 0) {
      throw chError('ACCESS_DENIED', `User ${ctx.user.name} attempts to kill ${spec.name} created by ${skippedOwner}`);
    }
    release();
  };
  const nodeMissed = (node: MemberNode, status: NodeStatus, error: string): void => {
    failures.push(`${node.nodeId} (${status})`);
    if (queueMissed) missed.push({ node, status, error });
    else emit(nodeRow(spec, node, status, error));
  };

  for await (const ev of events) {
    const node = ev.node;
    switch (ev.kind) {
      case 'message': {
        const m = ev.message;
        if (m.plan) {
          eligible += m.plan.eligible;
          skipped += m.plan.skipped;
          skippedOwner ||= m.plan.skipped_owner;
          planSettled(node.nodeId);
        } else if (m.process) {
          const p = m.process;
          emit([renderProcessStatus(p.status), ...spec.cells(p), node.host, node.port, node.nodeId, p.error]);
        }
        break;
      }
      case 'done':
        planSettled(node.nodeId);
        break;
      case 'inactive':
        nodeMissed(node, 'node_inactive', INACTIVE_MESSAGE);
        break;
      case 'failed':
        if (ev.failure.kind === 'node_timeout') timedOut++;
        nodeMissed(node, ev.failure.kind, ev.failure.message);
        planSettled(node.nodeId);
        break;
    }
  }
  if (!released) release();
  // a statement its client cancelled did not miss those nodes: nothing is queued for them
  if (missed.length > 0 && !ctx.signal.aborted) await queueForMissed(missed, spec, cluster, where, settings, ctx, emit);
  if (failures.length > 0 && settings.distributed_ddl_output_mode === 'throw') {
    throw nodeFailuresError(`KILL ${stmt.target}`, failures, nodes.length, timedOut);
  }
  return { rows };
}

/** Stores one durable kill for the nodes that missed it; their rows say `queued`. */
async function queueForMissed(
  missed: readonly { node: MemberNode; status: NodeStatus; error: string }[],
  spec: TargetSpec,
  cluster: string,
  where: string,
  settings: StatementSettings,
  ctx: StatementContext,
  emit: (row: SqlValue[]) => void,
): Promise<void> {
  try {
    const intent = await ctx.killQueue.enqueue({ cluster, where, user: ctx.user.name, nodes: missed.map((m) => m.node.nodeId), ttlSeconds: settings.mutation_kill_ttl });
    const until = new Date(intent.expires_at * 1000).toISOString();
    for (const m of missed) {
      emit(nodeRow(spec, m.node, 'queued', `${m.status}: queued as kill ${intent.id}, applied when the node returns (until ${until})`));
    }
  } catch (err) {
    const why = errorText(err);
    ctx.log.warn({ err: why }, 'could not queue a durable kill');
    for (const m of missed) emit(nodeRow(spec, m.node, m.status, `${m.error}; the kill could not be queued: ${why}`));
  }
}
