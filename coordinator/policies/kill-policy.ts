import type { CreateKillPolicyStatement, DropKillPolicyStatement, PolicyTarget } from '../../sql/ast';
import { renderExpr, renderOrderKeys } from '../../sql/render';
import { agentTable, type AgentTable } from '../../sql/tables';
import { chError, type QuellError } from '../../errors/quell-error';
import { isKeySegment, KEY_SEGMENT_RULE } from '../../common/etcd/etcd-layout';
import { DEFAULT_POLICY_EVERY_S, MAX_POLICY_ESCALATE_S, MAX_POLICY_EVERY_S, type PolicyAction, type PolicyRecord } from '../../common/etcd/kill-policy-record';
import { checkFilter, checkFormat, checkOrder, resolveCluster } from '../statements/analysis';
import type { ResultSink, StatementContext, StatementOutcome } from '../context';
import { oneLineReason, resolveSettings } from '../statements/settings';
import { hasGrant, type User } from '../auth/users';
import { mayKillOthersConnections } from '../statements/kill/kill-targets';
import { unixNow } from '../../sql/compile';

/** What differs between the three actions a policy may take. */
interface ActionSpec {
  readonly action: PolicyAction;
  /** the table the WHERE is checked against, as the agents evaluate it */
  readonly table: AgentTable;
  /** the creator's right to act on other users' processes, as a KILL statement of this kind decides it */
  mayKillOthers(user: User): boolean;
  /** mutations have no owner: a mutation policy needs the grant outright */
  readonly ownRule: boolean;
}

const ACTIONS: Record<PolicyTarget, ActionSpec> = {
  QUERY: { action: 'KILL QUERY', table: agentTable('system.processes'), mayKillOthers: (u) => hasGrant(u, 'KILL QUERY'), ownRule: true },
  CONNECTION: { action: 'KILL CONNECTION', table: agentTable('information_schema.PROCESSLIST'), mayKillOthers: mayKillOthersConnections, ownRule: true },
  MUTATION: { action: 'KILL MUTATION', table: agentTable('system.mutations'), mayKillOthers: (u) => hasGrant(u, 'KILL MUTATION'), ownRule: false },
};

/** The user's right to act on other users' processes with a policy's action, as CREATE decides it. */
export function mayKillOthersWith(action: PolicyAction, user: User): boolean {
  const spec = Object.values(ACTIONS).find((a) => a.action === action);
  return spec !== undefined && spec.mayKillOthers(user);
}

/** How long CREATE and DROP wait for the coordinator's own view to show the change, so that the next SHOW does. */
const VIEW_WAIT_MS = 2_000;

function notEnoughPrivileges(user: User, grant: string): QuellError {
  return chError('ACCESS_DENIED', `${user.name}: Not enough privileges. To execute this query it's necessary to have grant ${grant}`);
}

/** Creating or dropping a standing kill rule takes KILL POLICY (or ALL); readonly users never hold it. */
function checkPolicyGrant(user: User): void {
  if (!hasGrant(user, 'KILL POLICY')) throw notEnoughPrivileges(user, 'KILL POLICY');
}

function checkName(name: string): void {
  if (!isKeySegment(name)) throw chError('BAD_ARGUMENTS', `Invalid kill policy name '${name}': ${KEY_SEGMENT_RULE}`);
}

/** ESCALATE AFTER: whole seconds a run can wait, and only where a harder kill exists. */
function checkEscalation(target: PolicyTarget, seconds: number): void {
  if (seconds < 1 || seconds > MAX_POLICY_ESCALATE_S) {
    throw chError('BAD_ARGUMENTS', `ESCALATE AFTER ${seconds} SECONDS is out of range: 1 to ${MAX_POLICY_ESCALATE_S} seconds`);
  }
  if (target !== 'QUERY') {
    const why = target === 'CONNECTION' ? 'a connection kill is already the hard kill' : 'a mutation has no harder kill than KILL MUTATION';
    throw chError('BAD_ARGUMENTS', `ESCALATE AFTER applies to KILL QUERY policies: ${why}`);
  }
}

/**
 * CREATE KILL POLICY: checked like the KILL it stands for (WHERE against the table's columns,
 * cluster, rights), then stored in etcd with the creator and the creator's rights. The agents
 * of the cluster pick it up from their own watch; nothing is sent to them from here.
 */
export async function createKillPolicy(stmt: CreateKillPolicyStatement, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  checkPolicyGrant(ctx.user);
  const format = checkFormat(stmt);
  const settings = resolveSettings(stmt.settings);
  checkName(stmt.name);
  const every = stmt.everySeconds ?? DEFAULT_POLICY_EVERY_S;
  if (every < 1 || every > MAX_POLICY_EVERY_S) {
    throw chError('BAD_ARGUMENTS', `EVERY ${every} SECONDS is out of range: a policy runs every 1 to ${MAX_POLICY_EVERY_S} seconds`);
  }
  if (stmt.limit !== undefined && stmt.limit < 1) {
    throw chError('BAD_ARGUMENTS', `LIMIT ${stmt.limit} is out of range: a policy's LIMIT is at least 1 (leave it out for no limit)`);
  }
  const escalate = stmt.escalateAfterSeconds ?? 0;
  if (stmt.escalateAfterSeconds !== undefined) checkEscalation(stmt.target, escalate);
  const reason = oneLineReason(stmt.reason ?? '', 'REASON');
  const spec = ACTIONS[stmt.target];
  // the WHERE's canonical text, rendered once: checked here, stored as the policy's condition below
  const condition = renderExpr(stmt.where);
  checkFilter(stmt.where, spec.table.columns, condition);
  const orderBy = checkOrder(stmt.orderBy, spec.table.columns).map(({ expr, desc }) => ({ expr, desc }));
  // without a LIMIT a run takes every match, and an order would choose nothing
  if (orderBy.length > 0 && stmt.limit === undefined) {
    throw chError('BAD_ARGUMENTS', `Kill policy ${stmt.name} has ORDER BY without LIMIT: the order decides which matches a run takes first under its LIMIT n`);
  }
  const cluster = resolveCluster(ctx, stmt.cluster);
  const mayKillOthers = spec.mayKillOthers(ctx.user);
  if (!spec.ownRule && !mayKillOthers) throw notEnoughPrivileges(ctx.user, spec.action);
  // Any WHERE may match everything (`elapsed > -1 OR 1`): no judgement of the WHERE stands in
  // for the operator's explicit consent to a standing rule without a per-run bound.
  if (stmt.limit === undefined && !settings.allow_unbounded_policy) {
    throw chError('BAD_ARGUMENTS', `Kill policy ${stmt.name} on cluster ${cluster} has no LIMIT: add LIMIT n, or SETTINGS allow_unbounded_policy = 1`);
  }
  ctx.summary.condition = condition;
  const record: PolicyRecord = {
    cluster,
    name: stmt.name,
    condition,
    action: spec.action,
    every_s: every,
    limit: stmt.limit ?? 0,
    ...(orderBy.length > 0 ? { order_by: orderBy } : {}),
    dry_run: stmt.dryRun,
    escalate_after_s: escalate,
    reason,
    creator: ctx.user.name,
    may_kill_others: mayKillOthers,
    created: unixNow(),
  };
  if (await ctx.policies.create(record, settings.distributed_ddl_task_timeout * 1000)) {
    ctx.log.info({ cluster, policy: stmt.name, action: spec.action, condition, every_s: every, limit: record.limit, order_by: renderOrderKeys(orderBy), dry_run: stmt.dryRun }, 'kill policy created');
    await viewCatchesUp(ctx, cluster, stmt.name, true);
  } else if (!stmt.ifNotExists) {
    throw chError('ACCESS_ENTITY_ALREADY_EXISTS', `kill policy \`${stmt.name}\`: cannot insert because kill policy \`${stmt.name}\` already exists in cluster '${cluster}'`);
  }
  sink.header([], format);
  return { rows: 0 };
}

/** DROP KILL POLICY: removed from etcd; every agent stops it when its watch sees the delete. */
export async function dropKillPolicy(stmt: DropKillPolicyStatement, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  checkPolicyGrant(ctx.user);
  const format = checkFormat(stmt);
  const settings = resolveSettings(stmt.settings);
  // the cluster need not have members any more: its policies can still be dropped
  const cluster = stmt.cluster ?? ctx.defaultCluster;
  if (isKeySegment(stmt.name) && isKeySegment(cluster) && (await ctx.policies.drop(cluster, stmt.name, settings.distributed_ddl_task_timeout * 1000))) {
    ctx.log.info({ cluster, policy: stmt.name }, 'kill policy dropped');
    await viewCatchesUp(ctx, cluster, stmt.name, false);
  } else if (!stmt.ifExists) {
    throw chError('UNKNOWN_ROW_POLICY', `There is no kill policy \`${stmt.name}\` in cluster '${cluster}'`);
  }
  sink.header([], format);
  return { rows: 0 };
}

/** Resolves once the membership view shows the policy present (or gone), or after VIEW_WAIT_MS. */
function viewCatchesUp(ctx: StatementContext, cluster: string, name: string, present: boolean): Promise<void> {
  const view = ctx.membership;
  if (view.hasPolicy(cluster, name) === present) return Promise.resolve();
  return new Promise((resolve) => {
    // done runs only from the listener or the timer, after both exist
    const done = (): void => {
      clearTimeout(timer);
      off();
      resolve();
    };
    const off = view.onChange(() => {
      if (view.hasPolicy(cluster, name) === present) done();
    });
    const timer = setTimeout(done, VIEW_WAIT_MS);
  });
}
