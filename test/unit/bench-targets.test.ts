import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeTarget, judge, summary, targetsFor, type Target } from '../../bench/targets';
import { dropMetrics, judgedOutput, table } from '../../bench/report';
import type { BenchResult } from '../../bench/suite';

// The bench's verdict on its targets (bench/targets.ts judge() and summary(), bench/report.ts):
// a target is met only by a finite measured value that meets it; absent, undefined, NaN and
// ±Infinity are missing, and missing is missed.

const latency: Target = { metric: 'kill_async_3_agents_p50_ms', bound: 'max', value: 0.7, unit: 'ms' };
const tail: Target = { metric: 'kill_async_3_agents_p99_ms', bound: 'max', value: 4, unit: 'ms' };
const ratio: Target = { metric: 'kill_async_3_agents_vs_stream_floor_ratio', bound: 'max', value: 6, unit: '×' };
const throughput: Target = { metric: 'throughput_3_agents_32_clients_statements_per_s', bound: 'min', value: 3_000, unit: '/s' };
const none: Target = { metric: 'kill_async_3_agents_missing_nodes', bound: 'max', value: 0, unit: 'nodes' };

function statuses(targets: readonly Target[], metrics: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(judge(targets, metrics).verdicts.map((v) => [v.target.metric, v.status]));
}

test('a finite value within its bound is met, on either side of it and at the bound itself', () => {
  const j = judge([latency, throughput, none], { kill_async_3_agents_p50_ms: 0.7, throughput_3_agents_32_clients_statements_per_s: 3_000, kill_async_3_agents_missing_nodes: 0 });
  assert.deepEqual(j.verdicts.map((v) => [v.status, v.value]), [['met', 0.7], ['met', 3_000], ['met', 0]]);
  assert.deepEqual(j.missed, []);
  assert.equal(j.allMet, true);
  assert.equal(summary(j), 'all targets met (3 of 3)');
});

test('a finite value beyond its bound is missed', () => {
  const j = judge([latency, throughput, none], { kill_async_3_agents_p50_ms: 0.71, throughput_3_agents_32_clients_statements_per_s: 2_999.9, kill_async_3_agents_missing_nodes: 1 });
  assert.deepEqual(j.verdicts.map((v) => v.status), ['missed', 'missed', 'missed']);
  assert.deepEqual(j.missed, [latency.metric, throughput.metric, none.metric]);
  assert.deepEqual(j.missing, []);
  assert.equal(j.allMet, false);
  assert.match(summary(j), /^targets missed: 3 of 3\n {2}missed: kill_async_3_agents_p50_ms, throughput_/);
  assert.doesNotMatch(summary(j), /all targets met/);
});

test('an absent, undefined, NaN, infinite or non-numeric metric is missing, which is a miss', () => {
  for (const value of [undefined, NaN, Infinity, -Infinity, null, '0.5']) {
    for (const t of [latency, throughput]) {
      const j = judge([t], { [t.metric]: value });
      assert.equal(j.verdicts[0]?.status, 'missing', `${t.metric} = ${String(value)}`);
      assert.equal(j.verdicts[0]?.value, undefined);
      assert.deepEqual(j.missed, [t.metric]);
      assert.deepEqual(j.missing, [t.metric]);
      assert.equal(j.allMet, false);
    }
  }
  // +Infinity would "meet" a min target and -Infinity a max one, were they compared
  assert.equal(statuses([throughput], { [throughput.metric]: Infinity })[throughput.metric], 'missing');
  assert.equal(statuses([latency], { [latency.metric]: -Infinity })[latency.metric], 'missing');
  assert.equal(statuses([latency], {})[latency.metric], 'missing');
});

test('ratio targets: a ratio over a zero or missing denominator is missing, a finite one judged as any', () => {
  assert.equal(statuses([ratio], { [ratio.metric]: 5.9 })[ratio.metric], 'met');
  assert.equal(statuses([ratio], { [ratio.metric]: 8.3 })[ratio.metric], 'missed');
  assert.equal(statuses([ratio], { [ratio.metric]: 1.5 / 0 })[ratio.metric], 'missing');
  assert.equal(statuses([ratio], { [ratio.metric]: 0 / 0 })[ratio.metric], 'missing');
  assert.equal(statuses([ratio], { [ratio.metric]: NaN / 0.18 })[ratio.metric], 'missing');
});

test('a p99 target recorded as a maximum (fewer than 100 samples) is judged on that maximum', () => {
  const met = judge([tail], { kill_async_3_agents_max_ms: 3.9 });
  assert.deepEqual(met.verdicts[0], { target: tail, status: 'met', value: 3.9, measuredAs: 'kill_async_3_agents_max_ms' });
  assert.equal(judge([tail], { kill_async_3_agents_max_ms: 4.1 }).verdicts[0]?.status, 'missed');
  assert.equal(judge([tail], { kill_async_3_agents_max_ms: NaN }).verdicts[0]?.status, 'missing');
  // a recorded p99 is used as it is
  assert.deepEqual(judge([tail], { kill_async_3_agents_p99_ms: 3 }).verdicts[0], { target: tail, status: 'met', value: 3 });
  // a maximum says nothing for a lower bound: missing
  const minTail: Target = { ...tail, bound: 'min' };
  assert.equal(judge([minTail], { kill_async_3_agents_max_ms: 9 }).verdicts[0]?.status, 'missing');
});

test('met only when every target is: one missing among met ones fails the run, and no targets is not "all met"', () => {
  const metrics = { kill_async_3_agents_p50_ms: 0.5, throughput_3_agents_32_clients_statements_per_s: 4_000 };
  const j = judge([latency, throughput, ratio], metrics);
  assert.deepEqual(j.verdicts.map((v) => v.status), ['met', 'met', 'missing']);
  assert.equal(j.allMet, false);
  assert.equal(summary(j), `targets missed: 1 of 3\n  missing (no finite measurement, counted as missed): ${ratio.metric}`);
  const empty = judge([], metrics);
  assert.equal(empty.allMet, false);
  assert.doesNotMatch(summary(empty), /all targets met/);
});

/** A whole quick run's targets, every one met by a value at its bound. */
function resultMeetingAll(): BenchResult {
  const targets = targetsFor(2, '100k', [1, 3, 10, 50, 100, 1_000]);
  const metrics: Record<string, number> = { kill_async_3_agents_p99_ms: 4, kill_async_3_agents_no_match_p50_ms: 0.6 };
  for (const t of targets) metrics[t.metric] = t.value;
  return { metrics, units: Object.fromEntries(targets.map((t) => [t.metric, t.unit])), notes: {}, targets };
}

test('done when: a bench result with one metric removed reports that target as missed, in the summary, the table and latest.json', () => {
  const full = resultMeetingAll();
  const keys = Object.keys(full.metrics);
  const before = judge(full.targets, full.metrics);
  assert.equal(before.allMet, true, summary(before));
  assert.match(summary(before), /^all targets met/);

  for (const dropped of ['join_visible_p50_ms', 'kill_sync_3_agents_all_finished_p50_ms', 'kill_async_1000_agents_p50_ms', 'kill_async_3_agents_p99_ms']) {
    const result = { ...full, metrics: dropMetrics(full.metrics, [dropped]) };
    assert.equal(Object.hasOwn(result.metrics, dropped), false);
    const j = judge(result.targets, result.metrics);
    assert.equal(j.allMet, false, dropped);
    assert.deepEqual(j.missed, [dropped]);
    assert.deepEqual(j.missing, [dropped]);
    assert.doesNotMatch(summary(j), /all targets met/);
    assert.match(summary(j), new RegExp(`missing \\(no finite measurement, counted as missed\\): ${dropped}$`));
    const row = table(result, keys, j).split('\n').find((l) => l.startsWith(`${dropped} `));
    assert.ok(row, `the table has a row for ${dropped}`);
    assert.match(row, /missing \(undefined\)/);
    assert.match(row, /MISSING/);
    const json = JSON.parse(JSON.stringify(judgedOutput(result, keys, j))) as Record<string, unknown>;
    assert.deepEqual(json.missed, [dropped]);
    assert.deepEqual(json.missing, [dropped]);
    assert.equal(json.all_met, false);
    assert.deepEqual((json.verdicts as Record<string, unknown>)[dropped], { status: 'missing' });
  }
});

test('the table and latest.json: NaN shows as missing (null in JSON), a p99 recorded as max under its own name, targets beside their metrics', () => {
  const targets = [latency, tail, throughput];
  const result: BenchResult = {
    metrics: { kill_async_3_agents_p50_ms: 0.6, kill_async_3_agents_max_ms: 5, throughput_3_agents_32_clients_statements_per_s: NaN, other_ms: 1 },
    units: { kill_async_3_agents_p50_ms: 'ms', kill_async_3_agents_max_ms: 'ms', other_ms: 'ms' },
    notes: { kill_async_3_agents_max_ms: 'n=20: too few samples for a p99' },
    targets,
  };
  const keys = ['kill_async_3_agents_p50_ms', 'kill_async_3_agents_p99_ms', 'other_ms', 'throughput_3_agents_32_clients_statements_per_s', 'lost_ms'];
  const j = judge(targets, result.metrics);
  assert.deepEqual(j.verdicts.map((v) => v.status), ['met', 'missed', 'missing']);
  const lines = table(result, keys, j).split('\n');
  assert.deepEqual(lines.map((l) => l.split(/\s+/)[0]), ['metric', 'kill_async_3_agents_p50_ms', 'kill_async_3_agents_max_ms', 'other_ms', 'throughput_3_agents_32_clients_statements_per_s', 'lost_ms']);
  assert.match(lines[1] ?? '', /0\.6 ms\s+≤ 0\.7 ms\s+ok/);
  assert.match(lines[2] ?? '', /5 ms\s+≤ 4 ms\s+MISS\s+n=20: too few samples for a p99/);
  assert.match(lines[4] ?? '', /missing \(NaN\)\s+≥ 3,000 \/s\s+MISSING/);
  // a metric without a target that the run lost is shown missing too
  assert.match(lines[5] ?? '', /^lost_ms\s+missing \(undefined\)$/);
  const json = JSON.parse(JSON.stringify(judgedOutput(result, keys, j))) as Record<string, Record<string, unknown>>;
  assert.deepEqual(json.metrics, { kill_async_3_agents_p50_ms: 0.6, kill_async_3_agents_max_ms: 5, other_ms: 1, throughput_3_agents_32_clients_statements_per_s: null });
  assert.deepEqual(json.verdicts?.[tail.metric], { status: 'missed', value: 5, measured_as: 'kill_async_3_agents_max_ms' });
  assert.deepEqual(json.missed, [tail.metric, throughput.metric]);
  assert.deepEqual(json.missing, [throughput.metric]);
});

test('targets are well-formed: a bound, a finite value, a unit, one target per metric', () => {
  const targets = targetsFor(2, '100k', [1, 3, 1_000]);
  assert.equal(new Set(targets.map((t) => t.metric)).size, targets.length);
  for (const t of targets) {
    assert.ok(Number.isFinite(t.value) && (t.bound === 'max' ? t.value >= 0 : t.value > 0), t.metric);
    assert.ok(t.unit.length > 0, t.metric);
    assert.match(describeTarget(t), t.bound === 'max' ? /^≤ / : /^≥ /);
  }
});
