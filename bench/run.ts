import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { round } from './stats';
import { stopAllClusters } from './cluster';
import { fullConfig, metricKeys, quickConfig, runBench, withAgents, type BenchConfig } from './suite';
import { judge, summary } from './targets';
import { dropMetrics, judgedOutput, table } from './report';

/**
 * `npm run bench [-- --quick] [-- --agents N,…] [-- --profile DIR] [-- --drop-metric NAME …]`: the matrix (issues 6
 * and 14) against real etcd, a coordinator and agents as separate processes on loopback (see
 * suite.ts). Prints a table with the targets next to the measured numbers and the verdict of
 * targets.judge() (a target without a finite measurement is missing, so missed); writes
 * bench/results/latest.json. --drop-metric NAME removes that metric from the result before it is
 * judged, to see a lost measurement reported as a missed target. --agents 3,100 runs only those
 * cluster sizes of the matrix (the targets of the others are then missing).
 * --profile DIR writes V8 CPU profiles of every child (DIR/<cluster>/<role>/*.cpuprofile, e.g.
 * DIR/b3/coordinator); summarise them with `node dist/bench/profile-summary.js DIR/b3/coordinator`.
 * Profiling slows everything down: take the numbers from a run without it.
 */

async function main(): Promise<void> {
  // an interrupted run still stops its processes and removes etcd's temporary directories
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping\n`);
      void stopAllClusters().finally(() => process.exit(130));
    });
  }
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { quick: { type: 'boolean', default: false }, profile: { type: 'string' }, 'drop-metric': { type: 'string', multiple: true }, agents: { type: 'string' } },
  });
  const matrix = values.quick ? quickConfig() : fullConfig();
  const base = values.agents === undefined ? matrix : withAgents(matrix, values.agents.split(',').map(Number));
  const started = Date.now();
  const config: BenchConfig = {
    ...base,
    profileDir: values.profile ? path.resolve(values.profile) : undefined,
    log: (line) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`),
  };
  const run = await runBench(config);
  const result = { ...run, metrics: dropMetrics(run.metrics, values['drop-metric'] ?? []) };
  const keys = metricKeys(config);
  const verdict = judge(result.targets, result.metrics);

  const out = {
    when: new Date().toISOString(),
    quick: config.quick,
    duration_s: round((Date.now() - started) / 1000, 1),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', memory_gib: round(os.totalmem() / 2 ** 30, 1), node: process.version, platform: `${os.type()} ${os.release()}` },
    ...(values['drop-metric'] ? { dropped: values['drop-metric'] } : {}),
    ...judgedOutput(result, keys, verdict),
  };
  const dir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`${table(result, keys, verdict)}\n\n${summary(verdict)}\n`);
  process.stdout.write(`took ${out.duration_s} s; wrote ${path.join(dir, 'latest.json')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
