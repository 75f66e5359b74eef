import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { countLabel, metricKeys, quickConfig, runBench, tinyConfig } from '../../bench/suite';
import { targetsFor } from '../../bench/targets';
import { formatSummary, summarise } from '../../bench/profile-summary';

// Keeps `npm run bench` working: the whole matrix with tiny counts (agents 1, 3 and 5, the 5 spread
// over three agent hosts as the 1,000 point is), every metric present and numeric, the raw grpc-js
// floor at 3 nodes (a server process each) and 5 (servers packed as the agents are), and every
// measured result holding every node. Timings are never asserted.

test('the benchmark harness produces every metric of its matrix', { timeout: 240_000 }, async () => {
  const config = tinyConfig();
  const result = await runBench(config);
  const keys = metricKeys(config);
  for (const k of keys) {
    const v = result.metrics[k];
    assert.equal(typeof v, 'number', `metric ${k} is missing`);
    assert.ok(Number.isFinite(v), `metric ${k} is not a finite number: ${v}`);
  }
  assert.deepEqual(Object.keys(result.metrics).sort(), [...keys].sort(), 'no metric outside metricKeys()');
  assert.equal(result.metrics.coordinator_statements! > 0, true);
  assert.equal(result.metrics.crash_lease_ttl_s, config.joinLeaseTtlSeconds);
  for (const n of config.agentCounts) assert.equal(result.metrics[`kill_async_${n}_agents_missing_nodes`], 0, `a node missing from a result at ${n} agents`);
  for (const n of config.floorNodeCounts) {
    for (const kind of ['percall', 'stream']) assert.ok(result.metrics[`floor_${kind}_${n}_nodes_p50_ms`]! > 0, `floor_${kind}_${n}_nodes_p50_ms`);
  }
  for (const t of result.targets) assert.ok(t.bound === 'max' ? t.value >= 0 : t.value > 0, `target ${t.metric}`);
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
