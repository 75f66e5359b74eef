import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxKeyFor, percentile, quantile, recordedKey, samplesFor } from '../../bench/stats';
import { Recorder } from '../../bench/measure';

const ramp = (n: number): number[] => Array.from({ length: n }, (_, i) => n - i); // n … 1, unsorted on purpose

test('percentile is nearest-rank', () => {
  assert.equal(percentile(ramp(100), 50), 50);
  assert.equal(percentile(ramp(100), 99), 99);
  assert.equal(percentile(ramp(1000), 99), 990);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('a tail percentile needs enough samples to be one: 100 for p99, 20 for p95, 10 for p90', () => {
  assert.equal(samplesFor(50), 1);
  assert.equal(samplesFor(90), 10);
  assert.equal(samplesFor(95), 20);
  assert.equal(samplesFor(99), 100);
  assert.equal(samplesFor(99.9), 1000);
});

test('quantile: under 100 samples a p99 is reported as the maximum, named max', () => {
  assert.deepEqual(quantile(ramp(20), 99), { name: 'max', value: 20 });
  assert.deepEqual(quantile(ramp(99), 99), { name: 'max', value: 99 });
  assert.deepEqual(quantile(ramp(100), 99), { name: 'p99', value: 99 });
  assert.deepEqual(quantile(ramp(1000), 99), { name: 'p99', value: 990 });
  assert.deepEqual(quantile(ramp(1), 50), { name: 'p50', value: 1 });
  assert.deepEqual(quantile(ramp(21), 50), { name: 'p50', value: 11 });
  const empty = quantile([], 99);
  assert.equal(empty.name, 'max');
  assert.ok(Number.isNaN(empty.value));
});

test('Recorder.samples writes _p99_ms from 100 samples and _max_ms below, never both', () => {
  const rec = new Recorder();
  rec.samples('kill_async_1000_agents', ramp(22), 'agents in hosts of ≤ 125');
  rec.samples('kill_async_3_agents', ramp(1000));
  assert.deepEqual(Object.keys(rec.metrics).sort(), ['kill_async_1000_agents_max_ms', 'kill_async_1000_agents_p50_ms', 'kill_async_3_agents_p50_ms', 'kill_async_3_agents_p99_ms']);
  assert.equal(rec.metrics.kill_async_1000_agents_max_ms, 22);
  assert.equal(rec.metrics.kill_async_1000_agents_p50_ms, 11);
  assert.equal(rec.notes.kill_async_1000_agents_p50_ms, 'agents in hosts of ≤ 125 (n=22)');
  assert.equal(rec.notes.kill_async_1000_agents_max_ms, 'n=22: too few samples for a p99');
  assert.equal(rec.metrics.kill_async_3_agents_p99_ms, 990);
});

test('a _p99_ key is found under its _max_ form when the run recorded that', () => {
  assert.equal(maxKeyFor('cli_client_query_p99_ms'), 'cli_client_query_max_ms');
  assert.equal(maxKeyFor('cli_client_query_p50_ms'), undefined);
  assert.equal(recordedKey({ a_p99_ms: 1, a_max_ms: 2 }, 'a_p99_ms'), 'a_p99_ms');
  assert.equal(recordedKey({ a_max_ms: 2 }, 'a_p99_ms'), 'a_max_ms');
  assert.equal(recordedKey({ a_max_ms: 2 }, 'a_p50_ms'), undefined);
  assert.equal(recordedKey({}, 'a_p99_ms'), undefined);
});
