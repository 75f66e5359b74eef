import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, BACKOFF_MAX_MS, backoffDelay, Sleeper, streamBackoff } from '../../common/etcd/backoff';

function pendingTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

test('backoff doubles from 100 ms up to the 1 s cap and starts over on reset', () => {
  const ceilings = new Backoff(() => 0);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(() => ceilings.next()), [100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(ceilings.failures, 7);
  ceilings.reset();
  assert.equal(ceilings.failures, 0);
  assert.equal(ceilings.next(), 100);
  // jitter takes up to half of each delay, never more
  const halves = new Backoff(() => 1);
  assert.deepEqual([1, 2, 3, 4, 5].map(() => halves.next()), [50, 100, 200, 400, 500]);
  assert.equal(backoffDelay(1_000, () => 0), BACKOFF_MAX_MS);
});

test("etcd3's reconnect backoff follows the same capped policy", () => {
  let b = streamBackoff();
  const durations: number[] = [];
  for (let i = 0; i < 8; i++) {
    b = b.next();
    durations.push(b.duration);
  }
  assert.ok(durations.every((d) => d >= 50 && d <= BACKOFF_MAX_MS), durations.join(','));
  assert.ok((durations[7] ?? 0) >= BACKOFF_MAX_MS / 2);
});

test('a closed sleeper clears its timer and ends every wait at once', async () => {
  const sleeper = new Sleeper();
  assert.equal(await sleeper.sleep(1), true);
  const before = pendingTimers();
  const waiting = sleeper.sleep(60_000);
  assert.equal(pendingTimers(), before + 1);
  sleeper.close();
  assert.equal(pendingTimers(), before);
  assert.equal(await waiting, false);
  assert.equal(await sleeper.sleep(60_000), false);
  assert.equal(pendingTimers(), before);
});
