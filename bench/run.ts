import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { round } from './stats';
import { stopAllClusters } from './cluster';
import { fullConfig, metricKeys, quickConfig, runBench, type BenchConfig, type BenchResult } from './suite';
import { describeTarget, meets } from './targets';

/**
 * `npm run bench [-- --quick] [-- --profile DIR]`: the matrix (issues 6 and 14) against real etcd, a
 * coordinator and agents as separate processes on loopback (see suite.ts). Prints a table
 * with the targets next to the measured numbers; writes bench/results/latest.json.
 * --profile DIR writes V8 CPU profiles of every child (DIR/<cluster>/<role>/*.cpuprofile, e.g.
 * DIR/b3/coordinator); summarise them with `node dist/bench/profile-summary.js DIR/b3/coordinator`.
 * Profiling slows everything down: take the numbers from a run without it.
 */

function table(result: BenchResult, keys: readonly string[]): string {
  const targets = new Map(result.targets.map((t) => [t.metric, t]));
  const rows: string[][] = [['metric', 'value', 'target', '', 'what']];
  for (const k of keys) {
    const v = result.metrics[k];
    if (v === undefined) continue;
    const t = targets.get(k);
    rows.push([k, `${v.toLocaleString('en-US', { maximumFractionDigits: 3 })} ${result.units[k] ?? ''}`.trim(), t ? describeTarget(t) : '', t ? (meets(t, v) ? 'ok' : 'MISS') : '', result.notes[k] ?? '']);
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i < 4 ? cell.padEnd(widths[i] ?? 0) : cell)).join('  ').trimEnd()).join('\n');
}

async function main(): Promise<void> {
  // an interrupted run still stops its processes and removes etcd's temporary directories
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping\n`);
      void stopAllClusters().finally(() => process.exit(130));
    });
  }
  const { values } = parseArgs({ args: process.argv.slice(2), strict: true, options: { quick: { type: 'boolean', default: false }, profile: { type: 'string' } } });
  const base = values.quick ? quickConfig() : fullConfig();
  const started = Date.now();
  const config: BenchConfig = {
    ...base,
    profileDir: values.profile ? path.resolve(values.profile) : undefined,
    log: (line) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`),
  };
  const result = await runBench(config);
  const keys = metricKeys(config);
  const missed = result.targets.filter((t) => result.metrics[t.metric] !== undefined && !meets(t, result.metrics[t.metric] as number)).map((t) => t.metric);

  const out = {
    when: new Date().toISOString(),
    quick: config.quick,
    duration_s: round((Date.now() - started) / 1000, 1),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', memory_gib: round(os.totalmem() / 2 ** 30, 1), node: process.version, platform: `${os.type()} ${os.release()}` },
    metrics: Object.fromEntries(keys.filter((k) => result.metrics[k] !== undefined).map((k) => [k, result.metrics[k]])),
    units: result.units,
    targets: Object.fromEntries(result.targets.map((t) => [t.metric, { [t.bound]: t.value }])),
    missed,
  };
  const dir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`${table(result, keys)}\n\n`);
  process.stdout.write(missed.length > 0 ? `targets missed: ${missed.join(', ')}\n` : 'all targets met\n');
  process.stdout.write(`took ${out.duration_s} s; wrote ${path.join(dir, 'latest.json')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
