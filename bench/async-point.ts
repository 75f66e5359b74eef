import { performance } from 'node:perf_hooks';
import type { QuellClient, QueryResult } from '../client/coordinator-client';
import type { FloorClient } from './floor';
import { CpuMeter, measure, OwnCpuMeter, timed, warm, type Plan } from './measure';
import { column, NODE_ID_COLUMN, STATUS_COLUMN } from './result-columns';

/**
 * One point of the ASYNC latency matrix: `KILL QUERY ON CLUSTER … ASYNC` one statement at a
 * time, and, where the point has one, the raw grpc-js floor (per-call and stream) in the same
 * run. After each series' warm-up, the measured samples are taken in `rounds` rounds, each
 * round a slice of quell, then of the per-call floor, then of the stream floor, then of each
 * series beside them, so a burst of load from elsewhere on the machine falls on all alike. CPU
 * is counted over each series' own slices only. Every measured statement's result is checked
 * for missing nodes.
 */

export interface PointSetup {
  readonly client: QuellClient;
  readonly sql: string;
  /** the cluster's size: every result must have a process row from each node */
  readonly nodes: number;
  readonly plan: Plan;
  readonly rounds: number;
  readonly coordinatorPid: number | undefined;
  readonly agentPids: readonly (number | undefined)[];
  readonly floor?: FloorClient;
  /**
   * More series sampled in the same rounds (the ratios' other terms: the statement matching
   * nothing, the disk's fdatasync), each after its own warm-up; no CPU is counted for them.
   */
  readonly beside?: readonly BesideSeries[];
}

export interface BesideSeries {
  readonly name: string;
  readonly warmup: number;
  /** one run; resolves when it is done */
  readonly once: () => Promise<unknown>;
}

export interface FloorSeries {
  readonly samples: number[];
  /** CPU of this process (the dialing side) over the series' slices */
  readonly cpuMs: number;
  /** wake-ups of this process's main thread over the series' slices */
  readonly wakeups: number;
}

export interface PointResult {
  readonly quell: number[];
  /** nodes without a process row, summed over the measured statements */
  readonly missingNodes: number;
  readonly coordinatorCpuMs: number;
  readonly agentsCpuMs: number;
  /** main-thread wake-ups over the measured statements: the coordinator's, and every agent process's together */
  readonly coordinatorWakeups: number;
  readonly agentsWakeups: number;
  readonly floor?: { readonly percall: FloorSeries; readonly stream: FloorSeries };
  /** each BesideSeries' samples, by name */
  readonly beside: ReadonlyMap<string, number[]>;
}

/**
 * Nodes of an `n`-node cluster without a process row in the result. A node that failed has
 * rows too, with a node status (`node_timeout`, `node_unreachable`, …), and counts as missing.
 */
export function missingNodes(r: QueryResult, n: number): number {
  const node = column(r, NODE_ID_COLUMN);
  const status = column(r, STATUS_COLUMN);
  const answered = new Set<unknown>();
  for (const row of r.rows) if (!String(row[status]).startsWith('node_')) answered.add(row[node]);
  return Math.max(0, n - answered.size);
}

/** A series sampled in slices: its samples so far and its CPU meter. */
class Series {
  readonly samples: number[] = [];

  constructor(
    private readonly once: () => Promise<number>,
    private readonly meter: { begin(): void; end(): void },
  ) {}

  async slice(iterations: number, budgetMs: number, min: number): Promise<void> {
    this.meter.begin();
    this.samples.push(...(await measure(iterations, budgetMs, this.once, min)));
    this.meter.end();
  }
}

export async function measurePoint(p: PointSetup): Promise<PointResult> {
  const { plan, floor } = p;
  let missing = 0;
  const statement = (): Promise<QueryResult> => p.client.query(p.sql);
  const measured = async (): Promise<number> => {
    const t0 = performance.now();
    const r = await statement();
    const dt = performance.now() - t0;
    missing += missingNodes(r, p.nodes);
    return dt;
  };

  await warm(plan.warmup, plan.warmupBudgetMs, statement);
  const coordinatorCpu = new CpuMeter([p.coordinatorPid]);
  const agentsCpu = new CpuMeter(p.agentPids);
  const both = {
    begin: (): void => {
      coordinatorCpu.begin();
      agentsCpu.begin();
    },
    end: (): void => {
      coordinatorCpu.end();
      agentsCpu.end();
    },
  };
  const series = [new Series(measured, both)];

  const percallCpu = new OwnCpuMeter();
  const streamCpu = new OwnCpuMeter();
  if (floor) {
    // the floor warms up as quell did, so both are measured tiered-up
    await warm(plan.warmup, plan.warmupBudgetMs, () => floor.perCall());
    await warm(plan.warmup, plan.warmupBudgetMs, () => floor.stream());
    series.push(new Series(() => timed(() => floor.perCall()), percallCpu), new Series(() => timed(() => floor.stream()), streamCpu));
  }
  const uncounted = { begin: (): void => undefined, end: (): void => undefined };
  const beside = new Map<string, Series>();
  for (const b of p.beside ?? []) {
    await warm(b.warmup, plan.warmupBudgetMs, b.once);
    beside.set(b.name, new Series(() => timed(b.once), uncounted));
  }

  const rounds = Math.max(1, p.rounds);
  const perRound = Math.ceil(plan.iterations / rounds);
  const min = Math.ceil(3 / rounds);
  for (let r = 0; r < rounds; r++) {
    for (const s of [...series, ...beside.values()]) await s.slice(perRound, plan.budgetMs / rounds, min);
  }
  const [quell, percall, stream] = series.map((s) => s.samples);
  return {
    quell: quell ?? [],
    missingNodes: missing,
    coordinatorCpuMs: coordinatorCpu.used(),
    agentsCpuMs: agentsCpu.used(),
    coordinatorWakeups: coordinatorCpu.wakeups(),
    agentsWakeups: agentsCpu.wakeups(),
    floor:
      floor && percall && stream
        ? { percall: { samples: percall, cpuMs: percallCpu.used(), wakeups: percallCpu.wakeups() }, stream: { samples: stream, cpuMs: streamCpu.used(), wakeups: streamCpu.wakeups() } }
        : undefined,
    beside: new Map([...beside].map(([name, s]) => [name, s.samples])),
  };
}
