import { maxKeyFor, recordedKey } from './stats';
import { describeTarget, type Judgement, type Status, type Target } from './targets';
import type { BenchResult } from './suite';

/**
 * What `npm run bench` prints and writes, from a run's result and judge()'s verdicts, apart
 * from the run itself (bench/run.ts) so that tests can feed it results of their own.
 */

const CELL: Record<Status, string> = { met: 'ok', missed: 'MISS', missing: 'MISSING' };

function formatValue(v: unknown, unit: string): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return `missing (${String(v)})`;
  return `${v.toLocaleString('en-US', { maximumFractionDigits: 3 })} ${unit}`.trim();
}

/**
 * The table: one row per metric of `keys` (as recorded: a `_p99_` key may be its `_max_`), a
 * metric that is absent or not finite shown as missing, and the target beside the metric it
 * names, with its verdict; a target naming a metric outside `keys` gets a row of its own.
 */
export function table(result: BenchResult, keys: readonly string[], j: Judgement): string {
  const verdicts = new Map(j.verdicts.map((v) => [v.target.metric, v]));
  const rows: string[][] = [['metric', 'value', 'target', '', 'what']];
  const row = (key: string, shown: string, target: Target | undefined): void => {
    const status = target ? verdicts.get(target.metric)?.status : undefined;
    rows.push([shown, formatValue(result.metrics[shown], result.units[shown] ?? ''), target ? describeTarget(target) : '', status ? CELL[status] : '', result.notes[shown] ?? '']);
  };
  for (const k of keys) row(k, recordedKey(result.metrics, k) ?? k, verdicts.get(k)?.target);
  for (const v of j.verdicts) if (!keys.includes(v.target.metric)) row(v.target.metric, recordedKey(result.metrics, v.target.metric) ?? v.target.metric, v.target);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i < 4 ? cell.padEnd(widths[i] ?? 0) : cell)).join('  ').trimEnd()).join('\n');
}

/** latest.json's judged part: the metrics of `keys` as recorded (NaN is written as null), the targets and their verdicts. */
export function judgedOutput(result: BenchResult, keys: readonly string[], j: Judgement): Record<string, unknown> {
  const recorded = keys.map((k) => recordedKey(result.metrics, k)).filter((k): k is string => k !== undefined);
  return {
    metrics: Object.fromEntries(recorded.map((k) => [k, result.metrics[k]])),
    units: result.units,
    targets: Object.fromEntries(result.targets.map((t) => [t.metric, { [t.bound]: t.value }])),
    verdicts: Object.fromEntries(j.verdicts.map((v) => [v.target.metric, { status: v.status, ...(v.value === undefined ? {} : { value: v.value }), ...(v.measuredAs ? { measured_as: v.measuredAs } : {}) }])),
    missed: j.missed,
    missing: j.missing,
    all_met: j.allMet,
  };
}

/** `--drop-metric NAME`: the metrics without these (a debugging aid: the judge must report each target so dropped as missing). */
export function dropMetrics(metrics: Readonly<Record<string, number>>, names: readonly string[]): Record<string, number> {
  const kept = { ...metrics };
  for (const name of names) {
    delete kept[name];
    const max = maxKeyFor(name);
    if (max !== undefined) delete kept[max];
  }
  return kept;
}
