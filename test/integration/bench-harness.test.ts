import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { countLabel, metricKeys, quickConfig, runBench, tinyConfig } from '../../bench/suite';
import { judge, meets, summary, targetsFor } from '../../bench/targets';
import { dropMetrics } from '../../bench/report';
import { maxKeyFor, recordedKey } from '../../bench/stats';
import { formatSummary, summarise } from '../../bench/profile-summary';
import { MATCH_SLACK_MS } from '../../bench/ratios';

// Keeps `npm run bench` working and honest: the whole matrix with tiny counts (agents 1, 3 and 5,
// the 5 spread over three agent hosts as the 1,000 point is), the raw grpc-js floor at 3 nodes (a
// server process each) and 5 (servers packed as the agents are), every measured result holding
// every node. It asserts on the measured values, not the target constants: each is present,
// finite and plausible (latencies between 0 and a minute, p50 at most the tail, join after the
// ready line, …), every series of the tiny run (under 100 samples) is recorded as `_max`, not
// `_p99`, and judge() gives every target a verdict from its measured value. It does not assert
// that a target is met: timings on a loaded test machine are not the bench's numbers.

/** Each key of metricKeys() as the run recorded it (a `_p99_` one may be its `_max_`). */
function recorded(metrics: Record<string, number>, keys: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of keys) {
    const r = recordedKey(metrics, k);
    assert.ok(r !== undefined, `metric ${k} is missing`);
    const max = maxKeyFor(k);
    assert.ok(!(max !== undefined && k in metrics && max in metrics), `${k} recorded both as a p99 and as a maximum`);
    out.set(k, r);
  }
  return out;
}

test('the benchmark harness measures every metric of its matrix, and judge() reports what it measured', { timeout: 240_000 }, async () => {
  const config = tinyConfig();
  const result = await runBench(config);
  const m = result.metrics;
  const keys = metricKeys(config);
  const names = recorded(m, keys);
  assert.deepEqual(Object.keys(m).sort(), [...names.values()].sort(), 'no metric outside metricKeys()');
  for (const [k, r] of names) {
    const v = m[r];
    assert.ok(typeof v === 'number' && Number.isFinite(v), `metric ${r} is not a finite number: ${v}`);
    // every count of the tiny run is under 100, so no series may claim a p99
    if (maxKeyFor(k) !== undefined) assert.equal(r, maxKeyFor(k), `${k}: a p99 from fewer than 100 samples`);
  }
  const value = (k: string): number => m[names.get(k) ?? k] as number;

  // plausible: what a working bench measures, whatever the machine's load
  for (const k of keys) {
    const v = value(k);
    if (k.endsWith('_ms')) assert.ok((k.endsWith('_sd_ms') ? v >= 0 : v > 0) && v < 60_000, `${names.get(k)} = ${v} ms`);
    if (k.endsWith('_mb')) assert.ok(v >= 10 && v < 4_096, `${k} = ${v} MiB`);
    if (k.endsWith('_cpu_us')) assert.ok(v >= 0 && v < 10_000_000, `${k} = ${v} µs`);
    if (k.endsWith('_ratio')) assert.ok(v > 0 && v < 10_000, `${k} = ${v}`);
    const tail = k.endsWith('_p50_ms') ? k.replace('_p50_ms', '_p99_ms') : undefined;
    if (tail && names.has(tail)) assert.ok(v <= value(tail), `${k} = ${v} above its tail ${names.get(tail)} = ${value(tail)}`);
  }
  for (const n of config.agentCounts) assert.equal(value(`kill_async_${n}_agents_missing_nodes`), 0, `a node missing from a result at ${n} agents`);
  for (const n of config.floorNodeCounts) {
    const ratio = value(`kill_async_${n}_agents_p50_ms`) / value(`floor_stream_${n}_nodes_p50_ms`);
    assert.ok(Math.abs(value(`kill_async_${n}_agents_vs_stream_floor_ratio`) - ratio) <= 0.01 * ratio + 0.002, `the ${n}-node stream floor ratio is quell's p50 over the floor's`);
  }
  // issue 23's figures are made of this run's own numbers
  for (const n of config.floorNodeCounts) {
    const ratio = value(`kill_async_${n}_agents_coordinator_cpu_us`) / value(`floor_stream_${n}_nodes_cpu_us`);
    assert.ok(Math.abs(value(`kill_async_${n}_agents_coordinator_cpu_vs_floor_ratio`) - ratio) <= 0.01 * ratio + 0.002, `the ${n}-node CPU ratio is the coordinator's over the floor's`);
  }
  const budget = value('kill_async_3_agents_no_match_p50_ms') + 2 * value('kill_log_fdatasync_p50_ms') + MATCH_SLACK_MS;
  const match = value('kill_async_3_agents_p50_ms') / budget;
  assert.ok(Math.abs(value('kill_async_3_agents_vs_match_budget_ratio') - match) <= 0.01 * match + 0.002, 'the match budget ratio is the p50 over no-match + 2 syncs + slack');
  assert.ok(Math.abs(value('cli_client_query_over_node_p50_ms') - (value('cli_client_query_p50_ms') - value('node_empty_process_p50_ms'))) <= 0.002, 'the CLI over Node');
  const ran = value('coordinator_statements');
  assert.ok(Number.isInteger(ran) && ran > 0 && ran <= config.coordinatorStatements, `coordinator_statements = ${ran}`);
  const throughput = value(`throughput_${config.mainAgents}_agents_${config.clients}_clients_statements_per_s`);
  assert.ok(throughput >= ran / (config.throughputBudgetMs / 1000 + 5) && throughput < 1_000_000, `throughput ${throughput}/s for ${ran} statements`);
  assert.equal(value('crash_lease_ttl_s'), config.joinLeaseTtlSeconds);
  assert.ok(value('crash_to_node_inactive_p50_ms') <= (config.joinLeaseTtlSeconds + 15) * 1000);
  assert.ok(value('join_visible_p50_ms') > value('join_ready_line_p50_ms'), 'a joining node shows in a result only after its ready line');
  assert.ok(value('join_visible_p50_ms') <= value('join_visible_max_ms'));

  // the verdicts come from these values, each the value measured; the targets of points the tiny
  // matrix does not have (100 and 1,000 agents, 32 clients) are missing, hence missed, as they
  // would be in any run that lost them
  const j = judge(result.targets, m);
  assert.equal(j.verdicts.length, result.targets.length);
  const unmeasured = result.targets.map((t) => t.metric).filter((t) => !keys.includes(t));
  assert.deepEqual(unmeasured, [
    'kill_async_100_agents_p50_ms', 'kill_async_1000_agents_p50_ms', 'throughput_3_agents_32_clients_statements_per_s',
    'kill_async_100_agents_coordinator_cpu_vs_floor_ratio', 'kill_async_1000_agents_coordinator_cpu_vs_floor_ratio',
  ]);
  assert.deepEqual(j.missing, unmeasured);
  assert.equal(j.allMet, false);
  for (const v of j.verdicts.filter((v) => !unmeasured.includes(v.target.metric))) {
    assert.ok(v.status === 'met' || v.status === 'missed', `${v.target.metric}: ${v.status}`);
    assert.equal(v.value, value(v.target.metric), v.target.metric);
    assert.equal(v.status === 'met', meets(v.target, value(v.target.metric)), v.target.metric);
  }
  assert.equal(j.verdicts.find((v) => v.target.metric === 'kill_async_3_agents_p99_ms')?.measuredAs, 'kill_async_3_agents_max_ms');

  // and a measurement lost from this run is a missed target
  const lost = judge(result.targets, dropMetrics(m, ['join_visible_p50_ms']));
  assert.deepEqual([...lost.missing].sort(), [...unmeasured, 'join_visible_p50_ms'].sort());
  assert.match(summary(lost), /missing \(no finite measurement, counted as missed\): .*join_visible_p50_ms/);
});

test('the quick and full matrices keep the established metric names and add the floor and the 1,000 point', () => {
  const keys = metricKeys(quickConfig());
  for (const k of [
    'kill_async_1_agents_p50_ms', 'kill_async_3_agents_p50_ms', 'kill_async_3_agents_p99_ms', 'kill_async_10_agents_p50_ms',
    'kill_async_50_agents_p50_ms', 'kill_async_100_agents_p50_ms', 'select_processes_3_agents_p50_ms', 'select_processes_3_agents_p99_ms',
    'kill_sync_3_agents_all_finished_p50_ms', 'throughput_3_agents_32_clients_statements_per_s', 'where_filter_100k_processes_p50_ms',
    'agent_rss_100k_processes_mb', 'join_visible_p50_ms', 'crash_to_node_inactive_p50_ms', 'crash_lease_ttl_s', 'coordinator_statements',
    'coordinator_rss_before_mb', 'coordinator_rss_after_mb', 'baseline_sequential_3_nodes_p50_ms', 'baseline_sequential_100_nodes_p50_ms',
    'kill_async_vs_baseline_3_nodes_ratio', 'kill_async_vs_baseline_100_nodes_ratio',
    'kill_async_1000_agents_p50_ms', 'kill_async_1000_agents_missing_nodes', 'coordinator_rss_1000_agents_mb',
    'floor_stream_3_nodes_p50_ms', 'floor_percall_3_nodes_p50_ms', 'floor_stream_100_nodes_p50_ms', 'floor_stream_1000_nodes_p50_ms',
    'kill_async_3_agents_vs_stream_floor_ratio', 'kill_async_3_agents_vs_percall_floor_ratio',
  ]) {
    assert.ok(keys.includes(k), `quick matrix lacks ${k}`);
  }
});

test('every target names a metric of the quick matrix', () => {
  const c = quickConfig();
  const keys = new Set(metricKeys(c));
  for (const t of targetsFor(c.joinLeaseTtlSeconds, countLabel(c.bulkProcesses), c.agentCounts)) assert.ok(keys.has(t.metric), `target ${t.metric} has no metric`);
});

test('CPU profiles are summarised by layer, module and function', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-prof-'));
  try {
    // a small child profiled the way `npm run bench -- --profile DIR` profiles quell's processes
    execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '-e', 'let x = 0; for (let i = 0; i < 2e6; i++) x += i % 7; console.log(x)']);
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    assert.equal(files.length, 1);
    const s = summarise([JSON.parse(readFileSync(path.join(dir, files[0]!), 'utf8'))]);
    assert.ok(s.totalMs >= 0);
    assert.match(formatSummary(s), /self time by layer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(existsSync(dir), false);
});
