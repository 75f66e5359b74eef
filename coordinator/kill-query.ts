import type { KillStatement } from '../sql/ast';
import { renderExpr } from '../sql/render';
import { chError } from '../sql/errors';
import { nodeFailuresError } from './node-failures';
import { findAgentTable, KILL_QUERY_RESULT } from '../sql/tables';
import type { SqlValue } from '../sql/types';
import type { KillResponse__Output } from '../proto/generated/quell/v1/KillResponse';
import type { KillMode } from '../proto/generated/quell/v1/KillMode';
import type { StatementSettings } from './settings';
import { resolveSettings } from './settings';
import { checkFilter, checkFormat, resolveCluster } from './analysis';
import type { ResultSink, StatementContext, StatementOutcome } from './context';
import { fanOut } from './fanout';
import type { MemberNode } from './membership';
import { renderProcessStatus } from './kill-status';
import type { NodeFailureKind } from '../common/rpc-status';
import { hasGrant } from './users';

const PROCESSES = findAgentTable('system.processes')!;
const MODES: Record<KillStatement['mode'], KillMode> = { SYNC: 'KILL_MODE_SYNC', ASYNC: 'KILL_MODE_ASYNC', TEST: 'KILL_MODE_TEST' };
/** grace beyond sync_kill_timeout for the agent's last rows to arrive */
const SYNC_GRACE_MS = 2_000;

function nodeRow(node: MemberNode, status: NodeFailureKind | 'node_inactive', error: string): SqlValue[] {
  return [status, '', '', '', node.host, node.port, node.nodeId, error];
}

/** Node rows say why a node could not answer; their text explains the status to an operator. */
const INACTIVE_MESSAGE = 'node has no live lease in etcd (stopped, crashed or partitioned)';

/**
 * KILL QUERY [ON CLUSTER c] WHERE … : fan out to every member, merge rows as they arrive.
 * Rows are held back only until every node has sent its plan, so that a kill that nobody may
 * perform fails with ACCESS_DENIED instead of returning rows.
 */
export async function killQuery(stmt: KillStatement, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  const format = checkFormat(stmt);
  const settings: StatementSettings = resolveSettings(stmt.settings);
  checkFilter(stmt.where, PROCESSES.columns);
  const cluster = resolveCluster(ctx, stmt.cluster);
  const nodes = ctx.membership.nodes(cluster);
  const where = renderExpr(stmt.where);
  const firstAnswerMs = settings.distributed_ddl_task_timeout * 1000;
  const syncMs = stmt.mode === 'SYNC' ? settings.sync_kill_timeout * 1000 : 0;
  const mayKillOthers = hasGrant(ctx.user, 'KILL QUERY');
  ctx.log.info({ cluster, nodes: nodes.length, mode: stmt.mode }, 'kill query');

  const events = fanOut<KillResponse__Output>(
    nodes,
    ctx.pool,
    (client, options) =>
      client.Kill(
        {
          target: 'KILL_TARGET_QUERY',
          where,
          mode: MODES[stmt.mode],
          soft: false,
          user: ctx.user.name,
          may_kill_others: mayKillOthers,
          sync_timeout_ms: syncMs,
          statement_id: ctx.statementId,
        },
        options,
      ),
    { firstAnswerMs, callDeadlineMs: firstAnswerMs + syncMs + SYNC_GRACE_MS, signal: ctx.signal },
  );

  sink.header(KILL_QUERY_RESULT, format);
  const held: SqlValue[][] = [];
  const failures: string[] = [];
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
  const planSettled = (nodeId: string): void => {
    unplanned.delete(nodeId);
    if (released || unplanned.size > 0) return;
    if (eligible === 0 && skipped > 0) {
      throw chError('ACCESS_DENIED', `User ${ctx.user.name} attempts to kill query created by ${skippedOwner}`);
    }
    released = true;
    if (held.length > 0) sink.rows(held.splice(0));
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
          emit([renderProcessStatus(p.status), p.query_id, p.user, p.query, node.host, node.port, node.nodeId, p.error]);
        }
        break;
      }
      case 'done':
        planSettled(node.nodeId);
        break;
      case 'inactive':
        failures.push(`${node.nodeId} (node_inactive)`);
        emit(nodeRow(node, 'node_inactive', INACTIVE_MESSAGE));
        break;
      case 'failed':
        if (ev.failure.kind === 'node_timeout') timedOut++;
        failures.push(`${node.nodeId} (${ev.failure.kind})`);
        emit(nodeRow(node, ev.failure.kind, ev.failure.message));
        planSettled(node.nodeId);
        break;
    }
  }
  if (!released) {
    released = true;
    if (held.length > 0) sink.rows(held.splice(0));
  }
  if (failures.length > 0 && settings.distributed_ddl_output_mode === 'throw') {
    throw nodeFailuresError('KILL QUERY', failures, nodes.length, timedOut);
  }
  return { rows };
}
