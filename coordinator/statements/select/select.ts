import type { Expr, SelectStatement, ShowProcesslistStatement } from '../../../sql/ast';
import { renderExpr, renderOrderKeys } from '../../../sql/render';
import { parseStatement } from '../../../sql/parser';
import { hasGrant } from '../../auth/users';
import { chError } from '../../../errors/quell-error';
import { CLUSTERS_COLUMNS, COORDINATORS_COLUMNS, KILL_POLICIES_COLUMNS, KILL_QUEUE_COLUMNS, SESSIONS_COLUMNS, findAgentTable, type AgentTable } from '../../../sql/tables';
import type { Column, SqlValue } from '../../../sql/types';
import { isTrue } from '../../../sql/compile';
import { decodeRow } from '../../../proto/codec';
import { analyzeExpr, checkFilter, checkFormat, resolveCluster } from '../analysis';
import type { ResultSink, StatementContext, StatementOutcome } from '../../context';
import { fanOut } from '../../cluster/fanout';
import { openScan } from '../../cluster/agent-calls';
import { nodeFailuresError } from '../node-failures';
import { resolveSettings, resultRowLimit } from '../settings';
import { finish, ReadRows, tooManyRows, type Projection } from './read-rows';
import { Aggregation, planAggregate, positional, type AggregatePlan } from './aggregate';
import { substituteAliases } from './select-aliases';
import { splitAddress } from '../../../common/etcd/etcd-layout';
import { everyCoordinatorsSessions, type CoordinatorSession } from './coordinator-sessions';



function project(stmt: SelectStatement, columns: readonly Column[]): Projection & { where?: Expr } {
  const names = new Set(columns.map((c) => c.name));
  const outCols: Column[] = [];
  const exprs: Expr[] = [];
  const aliases = new Map<string, Expr>();
  for (const item of stmt.items) {
    if (!item.expr) {
      for (const c of columns) {
        outCols.push(c);
        exprs.push({ kind: 'identifier', name: c.name, pos: 0 });
      }
      continue;
    }
    const compiled = analyzeExpr(item.expr, columns);
    outCols.push({ name: item.alias ?? item.text, type: compiled.type });
    exprs.push(item.expr);
    if (item.alias) aliases.set(item.alias, item.expr);
  }
  const itemExprs = stmt.items.map((i) => i.expr);
  const orderKeys = stmt.orderBy.map((o) => {
    const expr = substituteAliases(positional(o.expr, itemExprs), aliases, names);
    analyzeExpr(expr, columns);
    exprs.push(expr);
    return { index: exprs.length - 1, desc: o.desc };
  });
  const where = stmt.where ? substituteAliases(stmt.where, aliases, names) : undefined;
  if (where) checkFilter(where, columns);
  return { columns: outCols, exprs, orderKeys, where };
}

/** A grouped read as the nodes see it: the leaves are its expressions, its WHERE as written. */
function aggregateProjection(agg: AggregatePlan, columns: readonly Column[]): Projection & { where?: Expr } {
  if (agg.where) checkFilter(agg.where, columns);
  return { columns: [...agg.columns], exprs: [...agg.leaves], orderKeys: [], where: agg.where };
}

/** Where a grouped read's rows go: into their groups; the result is sent once every node is done. */
class GroupedRows {
  private readonly groups: Aggregation;
  private sent = 0;

  constructor(
    plan: AggregatePlan,
    private readonly sink: ResultSink,
    maxRows: number,
  ) {
    this.groups = new Aggregation(plan, maxRows);
  }

  readonly wanted = true;

  add(rows: SqlValue[][]): Promise<void> {
    this.groups.add(rows);
    return Promise.resolve();
  }

  async end(): Promise<void> {
    const rows = this.groups.rows();
    this.sent = rows.length;
    if (rows.length > 0) await this.sink.rows(rows);
  }

  get rows(): number {
    return this.sent;
  }
}

/** The kill log says who killed what: reading it takes the grant that reading others' processes does. */
function checkReadable(table: AgentTable, ctx: StatementContext): void {
  if (table.wire === 'TABLE_KILL_LOG' && !hasGrant(ctx.user, 'PROCESS')) {
    throw chError('ACCESS_DENIED', `${ctx.user.name}: Not enough privileges. To execute this query it's necessary to have grant PROCESS ON ${table.name}`);
  }
}

/**
 * `local`: rows of the table (its columns, node columns last) that the coordinator adds itself
 * (SHOW PROCESSLIST: its door sessions); the WHERE and the items are applied to them here.
 */
async function selectFromAgents(stmt: SelectStatement, table: AgentTable, cluster: string | undefined, ctx: StatementContext, sink: ResultSink, local: SqlValue[][] = []): Promise<StatementOutcome> {
  checkReadable(table, ctx);
  const format = checkFormat(stmt);
  const settings = resolveSettings(stmt.settings);
  const maxRows = resultRowLimit(settings, ctx.maxResultRows);
  const agg = planAggregate(stmt, table.columns);
  const p = agg ? aggregateProjection(agg, table.columns) : project(stmt, table.columns);
  const name = resolveCluster(ctx, cluster);
  const nodes = ctx.membership.nodes(name);
  const firstAnswerMs = settings.distributed_ddl_task_timeout * 1000;
  const where = p.where ? renderExpr(p.where) : '';
  ctx.summary.condition = where;
  const open = openScan(ctx.pool, {
    table: table.wire,
    where,
    expressions: p.exprs.map(renderExpr),
    statement_id: ctx.statementId,
    user: ctx.user.name,
    // MariaDB: without PROCESS a user sees only its own connections
    see_all_users: table.wire !== 'TABLE_CONNECTIONS' || hasGrant(ctx.user, 'PROCESS') || hasGrant(ctx.user, 'SUPER'),
  });
  sink.header(p.columns, format, table.wire === 'TABLE_CONNECTIONS' ? 'mariadb' : 'clickhouse');
  // a read may pause the agents' streams while its client catches up: it kills nothing, so a late row is only late
  ctx.expectEndBy(Date.now() + firstAnswerMs * 2);
  const events = fanOut(nodes, open, { firstAnswerMs, callDeadlineMs: firstAnswerMs * 2, signal: ctx.signal, pauseWhenBehind: true, refuse: (n) => ctx.clocks?.incompatible?.(n.nodeId), metrics: ctx.metrics });
  const out = agg ? new GroupedRows(agg, sink, maxRows) : new ReadRows(p, stmt, sink, maxRows);
  if (local.length > 0) {
    const filter = p.where ? analyzeExpr(p.where, table.columns) : undefined;
    const exprs = p.exprs.map((e) => analyzeExpr(e, table.columns));
    await out.add(local.filter((r) => !filter || isTrue(filter.evaluate(r))).map((r) => exprs.map((e) => e.evaluate(r))));
  }
  const failures: string[] = [];
  let timedOut = 0;
  reading: for await (const batch of events) {
    for (const ev of batch) {
      if (ev.kind === 'message') {
        await out.add(ev.message.rows.map(decodeRow));
        // LIMIT reached: leaving the loop cancels the calls still open
        if (!out.wanted) break reading;
      } else if (ev.kind === 'inactive') {
        failures.push(`${ev.node.nodeId} (node_inactive)`);
        ctx.summary.miss(ev.node.nodeId);
      } else if (ev.kind === 'failed') {
        if (ev.failure.kind === 'node_timeout') timedOut++;
        failures.push(`${ev.node.nodeId} (${ev.failure.kind}: ${ev.failure.message})`);
        ctx.summary.miss(ev.node.nodeId);
      }
    }
  }
  if (failures.length > 0 && settings.distributed_ddl_output_mode === 'throw') {
    throw nodeFailuresError('SELECT', failures, nodes.length, timedOut);
  }
  for (const f of failures) sink.warn(`no rows from ${f}`);
  await out.end();
  return { rows: out.rows };
}

/** Tables the coordinator answers itself: system.clusters and system.one. */
async function localRows(stmt: SelectStatement, ctx: StatementContext, sink: ResultSink, columns: readonly Column[], all: SqlValue[][] | (() => Promise<SqlValue[][]>)): Promise<StatementOutcome> {
  const format = checkFormat(stmt);
  const maxRows = resultRowLimit(resolveSettings(stmt.settings), ctx.maxResultRows);
  const agg = planAggregate(stmt, columns);
  const p = agg ? aggregateProjection(agg, columns) : project(stmt, columns);
  const filter = p.where ? analyzeExpr(p.where, columns) : undefined;
  const exprs = p.exprs.map((e) => analyzeExpr(e, columns));
  // rows that must be asked for (other coordinators') are asked only once the statement checked
  const source = typeof all === 'function' ? await all() : all;
  const rows: SqlValue[][] = [];
  for (const r of source) {
    if (filter && !isTrue(filter.evaluate(r))) continue;
    rows.push(exprs.map((e) => e.evaluate(r)));
  }
  let out: SqlValue[][];
  if (agg) {
    const groups = new Aggregation(agg, maxRows);
    groups.add(rows);
    out = groups.rows();
  } else out = finish(rows, p, stmt);
  if (maxRows > 0 && out.length > maxRows) throw tooManyRows(maxRows, out.length);
  sink.header(p.columns, format);
  if (out.length > 0) await sink.rows(out);
  return { rows: out.length };
}

function coordinatorRows(ctx: StatementContext): SqlValue[][] {
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  return ctx.membership.coordinators().map((c) => {
    const self = ctx.self?.id === c.id ? ctx.self : undefined;
    const started = Math.floor(Date.parse(str(c.started_at)) / 1000);
    return [
      c.id,
      str(c.address),
      str(c.mysql_address),
      str(c.http_address),
      str(c.version),
      Number.isFinite(started) ? started : 0,
      self && !self.live ? 0 : 1,
      self ? self.statementsRunning : num(c.statements_running),
      num(c.server_id),
    ];
  });
}

function clusterRows(ctx: StatementContext): SqlValue[][] {
  const rows: SqlValue[][] = [];
  for (const cluster of ctx.membership.clusters()) {
    for (const n of ctx.membership.nodes(cluster)) rows.push([cluster, n.nodeId, n.host, n.port, n.active ? 1 : 0]);
  }
  return rows;
}

function killQueueRows(ctx: StatementContext): SqlValue[][] {
  return ctx.membership
    .killQueue()
    .sort((a, b) => a.intent.created_at - b.intent.created_at)
    .map(({ intent, applied }) => {
      const verdict = ctx.killQueue.check(intent);
      // the view holds whatever JSON is under the key: a forged intent need not even be well typed
      const str = (v: unknown): string => (typeof v === 'string' ? v : '');
      const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
      const nodes = Array.isArray(intent.nodes) ? intent.nodes.map(str).join(',') : '';
      const row: SqlValue[] = [str(intent.id), str(intent.cluster), str(intent.where), str(intent.user), num(intent.created_at), num(intent.expires_at), nodes, applied];
      return [...row, verdict.ok ? 'pending' : 'invalid', verdict.ok ? '' : verdict.reason];
    });
}

function killPolicyRows(ctx: StatementContext): SqlValue[][] {
  return ctx.membership
    .killPolicies()
    .map((p) => {
      // an unsigned or altered record is shown, as what an etcd writer put there, but never as running
      const verdict = ctx.policies.check(p);
      const state = !verdict.ok ? 'invalid' : p.suspended ? 'suspended' : 'active';
      return [p.cluster, p.name, p.condition, p.action, p.every_s, p.limit, p.dry_run ? 1 : 0, p.creator, p.created, state, p.suspended?.reason ?? '', verdict.ok ? '' : verdict.reason, renderOrderKeys(p.order_by ?? []), p.escalate_after_s, p.reason];
    });
}

export async function select(stmt: SelectStatement, ctx: StatementContext, sink: ResultSink, local?: SqlValue[][]): Promise<StatementOutcome> {
  const from = stmt.from;
  if (from.kind === 'table' && from.name === 'system.clusters') return localRows(stmt, ctx, sink, CLUSTERS_COLUMNS, clusterRows(ctx));
  if (from.kind === 'table' && from.name === 'system.coordinators') return localRows(stmt, ctx, sink, COORDINATORS_COLUMNS, coordinatorRows(ctx));
  if (from.kind === 'table' && from.name === 'system.kill_queue') return localRows(stmt, ctx, sink, KILL_QUEUE_COLUMNS, killQueueRows(ctx));
  if (from.kind === 'table' && from.name === 'system.kill_policies') return localRows(stmt, ctx, sink, KILL_POLICIES_COLUMNS, killPolicyRows(ctx));
  if (from.kind === 'table' && from.name === 'system.sessions') {
    let missing: readonly string[] = [];
    const outcome = await localRows(stmt, ctx, sink, SESSIONS_COLUMNS, async () => {
      const every = await everyCoordinatorsSessions(ctx);
      missing = every.missing;
      return sessionsTableRows(every.sessions);
    });
    for (const m of missing) sink.warn(`no sessions from ${m}`);
    return outcome;
  }
  if (from.kind === 'table' && from.name === 'system.one') return localRows(stmt, ctx, sink, [{ name: 'dummy', type: 'UInt8' }], [[0]]);
  const table = findAgentTable(from.name);
  if (!table) throw chError('UNKNOWN_TABLE', `Table ${from.name} doesn't exist`);
  return selectFromAgents(stmt, table, from.kind === 'cluster' ? from.cluster : undefined, ctx, sink, local);
}

/**
 * MariaDB's SHOW [FULL] PROCESSLIST over every node's connections: MariaDB's columns, Info cut
 * to 100 characters without FULL.
 */
function processlistTemplate(full: boolean): SelectStatement {
  const info = full ? 'INFO' : 'substring(INFO, 1, 100)';
  const sql =
    'SELECT ID AS Id, USER AS `User`, HOST AS Host, DB AS db, COMMAND AS Command, TIME AS `Time`, STATE AS State, ' +
    `${info} AS Info, PROGRESS AS Progress FROM clusterAllReplicas('-', information_schema.PROCESSLIST) ORDER BY Id`;
  return parseStatement(sql) as SelectStatement;
}

// parsed once at start-up; each statement only names its cluster
const PROCESSLIST = { short: processlistTemplate(false), full: processlistTemplate(true) };

function mariadbProcesslist(cluster: string, full: boolean): SelectStatement {
  const template = full ? PROCESSLIST.full : PROCESSLIST.short;
  return { ...template, from: { kind: 'cluster', cluster, name: template.from.name, pos: 0 } };
}

/**
 * The MySQL door sessions of every coordinator as information_schema.PROCESSLIST rows, as
 * MariaDB lists its own clients (the viewer's rights were applied where they were listed). The
 * node columns name the coordinator.
 */
function processlistRows(sessions: readonly CoordinatorSession[]): SqlValue[][] {
  const rows: SqlValue[][] = [];
  for (const { coordinatorId, address, session: p } of sessions) {
    if (p.door !== 'mysql') continue;
    const { host, port } = splitAddress(address);
    const info = p.info === '' ? null : p.info;
    const ms = Number(p.time_ms);
    // ID USER HOST DB COMMAND TIME STATE INFO TIME_MS STAGE MAX_STAGE PROGRESS MEMORY_USED MAX_MEMORY_USED EXAMINED_ROWS QUERY_ID INFO_BINARY TID, host port node_id
    rows.push([p.id, p.user, p.host, p.db === '' ? null : p.db, p.command, Math.floor(ms / 1000), p.command === 'Query' ? 'executing' : '', info, ms, 0, 0, 0, 0, 0, 0, 0, info, p.id, host, port, coordinatorId]);
  }
  return rows;
}

/** system.sessions: every coordinator's door sessions and door statements (SESSIONS_COLUMNS). */
function sessionsTableRows(sessions: readonly CoordinatorSession[]): SqlValue[][] {
  return sessions.map(({ coordinatorId, session: p }) => [coordinatorId, p.id, p.door, p.user, p.host, p.db, p.command, Number(p.time_ms) / 1000, p.query_id, p.info]);
}

/** SHOW PROCESSLIST [ON CLUSTER c] is SELECT * FROM the cluster's system.processes. */
export async function showProcesslist(stmt: ShowProcesslistStatement, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  const bare = !stmt.full && stmt.cluster === undefined && stmt.format === undefined;
  if (bare && ctx.dialect === undefined) {
    // the one statement the session's dialect decides, and the session named none (or one unknown here)
    throw chError('BAD_ARGUMENTS', 'A bare SHOW PROCESSLIST reads system.processes (ClickHouse) or the connections (MariaDB) by the session\'s dialect, and ExecuteRequest.dialect is unspecified: set it to DIALECT_CLICKHOUSE or DIALECT_MARIADB');
  }
  const mariadb = stmt.full || (ctx.dialect === 'mariadb' && bare);
  // the MariaDB form lists the door sessions of every coordinator with the nodes' connections
  if (mariadb) {
    // a FORMAT or a cluster nobody knows fails before the other coordinators are asked
    checkFormat(stmt);
    const cluster = resolveCluster(ctx, stmt.cluster);
    const { sessions, missing } = await everyCoordinatorsSessions(ctx);
    for (const m of missing) sink.warn(`no sessions from ${m}`);
    return select({ ...mariadbProcesslist(cluster, stmt.full), settings: stmt.settings, format: stmt.format }, ctx, sink, processlistRows(sessions));
  }
  const asSelect: SelectStatement = {
    kind: 'select',
    items: [{ text: '*' }],
    from: { kind: 'cluster', cluster: stmt.cluster ?? ctx.defaultCluster, name: 'system.processes', pos: 0 },
    orderBy: [],
    settings: stmt.settings,
    format: stmt.format,
  };
  return select(asSelect, ctx, sink);
}
