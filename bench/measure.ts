import { performance } from 'node:perf_hooks';
import { quantile, round } from './stats';
import { cpuMs, mainThreadWaits } from './system';

/** How one measurement samples: warm-up runs, then measured runs, each bounded by count and time. */
export interface Plan {
  readonly warmup: number;
  readonly warmupBudgetMs: number;
  readonly iterations: number;
  readonly budgetMs: number;
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Runs `once` `count` times or until `budgetMs` is spent, whichever comes first. */
export async function warm(count: number, budgetMs: number, once: () => Promise<unknown>): Promise<void> {
  const until = performance.now() + budgetMs;
  for (let i = 0; i < count && performance.now() < until; i++) await once();
}

/**
 * Measured runs until `iterations` samples or `budgetMs` is spent, with at least `min` samples
 * (a phase always has a number to report). `once` returns the time to record.
 */
export async function measure(iterations: number, budgetMs: number, once: () => Promise<number>, min = 3): Promise<number[]> {
  const until = performance.now() + budgetMs;
  const samples: number[] = [];
  while (samples.length < iterations && (samples.length < min || performance.now() < until)) samples.push(await once());
  return samples;
}

/**
 * Warm-up runs, then measured runs; each phase stops at its count or when its time budget is
 * spent, with at least three samples. `once` returns the time to record.
 */
export async function sample(plan: Plan, once: () => Promise<number>, onMeasureStart?: () => void): Promise<number[]> {
  await warm(plan.warmup, plan.warmupBudgetMs, once);
  onMeasureStart?.();
  return measure(plan.iterations, plan.budgetMs, once);
}

/**
 * CPU time of a set of processes over one or more segments (begin … end): the interleaved
 * measurements count only their own rounds. Readings come from /proc's
 * schedstat, in nanoseconds (cpuMs).
 */
export class CpuMeter {
  private readonly pids: (number | undefined)[];
  private start: number[] = [];
  private startWaits: number[] = [];
  private total = 0;
  private totalWaits = 0;

  constructor(pids: readonly (number | undefined)[]) {
    this.pids = [...new Set(pids)];
  }

  begin(): void {
    this.start = this.pids.map(cpuMs);
    this.startWaits = this.pids.map(mainThreadWaits);
  }

  end(): void {
    this.total += this.pids.reduce<number>((sum, pid, i) => sum + cpuMs(pid) - (this.start[i] ?? NaN), 0);
    this.totalWaits += this.pids.reduce<number>((sum, pid, i) => sum + mainThreadWaits(pid) - (this.startWaits[i] ?? NaN), 0);
    this.start = [];
    this.startWaits = [];
  }

  /** CPU milliseconds of the ended segments, all processes together. */
  used(): number {
    return this.total;
  }

  /** Wake-ups of the processes' main threads in the ended segments, all together (mainThreadWaits). */
  wakeups(): number {
    return this.totalWaits;
  }
}

/**
 * CPU time of this process over segments, from process.cpuUsage() (microseconds, every
 * thread): fine enough for segments of a few milliseconds, as the floor's rounds are.
 */
export class OwnCpuMeter {
  private start: NodeJS.CpuUsage | undefined;
  private startWaits = NaN;
  private totalUs = 0;
  private totalWaits = 0;

  begin(): void {
    this.start = process.cpuUsage();
    this.startWaits = mainThreadWaits(process.pid);
  }

  end(): void {
    const d = process.cpuUsage(this.start);
    this.totalUs += d.user + d.system;
    this.totalWaits += mainThreadWaits(process.pid) - this.startWaits;
    this.start = undefined;
  }

  /** CPU milliseconds of the ended segments. */
  used(): number {
    return this.totalUs / 1000;
  }

  /** Wake-ups of this process's main thread in the ended segments. */
  wakeups(): number {
    return this.totalWaits;
  }
}

/** The metrics of one run, with their units and notes for the table. */
export class Recorder {
  readonly metrics: Record<string, number> = {};
  readonly units: Record<string, string> = {};
  readonly notes: Record<string, string> = {};

  set(name: string, value: number, unit: string, note = ''): void {
    this.metrics[name] = round(value);
    this.units[name] = unit;
    if (note) this.notes[name] = note;
  }

  /**
   * `<prefix>_p50_ms` and `<prefix>_p99_ms`; over fewer than 100 samples the second is
   * `<prefix>_max_ms` (stats.quantile), since that is what their nearest-rank p99 would be.
   */
  samples(prefix: string, samples: readonly number[], note = ''): void {
    const n = `n=${samples.length}`;
    this.set(`${prefix}_p50_ms`, quantile(samples, 50).value, 'ms', note ? `${note} (${n})` : n);
    const tail = quantile(samples, 99);
    this.set(`${prefix}_${tail.name}_ms`, tail.value, 'ms', tail.name === 'p99' ? '' : `${n}: too few samples for a p99`);
  }
}
