/** Percentiles of latency samples in milliseconds (nearest-rank). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** A percentile as the bench reports it: `p50`, `p99`, … or `max` when the samples cannot tell that percentile from the maximum. */
export interface Quantile {
  readonly name: string;
  readonly value: number;
}

/**
 * The samples a tail percentile (p > 50) needs before it is one: at least one sample above it,
 * so 100 for p99, 20 for p95, 10 for p90. Below that, nearest-rank gives the largest sample.
 */
export function samplesFor(p: number): number {
  return p <= 50 ? 1 : Math.ceil(100 / (100 - p) - 1e-9);
}

/**
 * The one place the bench names a percentile: the p-th percentile of `samples`, or, for a tail
 * percentile over fewer samples than `samplesFor(p)` (99 over fewer than 100), their maximum,
 * named `max`, which is what such a "p99" is.
 */
export function quantile(samples: readonly number[], p: number): Quantile {
  if (samples.length < samplesFor(p)) return { name: 'max', value: samples.length === 0 ? NaN : Math.max(...samples) };
  return { name: `p${p}`, value: percentile(samples, p) };
}

/**
 * A metric written as `…_p99_…` (metricKeys() and the targets name it so) is recorded as
 * `…_max_…` by a run with fewer than 100 samples: the name it may have instead, if any.
 */
export function maxKeyFor(key: string): string | undefined {
  return key.includes('_p99_') ? key.replace('_p99_', '_max_') : undefined;
}

/** The name `key` is recorded under in `metrics` (itself or its `_max_` form), or undefined. */
export function recordedKey(metrics: Readonly<Record<string, unknown>>, key: string): string | undefined {
  if (Object.hasOwn(metrics, key)) return key;
  const max = maxKeyFor(key);
  return max !== undefined && Object.hasOwn(metrics, max) ? max : undefined;
}

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
