import type { KillStatement } from '../../../sql/ast';
import { renderExpr } from '../../../sql/render';
import { chError } from '../../../errors/quell-error';
import type { SqlValue } from '../../../sql/types';
import type { KillMode } from '../../../proto/generated/quell/v1/KillMode';
import type { KillRequest } from '../../../proto/generated/quell/v1/KillRequest';
import { escalateAfterMs, resolveSettings, type StatementSettings } from '../settings';
import { ESCALATED_COLUMN } from '../../../sql/tables';
import type { Column } from '../../../sql/types';
import { checkFilter, checkFormat, resolveCluster } from '../analysis';
import type { ResultSink, StatementContext } from '../../context';
import type { FanoutOptions } from '../../cluster/fanout';
import type { MemberNode } from '../../cluster/membership';
import { KILL_CONNECTION, KILL_MUTATION, KILL_QUERY, type KillTargetSpec } from './kill-targets';
import { KillMerge } from './kill-merge';

const TARGETS: Record<KillStatement['target'], KillTargetSpec> = { QUERY: KILL_QUERY, MUTATION: KILL_MUTATION, CONNECTION: KILL_CONNECTION };
const MODES: Record<KillStatement['mode'], KillMode> = { SYNC: 'KILL_MODE_SYNC', ASYNC: 'KILL_MODE_ASYNC', TEST: 'KILL_MODE_TEST' };
/** grace beyond sync_kill_timeout for the agent's last rows to arrive */
export const SYNC_GRACE_MS = 2_000;

/** A KILL statement analysed: everything both the plain and the ranked kill send and wait by. */
export interface PreparedKill {
  readonly spec: KillTargetSpec;
  readonly format: string | undefined;
  readonly settings: StatementSettings;
  readonly cluster: string;
  readonly nodes: readonly MemberNode[];
  readonly where: string;
  /** the user holds the grant to kill other users' processes */
  readonly mayKillOthers: boolean;
  /** the request every node gets, but for its act-by time (stamped per phase) */
  readonly request: KillRequest;
  readonly firstAnswerMs: number;
  readonly syncMs: number;
  /** escalate_after in ms (0: none): the result then ends each row with `escalated` */
  readonly escalateMs: number;
  /** the result's columns */
  readonly columns: readonly Column[];
}

/** Checks done before anything is sent (bad input fails once, and kills nothing). */
export function prepareKill(stmt: KillStatement, ctx: StatementContext): PreparedKill {
  const spec = TARGETS[stmt.target];
  const format = checkFormat(stmt);
  const settings = resolveSettings(stmt.settings);
  const escalateMs = escalateAfterMs(settings, stmt.mode, stmt.target);
  const where = renderExpr(stmt.where);
  checkFilter(stmt.where, spec.table.columns, where);
  const cluster = resolveCluster(ctx, stmt.cluster);
  const mayKillOthers = spec.mayKillOthers(ctx.user);
  if (stmt.mode === 'SYNC' && !spec.waits) throw chError('BAD_ARGUMENTS', `${spec.statement} is ASYNC or TEST, not SYNC: a killed connection is gone at once, as MariaDB's KILL returns at once`);
  if (!spec.ownRule && !mayKillOthers) {
    throw chError('ACCESS_DENIED', `${ctx.user.name}: Not enough privileges. To execute this query it's necessary to have grant ${spec.grant}`);
  }
  const syncMs = stmt.mode === 'SYNC' ? settings.sync_kill_timeout * 1000 : 0;
  return {
    spec,
    format,
    settings,
    cluster,
    nodes: ctx.membership.nodes(cluster),
    where,
    mayKillOthers,
    firstAnswerMs: settings.distributed_ddl_task_timeout * 1000,
    syncMs,
    escalateMs,
    columns: escalateMs > 0 ? [...spec.result, ESCALATED_COLUMN] : spec.result,
    request: {
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
      reason: settings.kill_reason,
      escalate_after_ms: escalateMs,
    },
  };
}

/** How a kill's rows reach the client: counted into the statement's summary, node rows as misses. */
export function killRowSender(ctx: StatementContext, sink: ResultSink, spec: KillTargetSpec): (rows: SqlValue[][]) => Promise<void> {
  const nodeIdAt = spec.result.length - 2;
  return async (rows) => {
    for (const r of rows) {
      const status = String(r[0]);
      ctx.summary.count(status);
      // node rows (node_timeout, …) and durable kills queued for a node that was down
      if (status.startsWith('node_') || status === 'queued') ctx.summary.miss(String(r[nodeIdAt]));
    }
    if (rows.length > 0) await sink.rows(rows);
  };
}

/** The fan-out options of one phase of a kill: its deadlines, the client's cancel, refused agents, metrics. */
export function killFanout(ctx: StatementContext, firstAnswerMs: number, callDeadlineMs: number): FanoutOptions {
  return { firstAnswerMs, callDeadlineMs, signal: ctx.signal, refuse: (n) => ctx.clocks?.incompatible?.(n.nodeId), metrics: ctx.metrics };
}

/**
 * The merge of one kill's answers; `queueMissed`: nodes that miss it get a durable kill (plain
 * mutation kills); `outside`: the coordinators' door statements plan beside the nodes.
 */
export function killMerge(k: PreparedKill, ctx: StatementContext, queueMissed: boolean, outside = false): KillMerge {
  return new KillMerge({
    target: k.spec,
    nodes: k.nodes,
    user: ctx.user.name,
    queueMissed,
    throwOnNodeFailure: k.settings.distributed_ddl_output_mode === 'throw',
    clocks: ctx.clocks,
    escalation: k.escalateMs > 0,
    outside,
  });
}
