import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withPromise } from '../../coordinator/cluster/with-promise';

async function* slowly(items: number[], gapMs: number, pulled: number[]): AsyncGenerator<number> {
  for (const i of items) {
    await new Promise((r) => setTimeout(r, gapMs));
    pulled.push(i);
    yield i;
  }
}

test("the promise's value comes among the events as soon as it settles, once, and the stream is pulled only as its events are taken", async () => {
  const pulled: number[] = [];
  const seen: string[] = [];
  const value = new Promise<string>((resolve) => setTimeout(() => resolve('v'), 30));
  for await (const item of withPromise(slowly([1, 2, 3], 20, pulled), value)) {
    seen.push('event' in item ? String(item.event) : item.value);
    assert.ok(pulled.length <= seen.filter((s) => s !== 'v').length + 1, 'at most one event ahead');
  }
  assert.deepEqual(seen.filter((s) => s !== 'v'), ['1', '2', '3']);
  assert.equal(seen.filter((s) => s === 'v').length, 1);
  assert.ok(seen.indexOf('v') < 3, `the value came before the stream ended: ${seen.join(',')}`);
});

test('a value that settles after the stream ended still comes; leaving early ends the stream', async () => {
  const late: string[] = [];
  for await (const item of withPromise(slowly([1], 1, []), new Promise<string>((resolve) => setTimeout(() => resolve('late'), 20)))) late.push('event' in item ? String(item.event) : item.value);
  assert.deepEqual(late, ['1', 'late']);
  let ended = false;
  async function* endless(): AsyncGenerator<number> {
    try {
      for (let i = 0; ; i++) yield i;
    } finally {
      ended = true;
    }
  }
  for await (const item of withPromise(endless(), new Promise<never>(() => undefined))) if ('event' in item && item.event === 3) break;
  assert.ok(ended, 'the stream was ended');
});
