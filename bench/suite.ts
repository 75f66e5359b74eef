import { performance } from 'node:perf_hooks';
import type { QuellClient, QueryResult } from '../client/coordinator-client';
import type { WorkloadSession, RunningProcess } from '../client/workload-client';
import { identities } from '../common/tls/identity';
import { TransportSecurity, type TlsOptions } from '../common/tls';
import { FilterCache } from '../node-agent/tables/filter-cache';
import { processResolver } from '../node-agent/tables/process-columns';
import { ProcessTable } from '../node-agent/tables/process-table';
import type { NodeIdentity } from '../node-agent/presence/node-identity';
import { quellProto } from '../proto/load';
import { CHANNEL_OPTIONS } from '../common/grpc/channel-options';
import type { KillResponse__Output } from '../proto/generated/quell/v1/KillResponse';
import type { Child } from '../common/daemon/child-processes';
import { BenchCluster, hostGroups, type AgentRef, type ClusterSpec } from './cluster';
import { percentile } from './stats';
import { cpuMs, rssMiB, sleep } from './system';
import { targetsFor, type Target } from './targets';
import { CpuMeter, Recorder, sample, timed, type Plan } from './measure';
import { measurePoint, type BesideSeries, type FloorSeries } from './async-point';
import { FloorClient, startFloorServers } from './floor';
import { column, NODE_ID_COLUMN, STATUS_COLUMN } from './result-columns';
import { cliStart } from './cli-start';
import { DiskFloor } from './disk-floor';
import { errorText } from '../errors/error-text';
import { derive, derivedKeys } from './ratios';
import { evalContext } from '../sql/compile';

/**
 * The benchmark matrix (issues 6 and 14). Every measurement goes through real processes on
 * loopback (etcd, coordinator, agents) except `where_filter_*`, which times the agent's
 * compiled WHERE (node-agent/filter-cache + process-columns) over an in-memory ProcessTable in
 * this process. Where the matrix has a raw grpc-js floor (floor.ts), it is measured on the
 * same cluster size, its rounds interleaved with quell's. runBench() is what `npm run bench`
 * runs and what the integration test runs with tiny counts.
 */

export interface BenchConfig {
  readonly quick: boolean;
  /** `KILL QUERY … ASYNC` latency is measured for each of these cluster sizes */
  readonly agentCounts: readonly number[];
  /** the cluster size for SYNC, SELECT, throughput, coordinator memory, join and crash */
  readonly mainAgents: number;
  /** the cluster size whose agent (n1, a separate `quell agent`) gets the bulk processes */
  readonly bulkAgents: number;
  /** the sequential baseline runs on the clusters of these sizes */
  readonly baselineNodeCounts: readonly number[];
  /** up to this many agents, each is its own `quell agent` process; beyond, agent hosts */
  readonly processAgentsUpTo: number;
  readonly agentsPerHost: number;
  /** the raw grpc-js floor (per-call and stream) is measured at these sizes (each in agentCounts) */
  readonly floorNodeCounts: readonly number[];
  /** ASYNC and floor samples are taken in this many interleaved rounds */
  readonly rounds: number;
  readonly processesPerAgent: number;
  readonly warmup: number;
  readonly iterations: number;
  /** clusters of at least `largeFrom` agents use the `large*` counts */
  readonly largeFrom: number;
  readonly warmupLarge: number;
  readonly iterationsLarge: number;
  readonly warmupLargeBudgetMs: number;
  readonly measureLargeBudgetMs: number;
  /** clusters of at least `hugeFrom` agents (the 1,000 point) use the `huge*` counts and host size */
  readonly hugeFrom: number;
  readonly agentsPerHostHuge: number;
  readonly warmupHuge: number;
  readonly iterationsHuge: number;
  readonly warmupHugeBudgetMs: number;
  readonly measureHugeBudgetMs: number;
  readonly syncIterations: number;
  readonly syncProcessesPerAgent: number;
  readonly clients: number;
  readonly throughputWarmup: number;
  /** statements the coordinator runs between its two RSS readings (throughput is timed on them) */
  readonly coordinatorStatements: number;
  readonly bulkProcesses: number;
  readonly whereIterations: number;
  readonly bulkStatementIterations: number;
  readonly joinRepetitions: number;
  /** `quell client -q` process runs (each alternating with an empty `node -e 0`) */
  readonly cliRuns: number;
  /** the last `crashRepetitions` joins end in SIGKILL instead of SIGTERM */
  readonly crashRepetitions: number;
  readonly joinLeaseTtlSeconds: number;
  readonly baselineIterations: number;
  readonly baselineIterationsLarge: number;
  /** the warm-up before the main cluster's ASYNC latency (the headline numbers) */
  readonly mainWarmup: number;
  readonly mainWarmupBudgetMs: number;
  /** each warm-up stops at its count or after this long */
  readonly warmupBudgetMs: number;
  /** each measurement stops at its count or after this long (at least three samples) */
  readonly measureBudgetMs: number;
  /** the throughput run stops at `coordinatorStatements` or after this long */
  readonly throughputBudgetMs: number;
  readonly profileDir?: string;
  /** progress lines (stderr in the CLI) */
  readonly log?: (line: string) => void;
}

export function quickConfig(): BenchConfig {
  return {
    quick: true,
    agentCounts: [1, 3, 10, 50, 100, 1_000],
    mainAgents: 3,
    bulkAgents: 1,
    baselineNodeCounts: [3, 100],
    processAgentsUpTo: 3,
    agentsPerHost: 50,
    floorNodeCounts: [3, 100, 1_000],
    rounds: 5,
    processesPerAgent: 2,
    warmup: 1_000,
    iterations: 1_000,
    largeFrom: 100,
    warmupLarge: 300,
    iterationsLarge: 300,
    warmupLargeBudgetMs: 4_000,
    measureLargeBudgetMs: 3_000,
    hugeFrom: 1_000,
    agentsPerHostHuge: 125,
    warmupHuge: 50,
    iterationsHuge: 100,
    warmupHugeBudgetMs: 3_000,
    measureHugeBudgetMs: 8_000,
    syncIterations: 300,
    syncProcessesPerAgent: 2,
    clients: 32,
    throughputWarmup: 2_000,
    coordinatorStatements: 20_000,
    bulkProcesses: 100_000,
    whereIterations: 50,
    bulkStatementIterations: 30,
    joinRepetitions: 3,
    cliRuns: 20,
    crashRepetitions: 1,
    joinLeaseTtlSeconds: 2,
    baselineIterations: 200,
    baselineIterationsLarge: 20,
    mainWarmup: 4_000,
    mainWarmupBudgetMs: 8_000,
    warmupBudgetMs: 1_200,
    measureBudgetMs: 2_000,
    throughputBudgetMs: 6_000,
  };
}

export function fullConfig(): BenchConfig {
  return {
    ...quickConfig(),
    quick: false,
    warmup: 2_000,
    iterations: 3_000,
    largeFrom: 50,
    warmupLarge: 1_000,
    iterationsLarge: 1_000,
    warmupLargeBudgetMs: 120_000,
    measureLargeBudgetMs: 120_000,
    warmupHuge: 200,
    iterationsHuge: 500,
    warmupHugeBudgetMs: 60_000,
    measureHugeBudgetMs: 120_000,
    syncIterations: 2_000,
    throughputWarmup: 5_000,
    coordinatorStatements: 100_000,
    whereIterations: 200,
    bulkStatementIterations: 200,
    joinRepetitions: 10,
    cliRuns: 50,
    crashRepetitions: 3,
    joinLeaseTtlSeconds: 5,
    baselineIterations: 1_000,
    baselineIterationsLarge: 100,
    mainWarmup: 10_000,
    mainWarmupBudgetMs: 120_000,
    warmupBudgetMs: 60_000,
    measureBudgetMs: 120_000,
    throughputBudgetMs: 600_000,
  };
}

/**
 * The matrix at these cluster sizes only (`npm run bench -- --agents 3,100`): a quicker run of the
 * points under study, each measured as the whole matrix measures it. The main cluster's metrics
 * come only when its size is kept.
 */
export function withAgents(c: BenchConfig, counts: readonly number[]): BenchConfig {
  const unknown = counts.filter((n) => !c.agentCounts.includes(n));
  if (unknown.length > 0) throw new Error(`--agents: ${unknown.join(', ')} not in the matrix (${c.agentCounts.join(', ')})`);
  const keep = (ns: readonly number[]): number[] => ns.filter((n) => counts.includes(n));
  return { ...c, agentCounts: keep(c.agentCounts), floorNodeCounts: keep(c.floorNodeCounts), baselineNodeCounts: keep(c.baselineNodeCounts) };
}

/** A few seconds' worth of everything: keeps the harness working (test/integration/bench-harness). */
export function tinyConfig(): BenchConfig {
  return {
    quick: true,
    agentCounts: [1, 3, 5],
    mainAgents: 3,
    bulkAgents: 1,
    baselineNodeCounts: [3, 5],
    processAgentsUpTo: 3,
    agentsPerHost: 2,
    // 3: one floor server per process; 5: packed as the agents are (hosts of 2, 2 and 1)
    floorNodeCounts: [3, 5],
    rounds: 2,
    processesPerAgent: 1,
    warmup: 5,
    iterations: 10,
    largeFrom: 5,
    warmupLarge: 3,
    iterationsLarge: 5,
    warmupLargeBudgetMs: 500,
    measureLargeBudgetMs: 1_000,
    // the 1,000 point's path (its host size and counts) at 5 agents
    hugeFrom: 5,
    agentsPerHostHuge: 2,
    warmupHuge: 3,
    iterationsHuge: 6,
    warmupHugeBudgetMs: 500,
    measureHugeBudgetMs: 1_000,
    syncIterations: 5,
    syncProcessesPerAgent: 1,
    clients: 4,
    throughputWarmup: 10,
    coordinatorStatements: 50,
    bulkProcesses: 2_000,
    whereIterations: 3,
    bulkStatementIterations: 3,
    joinRepetitions: 1,
    cliRuns: 2,
    crashRepetitions: 1,
    joinLeaseTtlSeconds: 2,
    baselineIterations: 3,
    baselineIterationsLarge: 2,
    mainWarmup: 10,
    mainWarmupBudgetMs: 1_000,
    warmupBudgetMs: 500,
    measureBudgetMs: 1_000,
    throughputBudgetMs: 1_000,
  };
}

/** 100000 → '100k', 2500 → '2500'. */
export function countLabel(n: number): string {
  return n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

/** Every metric a run with this configuration writes, in table order. */
export function metricKeys(c: BenchConfig): string[] {
  const keys: string[] = [];
  const bulk = countLabel(c.bulkProcesses);
  keys.push(`where_filter_${bulk}_processes_p50_ms`, `where_filter_${bulk}_processes_p99_ms`);
  for (const n of c.agentCounts) {
    keys.push(
      `kill_async_${n}_agents_p50_ms`, `kill_async_${n}_agents_p99_ms`, `kill_async_${n}_agents_coordinator_cpu_us`, `kill_async_${n}_agents_agents_cpu_us`,
      `kill_async_${n}_agents_coordinator_wakeups`, `kill_async_${n}_agents_agents_wakeups`, `kill_async_${n}_agents_missing_nodes`,
    );
    if (n >= c.largeFrom) keys.push(`coordinator_rss_${n}_agents_idle_mb`, `coordinator_rss_${n}_agents_mb`);
    if (c.floorNodeCounts.includes(n)) {
      keys.push(
        `floor_percall_${n}_nodes_p50_ms`, `floor_percall_${n}_nodes_p99_ms`, `floor_percall_${n}_nodes_cpu_us`,
        `floor_stream_${n}_nodes_p50_ms`, `floor_stream_${n}_nodes_p99_ms`, `floor_stream_${n}_nodes_cpu_us`, `floor_percall_${n}_nodes_wakeups`, `floor_stream_${n}_nodes_wakeups`,
        `kill_async_${n}_agents_vs_percall_floor_ratio`, `kill_async_${n}_agents_vs_stream_floor_ratio`,
      );
    }
    if (n === c.bulkAgents) {
      keys.push('agent_rss_idle_mb', `agent_rss_${bulk}_processes_mb`, `kill_test_${bulk}_processes_p50_ms`, `kill_test_${bulk}_processes_p99_ms`);
    }
    if (n === c.mainAgents) {
      keys.push(
        `kill_async_${n}_agents_no_match_p50_ms`, `kill_async_${n}_agents_no_match_p99_ms`, 'kill_log_fdatasync_p50_ms', 'kill_log_fdatasync_p99_ms',
        `select_processes_${n}_agents_p50_ms`, `select_processes_${n}_agents_p99_ms`,
        `kill_sync_${n}_agents_all_finished_p50_ms`, `kill_sync_${n}_agents_all_finished_p99_ms`,
        `mariadb_kill_id_${n}_agents_p50_ms`, `mariadb_kill_id_${n}_agents_p99_ms`,
        `mariadb_kill_user_${n}_agents_p50_ms`, `mariadb_kill_user_${n}_agents_p99_ms`,
        `throughput_${n}_agents_${c.clients}_clients_statements_per_s`,
        'throughput_coordinator_cpu_us', 'throughput_agents_cpu_us', 'throughput_bench_clients_cpu_us',
        'coordinator_statements', 'coordinator_rss_before_mb', 'coordinator_rss_after_mb',
        'cli_client_query_p50_ms', 'cli_client_query_p99_ms', 'cli_client_query_mean_ms', 'cli_client_query_sd_ms', 'node_empty_process_p50_ms', 'node_empty_process_p99_ms',
        'join_visible_p50_ms', 'join_visible_max_ms', 'join_ready_line_p50_ms',
        'crash_lease_ttl_s', 'crash_to_node_inactive_p50_ms', 'crash_to_node_inactive_max_ms',
      );
    }
    if (c.baselineNodeCounts.includes(n)) {
      keys.push(`baseline_sequential_${n}_nodes_p50_ms`, `baseline_sequential_${n}_nodes_p99_ms`, `kill_async_vs_baseline_${n}_nodes_ratio`);
    }
  }
  keys.push(...derivedKeys(c.mainAgents, c.floorNodeCounts, c.agentCounts));
  return keys;
}

export interface BenchResult {
  readonly metrics: Record<string, number>;
  /** metric → unit, for the table */
  readonly units: Record<string, string>;
  /** metric → what it measures, for the table */
  readonly notes: Record<string, string>;
  readonly targets: Target[];
}

/** kill_status of the rows of one node. */
function statusesOf(r: QueryResult, nodeId: string): string[] {
  const node = column(r, NODE_ID_COLUMN);
  const status = column(r, STATUS_COLUMN);
  return r.rows.filter((row) => row[node] === nodeId).map((row) => String(row[status]));
}

function latency(client: QuellClient, sql: string, plan: Plan, onMeasureStart?: () => void): Promise<number[]> {
  return sample(plan, () => timed(() => client.query(sql)), onMeasureStart);
}

/** Runs the whole matrix; every process and temporary directory it made is gone when it returns. */
export async function runBench(c: BenchConfig): Promise<BenchResult> {
  const rec = new Recorder();
  const log = c.log ?? (() => undefined);
  const bulk = countLabel(c.bulkProcesses);
  if (Number.isNaN(cpuMs(process.pid))) log('CPU figures will be missing: /proc/<pid>/task/*/schedstat cannot be read on this machine');

  log(`WHERE filter over ${c.bulkProcesses} processes (in process)`);
  rec.samples(
    `where_filter_${bulk}_processes`,
    await whereFilter(c.bulkProcesses, { warmup: Math.max(3, c.whereIterations / 5), warmupBudgetMs: c.warmupBudgetMs, iterations: c.whereIterations, budgetMs: c.measureBudgetMs }),
    'compiled WHERE (filter-cache + process-columns) over an in-memory table, in the bench process',
  );

  for (const n of c.floorNodeCounts) {
    if (!c.agentCounts.includes(n)) throw new Error(`floorNodeCounts: ${n} is not in agentCounts`);
  }

  for (const n of c.agentCounts) {
    const large = n >= c.largeFrom;
    log(`cluster of ${n} agents`);
    const spec: ClusterSpec = {
      cluster: `b${n}`,
      agents: n,
      processAgentsUpTo: c.processAgentsUpTo,
      agentsPerHost: n >= c.hugeFrom ? c.agentsPerHostHuge : c.agentsPerHost,
      processesPerAgent: c.processesPerAgent,
      profileDir: c.profileDir,
    };
    const t0 = performance.now();
    const cluster = await BenchCluster.start(spec);
    log(`  started in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const client = cluster.client();
    try {
      if (large) rec.set(`coordinator_rss_${n}_agents_idle_mb`, rssMiB(cluster.coordinatorPid), 'MiB', 'coordinator VmRSS once every agent is active, before any statement');
      await asyncPoint(c, spec, cluster, client, rec, log);
      if (large) rec.set(`coordinator_rss_${n}_agents_mb`, rssMiB(cluster.coordinatorPid), 'MiB', 'coordinator VmRSS after the ASYNC measurement');

      if (n === c.bulkAgents) await bulkMetrics(c, cluster, client, rec, log);
      if (n === c.mainAgents) await mainMetrics(c, cluster, client, rec, log);
      if (c.baselineNodeCounts.includes(n)) {
        log('  sequential baseline');
        const iterations = large ? c.baselineIterationsLarge : c.baselineIterations;
        const base = await baseline(cluster.agents, cluster.coordinatorTls, { warmup: Math.max(2, Math.ceil(iterations / 10)), warmupBudgetMs: c.warmupBudgetMs, iterations, budgetMs: c.measureBudgetMs });
        rec.samples(`baseline_sequential_${n}_nodes`, base, 'fresh gRPC client per node, Kill RPCs one after another');
        const quell = rec.metrics[`kill_async_${n}_agents_p50_ms`] ?? NaN;
        rec.set(`kill_async_vs_baseline_${n}_nodes_ratio`, quell / percentile(base, 50), '×', 'quell ASYNC p50 / baseline p50');
      }
    } catch (err) {
      throw withDiagnostics(err, cluster);
    } finally {
      client.close();
      await cluster.stop();
    }
  }
  for (const d of derive(rec.metrics, c.mainAgents, c.floorNodeCounts, c.agentCounts)) rec.set(d.name, d.value, d.unit, d.note);
  return { metrics: rec.metrics, units: rec.units, notes: rec.notes, targets: targetsFor(c.joinLeaseTtlSeconds, bulk, c.agentCounts) };
}

/** The samples of one cluster size: the headline size, large ones and the 1,000 point have their own. */
function pointPlan(c: BenchConfig, n: number): Plan {
  if (n === c.mainAgents) return { warmup: c.mainWarmup, warmupBudgetMs: c.mainWarmupBudgetMs, iterations: c.iterations, budgetMs: c.measureBudgetMs };
  if (n >= c.hugeFrom) return { warmup: c.warmupHuge, warmupBudgetMs: c.warmupHugeBudgetMs, iterations: c.iterationsHuge, budgetMs: c.measureHugeBudgetMs };
  if (n >= c.largeFrom) return { warmup: c.warmupLarge, warmupBudgetMs: c.warmupLargeBudgetMs, iterations: c.iterationsLarge, budgetMs: c.measureLargeBudgetMs };
  return { warmup: c.warmup, warmupBudgetMs: c.warmupBudgetMs, iterations: c.iterations, budgetMs: c.measureBudgetMs };
}

/**
 * ASYNC latency and CPU at one cluster size, every result checked for missing nodes, and
 * where the matrix asks for it the raw grpc-js floor on servers packed as the agents are.
 */
async function asyncPoint(c: BenchConfig, spec: ClusterSpec, cluster: BenchCluster, client: QuellClient, rec: Recorder, log: (l: string) => void): Promise<void> {
  const n = spec.agents;
  const sql = `KILL QUERY ON CLUSTER ${spec.cluster} WHERE user = 'etl' ASYNC`;
  const first = await client.query(sql);
  const expected = n * c.processesPerAgent;
  if (first.rows.length !== expected) throw new Error(`${sql}: expected ${expected} rows, got ${first.rows.length}`);
  const plan = pointPlan(c, n);
  const packing = n > c.processAgentsUpTo ? `agents in hosts of ≤ ${spec.agentsPerHost}` : 'one process per agent';

  // the main point measures the match budget's terms in its rounds: the same statement matching
  // nothing (no kill-log append, no cancel), and the disk's own append+fdatasync, which every
  // matching kill waits for on each agent
  const disk = n === c.mainAgents ? await DiskFloor.open() : undefined;
  let floor: FloorClient | undefined;
  if (c.floorNodeCounts.includes(n)) {
    log(`  raw grpc-js floor: ${n} echo servers (${n > c.processAgentsUpTo ? `in processes of ≤ ${spec.agentsPerHost}` : 'one process each'})`);
    const servers = await startFloorServers(cluster, hostGroups(spec));
    floor = await FloorClient.open(servers, cluster.coordinatorTls);
  }
  const beside: BesideSeries[] = disk
    ? [
        { name: 'no_match', warmup: c.warmup, once: () => client.query(`KILL QUERY ON CLUSTER ${spec.cluster} WHERE user = 'nobody' ASYNC`) },
        { name: 'fdatasync', warmup: 20, once: () => disk.append() },
      ]
    : [];
  const interleaved = [...(floor ? ['floor'] : []), ...beside.map((b) => b.name)];
  log(`  ASYNC latency${interleaved.length > 0 ? `, ${interleaved.join(', ')}` : ''} (≤ ${plan.iterations} samples in ≤ ${plan.budgetMs / 1000} s after ≤ ${plan.warmup} warm-up in ≤ ${plan.warmupBudgetMs / 1000} s${interleaved.length > 0 ? `, each; ${c.rounds} rounds` : ''})`);
  const point = await measurePoint({ client, sql, nodes: n, plan, rounds: c.rounds, coordinatorPid: cluster.coordinatorPid, agentPids: cluster.agents.map((a) => a.pid), floor, beside }).finally(async () => {
    floor?.close();
    await disk?.close();
  });
  const noMatch = point.beside.get('no_match');
  if (noMatch) rec.samples(`kill_async_${n}_agents_no_match`, noMatch, 'the same KILL matching nothing: no kill-log sync, no cancel (rounds interleaved)');
  const syncs = point.beside.get('fdatasync');
  if (syncs) rec.samples('kill_log_fdatasync', syncs, 'append+fdatasync of one kill-log line on the disk of the kill logs (os.tmpdir()), rounds interleaved');

  rec.samples(`kill_async_${n}_agents`, point.quell, packing);
  const perStatement = (ms: number): number => (ms * 1000) / point.quell.length;
  rec.set(`kill_async_${n}_agents_coordinator_cpu_us`, perStatement(point.coordinatorCpuMs), 'µs', 'coordinator CPU per statement (one at a time)');
  rec.set(`kill_async_${n}_agents_agents_cpu_us`, perStatement(point.agentsCpuMs), 'µs', 'CPU of all agent processes per statement');
  rec.set(`kill_async_${n}_agents_coordinator_wakeups`, point.coordinatorWakeups / point.quell.length, 'wake-ups', "times the coordinator's event loop woke per statement (its main thread's voluntary context switches)");
  rec.set(`kill_async_${n}_agents_agents_wakeups`, point.agentsWakeups / point.quell.length, 'wake-ups', "the same for every agent process's main thread together");
  rec.set(`kill_async_${n}_agents_missing_nodes`, point.missingNodes, 'nodes', `nodes without a process row, summed over the ${point.quell.length} measured results`);
  if (point.missingNodes > 0) log(`  MISSING NODES: ${point.missingNodes} node results missing over ${point.quell.length} statements`);
  if (point.floor) {
    const quellP50 = percentile(point.quell, 50);
    const record = (kind: 'percall' | 'stream', s: FloorSeries, what: string): void => {
      rec.samples(`floor_${kind}_${n}_nodes`, s.samples, what);
      rec.set(`floor_${kind}_${n}_nodes_cpu_us`, (s.cpuMs * 1000) / s.samples.length, 'µs', 'CPU of the dialing side (the bench process) per fan-out');
      rec.set(`floor_${kind}_${n}_nodes_wakeups`, s.wakeups / s.samples.length, 'wake-ups', "times the dialing side's event loop woke per fan-out");
      rec.set(`kill_async_${n}_agents_vs_${kind}_floor_ratio`, quellP50 / percentile(s.samples, 50), '×', `quell ASYNC p50 / ${kind} floor p50, same run, rounds interleaved`);
    };
    record('percall', point.floor.percall, 'raw grpc-js + TLS: one unary call per node, all at once');
    record('stream', point.floor.stream, 'raw grpc-js + TLS: one message per node on long-lived bidi streams');
  }
}

/** A failure inside a cluster, with what its coordinator said on the way out. */
function withDiagnostics(err: unknown, cluster: BenchCluster): Error {
  const message = errorText(err);
  const coordinator = cluster.coordinator;
  if (!coordinator) return new Error(message);
  const state = coordinator.proc.exitCode !== null || coordinator.proc.signalCode !== null ? `exited (${coordinator.proc.exitCode ?? coordinator.proc.signalCode})` : 'running';
  const tail = coordinator.stderr().trim().split('\n').slice(-10).join('\n');
  return new Error(`${message}\n  coordinator ${state}${tail ? `; its stderr ends:\n${tail}` : ''}`, { cause: err });
}

/** The agent's WHERE evaluation over `count` processes, as killQueries runs it. */
function whereFilter(count: number, plan: Plan): Promise<number[]> {
  const table = new ProcessTable();
  const owner: TableOwner = { sessionId: 1, cancel: () => undefined };
  for (let i = 0; i < count; i++) table.register(bulkRegistration(i), owner);
  const node: NodeIdentity = { nodeId: 'n1', host: '127.0.0.1', port: 9701, address: '127.0.0.1:9701', clusters: ['bench'] };
  const filters = new FilterCache(processResolver(node), evalContext(node.nodeId));
  const expected = expectedBulkMatches(count);
  return sample(plan, async () => {
    const t0 = performance.now();
    const filter = filters.get(BULK_WHERE);
    let n = 0;
    for (const e of table.values()) if (filter(e.row)) n++;
    const dt = performance.now() - t0;
    if (n !== expected) throw new Error(`WHERE matched ${n} of ${count}, expected ${expected}`);
    // let timers and I/O run between scans
    await new Promise((resolve) => setImmediate(resolve));
    return dt;
  });
}

/** Matches few: every bulk process passes the user test, about one in ten thousand the LIKE. */
const BULK_WHERE = "user = 'bulk' AND query_id LIKE '%4242'";

function expectedBulkMatches(count: number): number {
  let n = 0;
  for (let i = 0; i < count; i++) if (String(i).endsWith('4242')) n++;
  return n;
}

// derived from the table's own signature, so the bench follows the agent's types
type TableRegistration = Parameters<ProcessTable['register']>[0];
type TableOwner = Parameters<ProcessTable['register']>[1];

function bulkRegistration(i: number): TableRegistration {
  return {
    query_id: `bulk-${i}`,
    user: 'bulk',
    query: `SELECT count() FROM events WHERE session_id = ${i}`,
    initial_query_id: '',
    initial_user: '',
    address: '::ffff:127.0.0.1',
    port: 40_000 + (i % 20_000),
    client_hostname: 'localhost',
    client_name: 'quell bench',
    current_database: 'default',
    query_kind: 'Select',
    uncancellable: false,
    thread_id: 0,
  };
}

/** Agent n1 (a separate process) takes `bulkProcesses` processes: its RSS, and a TEST kill over them. */
async function bulkMetrics(c: BenchConfig, cluster: BenchCluster, client: QuellClient, rec: Recorder, log: (l: string) => void): Promise<void> {
  const agent = cluster.agents[0];
  if (!agent) throw new Error('no agent');
  const bulk = countLabel(c.bulkProcesses);
  rec.set('agent_rss_idle_mb', rssMiB(agent.pid), 'MiB', `agent ${agent.nodeId} with ${c.processesPerAgent} processes`);
  log(`  registering ${c.bulkProcesses} processes on ${agent.nodeId}`);
  const session = cluster.workloadSession(agent.address);
  try {
    const window = 2_000;
    for (let i = 0; i < c.bulkProcesses; i += window) {
      const batch: Promise<RunningProcess>[] = [];
      for (let k = i; k < Math.min(c.bulkProcesses, i + window); k++) batch.push(session.register(bulkRegistration(k)));
      await Promise.all(batch);
    }
    await sleep(500);
    rec.set(`agent_rss_${bulk}_processes_mb`, rssMiB(agent.pid), 'MiB', 'VmRSS of the agent process after registration');
    const sql = `KILL QUERY ON CLUSTER ${cluster.spec.cluster} WHERE ${BULK_WHERE} TEST`;
    const r = await client.query(sql);
    const expected = expectedBulkMatches(c.bulkProcesses);
    if (r.rows.length !== expected) throw new Error(`${sql}: expected ${expected} rows, got ${r.rows.length}`);
    log(`  KILL … TEST over ${c.bulkProcesses} processes`);
    const samples = await latency(client, sql, { warmup: Math.max(2, Math.ceil(c.bulkStatementIterations / 5)), warmupBudgetMs: c.warmupBudgetMs, iterations: c.bulkStatementIterations, budgetMs: c.measureBudgetMs });
    rec.samples(`kill_test_${bulk}_processes`, samples, 'whole statement through the coordinator, WHERE matching few');
  } finally {
    session.close();
  }
}

/** SELECT and SYNC latency, throughput and coordinator memory, join and crash on the main cluster. */
async function mainMetrics(c: BenchConfig, cluster: BenchCluster, client: QuellClient, rec: Recorder, log: (l: string) => void): Promise<void> {
  const n = c.mainAgents;
  const name = cluster.spec.cluster;
  log('  SELECT latency');
  const plan: Plan = { warmup: c.warmup, warmupBudgetMs: c.warmupBudgetMs, iterations: c.iterations, budgetMs: c.measureBudgetMs };
  rec.samples(`select_processes_${n}_agents`, await latency(client, `SELECT query_id, node_id FROM clusterAllReplicas('${name}', system.processes)`, plan));

  log('  MariaDB form: routed KILL <id>, cluster-wide KILL USER');
  await mariadbLatency(cluster, client, plan, rec, n);

  log('  SYNC until all finished');
  rec.samples(`kill_sync_${n}_agents_all_finished`, await syncLatency(c, cluster, client), `${c.syncProcessesPerAgent} fresh cooperative processes per agent each time`);

  log(`  throughput and coordinator memory (≤ ${c.coordinatorStatements} statements in ≤ ${c.throughputBudgetMs / 1000} s, ${c.clients} clients)`);
  const sql = `KILL QUERY ON CLUSTER ${name} WHERE user = 'etl' ASYNC`;
  const clients = Array.from({ length: c.clients }, () => cluster.client());
  try {
    await drive(clients, sql, c.throughputWarmup, c.warmupBudgetMs);
    const before = rssMiB(cluster.coordinatorPid);
    const coordinatorCpu = new CpuMeter([cluster.coordinatorPid]);
    const agentsCpu = new CpuMeter(cluster.agents.map((a) => a.pid));
    const benchCpu = new CpuMeter([process.pid]);
    for (const m of [coordinatorCpu, agentsCpu, benchCpu]) m.begin();
    const t0 = performance.now();
    const ran = await drive(clients, sql, c.coordinatorStatements, c.throughputBudgetMs);
    const elapsed = performance.now() - t0;
    for (const m of [coordinatorCpu, agentsCpu, benchCpu]) m.end();
    const perStatementUs = (ms: number): number => (ms * 1000) / ran;
    rec.set(`throughput_${n}_agents_${c.clients}_clients_statements_per_s`, ran / (elapsed / 1000), '/s', `${c.clients} clients in the bench process (one HTTP/2 connection); ASYNC kill of ${n * c.processesPerAgent} processes`);
    rec.set('throughput_coordinator_cpu_us', perStatementUs(coordinatorCpu.used()), 'µs', 'coordinator CPU (user + system) per statement');
    rec.set('throughput_agents_cpu_us', perStatementUs(agentsCpu.used()), 'µs', `all ${n} agents together`);
    rec.set('throughput_bench_clients_cpu_us', perStatementUs(benchCpu.used()), 'µs', 'the client side (this process)');
    await sleep(200);
    const after = rssMiB(cluster.coordinatorPid);
    rec.set('coordinator_statements', ran, 'statements', 'run between the two RSS readings');
    rec.set('coordinator_rss_before_mb', before, 'MiB', `after ${c.throughputWarmup} warm-up statements`);
    rec.set('coordinator_rss_after_mb', after, 'MiB');
  } finally {
    for (const cl of clients) cl.close();
  }

  log(`  quell client -q as a whole process (${c.cliRuns} runs)`);
  await cliMetrics(c, cluster, rec);

  log(`  join and crash (lease TTL ${c.joinLeaseTtlSeconds} s)`);
  await joinAndCrash(c, cluster, client, rec);
}

/** What an operator waits for: `quell client -q` from spawn to exit, beside an empty Node process. */
async function cliMetrics(c: BenchConfig, cluster: BenchCluster, rec: Recorder): Promise<void> {
  const sql = `KILL QUERY ON CLUSTER ${cluster.spec.cluster} WHERE user = 'etl' TEST`;
  const s = await cliStart(cluster.address, cluster.clientTls, sql, c.cliRuns);
  const mean = s.client.reduce((a, b) => a + b, 0) / s.client.length;
  const sd = Math.sqrt(s.client.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, s.client.length - 1));
  rec.samples('cli_client_query', s.client, `\`quell client -q '${sql}'\`, spawn → exit, TLS`);
  rec.set('cli_client_query_mean_ms', mean, 'ms');
  rec.set('cli_client_query_sd_ms', sd, 'ms');
  rec.samples('node_empty_process', s.node, '`node -e 0`, spawn → exit: the floor of any Node command');
}

/**
 * One connection per agent. After a first KILL QUERY interrupts each statement the connections
 * sit idle, so repeated KILL QUERY statements do the whole routing and checking but change
 * nothing: `KILL QUERY <id>` asks only the owning node, `KILL QUERY USER` asks every node twice
 * (the all-or-nothing check, then the kill).
 */
async function mariadbLatency(cluster: BenchCluster, client: QuellClient, plan: Plan, rec: Recorder, n: number): Promise<void> {
  const sims = cluster.agents.map((a) =>
    cluster.spawnSim(a.address, ['--connections', '1', '--user', 'bench_conn', '--host', 'localhost', '--db', 'shop']),
  );
  try {
    const started = await Promise.all(sims.map((s) => s.waitFor((e) => e.event === 'started', 30_000)));
    const id = Number(started[started.length - 1]?.thread_id);
    const mariadb = { dialect: 'mariadb' as const };
    await client.query('KILL QUERY USER bench_conn', mariadb);
    const once = (sql: string) => () => timed(() => client.query(sql, mariadb));
    rec.samples(`mariadb_kill_id_${n}_agents`, await sample(plan, once(`KILL QUERY ${id}`)), 'KILL QUERY <id>: the owning node only');
    rec.samples(`mariadb_kill_user_${n}_agents`, await sample(plan, once('KILL QUERY USER bench_conn')), 'KILL QUERY USER: every node, check then kill');
  } finally {
    await Promise.all(sims.map((s) => s.stop('SIGTERM', 2_000)));
  }
}

/** `clients` statements in flight until `total` have been issued or the budget is spent; returns how many ran. */
async function drive(clients: readonly QuellClient[], sql: string, total: number, budgetMs: number): Promise<number> {
  let issued = 0;
  const until = performance.now() + budgetMs;
  await Promise.all(
    clients.map(async (cl) => {
      while (issued < total && performance.now() < until) {
        issued++;
        await cl.query(sql);
      }
    }),
  );
  return issued;
}

/** SYNC kills of fresh cooperative processes (they end as soon as the cancel arrives). */
async function syncLatency(c: BenchConfig, cluster: BenchCluster, client: QuellClient): Promise<number[]> {
  const sessions = cluster.agents.map((a) => cluster.workloadSession(a.address));
  const sql = `KILL QUERY ON CLUSTER ${cluster.spec.cluster} WHERE user = 'synct' SYNC SETTINGS sync_kill_timeout = 5`;
  const expected = sessions.length * c.syncProcessesPerAgent;
  let round = 0;
  try {
    return await sample({ warmup: Math.max(2, Math.ceil(c.syncIterations / 3)), warmupBudgetMs: c.warmupBudgetMs, iterations: c.syncIterations, budgetMs: c.measureBudgetMs }, async () => {
      const i = round++;
      const registered = await Promise.all(
        sessions.flatMap((s, a) =>
          Array.from({ length: c.syncProcessesPerAgent }, (_, k) => s.register({ query_id: `sync-${i}-${a}-${k}`, user: 'synct', query: 'SELECT 1', client_name: 'quell bench' })),
        ),
      );
      for (const p of registered) p.signal.addEventListener('abort', () => p.end('cancelled'), { once: true });
      const t0 = performance.now();
      const r = await client.query(sql);
      const dt = performance.now() - t0;
      const status = column(r, STATUS_COLUMN);
      const finished = r.rows.filter((row) => row[status] === 'finished').length;
      if (finished !== expected) throw new Error(`${sql}: expected ${expected} finished rows, got ${finished} of ${r.rows.length}`);
      return dt;
    });
  } finally {
    for (const s of sessions) s.close();
  }
}

/**
 * Join: spawn a `quell agent` for a new node, register one process on it as soon as it is
 * ready, and run TEST statements until the node's row appears (time from spawn). Crash:
 * SIGKILL it and run statements until its row says node_inactive (time from the kill).
 */
async function joinAndCrash(c: BenchConfig, cluster: BenchCluster, client: QuellClient, rec: Recorder): Promise<void> {
  const nodeId = `n${cluster.agents.length + 1}`;
  const sql = `KILL QUERY ON CLUSTER ${cluster.spec.cluster} WHERE user = 'joiner' TEST`;
  const joins: number[] = [];
  const readies: number[] = [];
  const crashes: number[] = [];
  for (let rep = 0; rep < c.joinRepetitions; rep++) {
    const crash = rep >= c.joinRepetitions - c.crashRepetitions;
    const t0 = performance.now();
    const agent: Child = cluster.spawnAgent(nodeId, c.joinLeaseTtlSeconds);
    let session: WorkloadSession | undefined;
    try {
      const registered = agent.waitFor((e) => e.event === 'ready', 30_000).then(async (ready) => {
        readies.push(performance.now() - t0);
        session = cluster.workloadSession(String(ready.address));
        await session.register({ query_id: `joiner-${rep}`, user: 'joiner', query: 'SELECT sleep(3600)', client_name: 'quell bench' });
      });
      let failed: unknown;
      registered.catch((err: unknown) => (failed = err));
      const deadline = performance.now() + 30_000;
      for (;;) {
        if (failed) throw failed;
        const r = await client.query(sql);
        if (statusesOf(r, nodeId).includes('unknown_status')) break;
        if (performance.now() > deadline) throw new Error(`${nodeId} was not included within 30 s`);
        await sleep(2);
      }
      joins.push(performance.now() - t0);
      await registered;

      if (crash) {
        agent.proc.kill('SIGKILL');
        const k0 = performance.now();
        const until = k0 + (c.joinLeaseTtlSeconds + 15) * 1000;
        for (;;) {
          const r = await client.query(sql);
          if (statusesOf(r, nodeId).includes('node_inactive')) break;
          if (performance.now() > until) throw new Error(`${nodeId} did not turn node_inactive within the lease TTL + 15 s`);
          await sleep(20);
        }
        crashes.push(performance.now() - k0);
      }
    } finally {
      (session as WorkloadSession | undefined)?.close();
      await agent.stop('SIGTERM', 5_000);
    }
    if (!crash) await waitForStatus(client, sql, nodeId, 'node_inactive', 10_000);
  }
  rec.set('join_visible_p50_ms', percentile(joins, 50), 'ms', 'spawn of `quell agent` → its first row in a statement');
  rec.set('join_visible_max_ms', Math.max(...joins), 'ms');
  rec.set('join_ready_line_p50_ms', percentile(readies, 50), 'ms', 'spawn → ready line (process start, bind, etcd join)');
  rec.set('crash_lease_ttl_s', c.joinLeaseTtlSeconds, 's');
  rec.set('crash_to_node_inactive_p50_ms', percentile(crashes, 50), 'ms', 'SIGKILL → node_inactive row');
  rec.set('crash_to_node_inactive_max_ms', Math.max(...crashes), 'ms');
}

async function waitForStatus(client: QuellClient, sql: string, nodeId: string, status: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const r = await client.query(sql);
    if (statusesOf(r, nodeId).includes(status)) return;
    if (performance.now() > deadline) throw new Error(`${nodeId} did not show ${status} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/**
 * What an operator does without quell: visit each node in turn, one fresh connection per node
 * (a TLS handshake with the coordinator's certificate, which the agent requires for Kill),
 * and kill there (the agent's own Kill RPC, ASYNC, same WHERE), one node after another.
 */
async function baseline(agents: readonly AgentRef[], tls: TlsOptions, plan: Plan): Promise<number[]> {
  const Ctor = quellProto().agent.quell.v1.NodeAgentService;
  const security = TransportSecurity.from(tls);
  const visitAll = async (): Promise<void> => {
    for (const a of agents) {
      // a local subchannel pool: nothing is shared with an earlier visit, each is a new connection
      const creds = security.channelCredentials(a.address, identities.agent(a.nodeId));
      const stub = new Ctor(a.address, creds, { ...CHANNEL_OPTIONS, 'grpc.use_local_subchannel_pool': 1 });
      try {
        await new Promise<void>((resolve, reject) => {
          let rows = 0;
          const call = stub.Kill({ target: 'KILL_TARGET_QUERY', where: "user = 'etl'", mode: 'KILL_MODE_ASYNC', user: 'default', may_kill_others: true, statement_id: 'baseline' }, { deadline: Date.now() + 10_000 });
          call.on('data', (m: KillResponse__Output) => {
            if (m.process) rows++;
          });
          call.on('error', reject);
          call.on('end', () => (rows > 0 ? resolve() : reject(new Error(`baseline: no rows from ${a.nodeId}`))));
        });
      } finally {
        stub.close();
      }
    }
  };
  try {
    return await sample(plan, () => timed(visitAll));
  } finally {
    security.close();
  }
}
