import { test } from 'node:test';
import assert from 'node:assert/strict';
import { derive, derivedKeys, MATCH_SLACK_MS } from '../../bench/ratios';
import { metricKeys, quickConfig, withAgents } from '../../bench/suite';
import { judge, targetsFor } from '../../bench/targets';

// Issue 23's figures are made of the same run's numbers (bench/ratios.ts), and one whose input
// was not measured is NaN, which judge() reports missing.

const measured = {
  kill_async_3_agents_coordinator_cpu_us: 600,
  floor_stream_3_nodes_cpu_us: 200,
  kill_async_100_agents_coordinator_cpu_us: 13_000,
  floor_stream_100_nodes_cpu_us: 10_000,
  kill_async_3_agents_p50_ms: 1.2,
  kill_async_3_agents_no_match_p50_ms: 0.5,
  kill_log_fdatasync_p50_ms: 0.2,
  cli_client_query_p50_ms: 150,
  node_empty_process_p50_ms: 100,
};

test('each figure is its inputs of the same run, named as derivedKeys() names it', () => {
  const d = Object.fromEntries(derive(measured, 3, [3, 100], [3, 100]).map((x) => [x.name, x.value]));
  const names = ['kill_async_3_agents_coordinator_cpu_vs_floor_ratio', 'kill_async_100_agents_coordinator_cpu_vs_floor_ratio', 'kill_async_3_agents_vs_match_budget_ratio', 'cli_client_query_over_node_p50_ms'];
  assert.deepEqual(Object.keys(d), names);
  assert.deepEqual(derivedKeys(3, [3, 100], [3, 100]), names);
  assert.deepEqual(derivedKeys(3, [100], [100]), ['kill_async_100_agents_coordinator_cpu_vs_floor_ratio'], 'without the main size: no match budget, no CLI figure');
  assert.equal(d.kill_async_3_agents_coordinator_cpu_vs_floor_ratio, 3);
  assert.equal(d.kill_async_100_agents_coordinator_cpu_vs_floor_ratio, 1.3);
  assert.equal(d.kill_async_3_agents_vs_match_budget_ratio, 1.2 / (0.5 + 0.4 + MATCH_SLACK_MS));
  assert.equal(d.cli_client_query_over_node_p50_ms, 50);
});

test('a figure whose input is missing is NaN, and its target is missing', () => {
  const { floor_stream_100_nodes_cpu_us: _lost, kill_log_fdatasync_p50_ms: _disk, ...partial } = measured;
  const figures = derive(partial, 3, [3, 100], [3, 100]);
  const metrics = Object.fromEntries(figures.map((x) => [x.name, x.value]));
  assert.ok(Number.isNaN(metrics.kill_async_100_agents_coordinator_cpu_vs_floor_ratio));
  assert.ok(Number.isNaN(metrics.kill_async_3_agents_vs_match_budget_ratio));
  const j = judge(targetsFor(2, '100k', [3, 100]).filter((t) => t.metric in metrics), metrics);
  assert.deepEqual([...j.missing].sort(), ['kill_async_100_agents_coordinator_cpu_vs_floor_ratio', 'kill_async_3_agents_vs_match_budget_ratio']);
  assert.equal(j.allMet, false);
});

test('--agents keeps only those sizes of the matrix, and their floors and baselines', () => {
  const c = withAgents(quickConfig(), [3, 100]);
  assert.deepEqual(c.agentCounts, [3, 100]);
  assert.deepEqual(c.floorNodeCounts, [3, 100]);
  assert.deepEqual(c.baselineNodeCounts, [3, 100]);
  const keys = metricKeys(c);
  assert.ok(keys.includes('kill_async_100_agents_coordinator_cpu_vs_floor_ratio'));
  assert.ok(!keys.some((k) => k.includes('1000_agents')));
  assert.deepEqual(metricKeys(withAgents(quickConfig(), [100])).filter((k) => k.includes('no_match')), []);
  assert.throws(() => withAgents(quickConfig(), [7]), /--agents: 7 not in the matrix/);
});
