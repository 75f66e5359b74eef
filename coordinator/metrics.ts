import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Statement } from '../sql/ast';
import type { ListWatchState } from '../common/etcd/list-watch';
import { daemonRegistry, type OwnCertificate } from '../common/daemon/metrics-server';
import { ServerCallMetrics } from '../common/grpc/rpc-metrics';
import type { ClusterMembership, MemberNode } from './cluster/membership';
import type { ClockOffsets } from './cluster/clock-offsets';

/** What a running statement reports as it goes; the fan-out calls it. */
export interface StatementMetrics {
  /** a member that did not take the statement: node_inactive, node_unreachable, node_timeout or node_error */
  nodeMissed(nodeId: string, status: string): void;
}

/** The label a statement is counted under; `unknown` before it parsed (a failed login, a syntax error). */
export function metricKind(stmt: Statement | undefined): string {
  switch (stmt?.kind) {
    case 'kill':
      return `kill_${stmt.target.toLowerCase()}`;
    case 'select':
      return 'select';
    case 'showProcesslist':
      return 'show_processlist';
    case 'mysqlKill':
      return 'mariadb_kill';
    case 'createKillPolicy':
      return 'create_kill_policy';
    case 'dropKillPolicy':
      return 'drop_kill_policy';
    case undefined:
      return 'unknown';
  }
}

/** Statement latencies from a TEST kill on a warm channel to a SYNC kill that waits out its timeout. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The coordinator's Prometheus metrics, one registry per daemon. Counters are moved at a few
 * points of the statement path; membership gauges are read from the in-memory view at scrape
 * time.
 */
export class CoordinatorMetrics implements StatementMetrics {
  readonly registry: Registry;
  private readonly statements: Counter<'kind' | 'outcome'>;
  private readonly errors: Counter<'kind' | 'error'>;
  private readonly duration: Histogram<'kind'>;
  private readonly kills: Counter<'kind' | 'kill_status'>;
  private readonly nodeFailures: Counter<'kind' | 'node'>;
  private readonly relists: Counter;

  /**
   * `calls`: the gRPC server's per-RPC counts (grpc_server_handled_total), made with the server
   * before these metrics; a registry without a server counts none but exports them all the same.
   */
  constructor(membership: ClusterMembership, serving: () => boolean, clocks?: ClockOffsets, calls: ServerCallMetrics = new ServerCallMetrics(), ownCertificate?: OwnCertificate) {
    const registers = [(this.registry = daemonRegistry(serving, ownCertificate))];
    calls.register(this.registry);
    this.statements = new Counter({
      name: 'quell_statements_total',
      help: 'Statements finished, by kind and outcome (ok, error, cancelled by the client)',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.errors = new Counter({
      name: 'quell_statement_errors_total',
      help: 'Statements that ended in an error, by kind and error name (ClickHouse names, e.g. ACCESS_DENIED)',
      labelNames: ['kind', 'error'],
      registers,
    });
    this.duration = new Histogram({
      name: 'quell_statement_duration_seconds',
      help: 'Statement duration from arrival to the last row, by kind',
      labelNames: ['kind'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.kills = new Counter({
      name: 'quell_kill_rows_total',
      help: 'Kill results by statement kind and kill_status: the rows of KILL QUERY and KILL MUTATION (node rows included); for the MariaDB form, processes killed (killed)',
      labelNames: ['kind', 'kill_status'],
      registers,
    });
    this.nodeFailures = new Counter({
      name: 'quell_node_failures_total',
      help: 'Member nodes that did not take a statement, by kind (node_inactive, node_unreachable, node_timeout, node_error) and node',
      labelNames: ['kind', 'node'],
      registers,
    });
    this.relists = new Counter({
      name: 'quell_etcd_relists_total',
      help: 'Times the membership view listed etcd again after a watch broke (compaction, error, disconnect)',
      registers,
    });
    new Gauge({
      name: 'quell_etcd_view_watching',
      help: '1 while the membership view follows etcd, 0 while it is cut off and retrying',
      registers,
      collect() {
        this.set(membership.viewState === 'watching' ? 1 : 0);
      },
    });
    const perCluster = (gauge: Gauge<'cluster'>, count: (nodes: readonly MemberNode[]) => number): void => {
      gauge.reset();
      for (const cluster of membership.clusters()) gauge.set({ cluster }, count(membership.nodes(cluster)));
    };
    new Gauge({
      name: 'quell_cluster_members',
      help: 'Member nodes per cluster',
      labelNames: ['cluster'],
      registers,
      collect() {
        perCluster(this, (nodes) => nodes.length);
      },
    });
    new Gauge({
      name: 'quell_cluster_live_members',
      help: 'Member nodes per cluster that hold a live lease',
      labelNames: ['cluster'],
      registers,
      collect() {
        perCluster(this, (nodes) => nodes.filter((n) => n.active).length);
      },
    });
    new Gauge({
      name: 'quell_clock_offset_seconds',
      help: "Each live agent's clock minus the coordinator's, measured with Info (best recent round trip); an agent ahead by more than distributed_ddl_task_timeout refuses every kill",
      labelNames: ['node_id'],
      registers,
      collect() {
        this.reset();
        for (const [nodeId, o] of clocks?.offsets() ?? []) this.set({ node_id: nodeId }, o.offsetMs / 1000);
      },
    });
    // the first listing is the start, not a re-list (the view may be listed already)
    let listed = membership.viewState !== 'idle';
    membership.onViewState((state: ListWatchState) => {
      if (state !== 'listing') return;
      if (listed) this.relists.inc();
      listed = true;
    });
  }

  /** A statement ended; `statuses` are its kill statuses as its summary counted them when its rows went out. */
  statementDone(kind: string, error: string | undefined, cancelled: boolean, seconds: number, statuses: ReadonlyMap<string, number>): void {
    this.statements.inc({ kind, outcome: cancelled ? 'cancelled' : error ? 'error' : 'ok' });
    if (error) this.errors.inc({ kind, error });
    this.duration.observe({ kind }, seconds);
    for (const [status, n] of statuses) this.kills.inc({ kind, kill_status: status }, n);
  }

  nodeMissed(nodeId: string, status: string): void {
    this.nodeFailures.inc({ kind: status, node: nodeId });
  }
}
