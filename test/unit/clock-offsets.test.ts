import { test } from 'node:test';
import { PROTOCOL_VERSION } from '../../proto/version';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { ClockOffsets, OffsetEstimator, protocolMismatch, skewReason } from '../../coordinator/cluster/clock-offsets';
import type { ClusterMembership, MemberNode } from '../../coordinator/cluster/membership';
import { componentLogger } from '../../common/daemon/logger';

// The coordinator's estimate of each agent's clock offset (coordinator/cluster/clock-offsets.ts).

/** A sample as seen from the coordinator: sent at `sentMs`, answered after `rttMs`, the agent's reading taken `atFraction` of the way. */
function sample(sentMs: number, rttMs: number, trueOffsetMs: number, atFraction = 0.5): { sentMs: number; rttMs: number; agentMs: number } {
  return { sentMs, rttMs, agentMs: Math.round(sentMs + rttMs * atFraction + trueOffsetMs) };
}

test('offset is the agent clock minus the midpoint of send and receive', () => {
  const e = new OffsetEstimator();
  const o = e.add({ sentMs: 1_000, rttMs: 10, agentMs: 61_005 });
  assert.equal(o.offsetMs, 60_000);
  assert.equal(o.rttMs, 10);
  assert.equal(o.atMs, 1_010);
  assert.deepEqual(e.best(1_010), o);
});

test('the best sample is the one with the lowest round trip: an asymmetric slow one errs by up to rtt/2', () => {
  const e = new OffsetEstimator();
  // the slow answers were read by the agent early in their round trip (queued on the way back)
  e.add(sample(0, 400, 60_000, 0.05));
  e.add(sample(1_000, 4, 60_000));
  e.add(sample(2_000, 300, 60_000, 0.9));
  const best = e.best(2_300);
  assert.equal(best?.rttMs, 4);
  assert.ok(Math.abs((best?.offsetMs ?? 0) - 60_000) <= 2, String(best?.offsetMs));
});

test('a clock step (NTP fixed the agent) drops the samples from before it, however fast they were', () => {
  const e = new OffsetEstimator();
  e.add(sample(0, 2, 60_000));
  e.add(sample(1_000, 3, 60_000));
  const after = e.add(sample(30_000, 20, 5));
  assert.deepEqual(e.best(30_020), after, 'the old offset is gone at once');
  assert.ok(Math.abs(after.offsetMs - 5) <= 1);
});

test('samples past maxAgeMs no longer count; with none left there is no estimate', () => {
  const e = new OffsetEstimator({ maxAgeMs: 10_000 });
  e.add(sample(0, 1, 100));
  e.add(sample(8_000, 50, 100));
  assert.equal(e.best(9_000)?.rttMs, 1);
  assert.equal(e.best(10_500)?.rttMs, 50, 'the fast one is too old now');
  assert.equal(e.best(20_000), undefined);
});

test('at most maxSamples are kept, the newest', () => {
  const e = new OffsetEstimator({ maxSamples: 2 });
  e.add(sample(0, 1, 0));
  e.add(sample(10, 5, 0));
  e.add(sample(20, 6, 0));
  assert.equal(e.best(30)?.rttMs, 5);
});

test('skewReason: an agent ahead by a second or more, or by more than the lateness, explains a refusal; behind or small does not', () => {
  const at = (offsetMs: number) => ({ offsetMs, rttMs: 1, atMs: 0 });
  assert.equal(skewReason(at(60_000.4), 50_000), "clock skew of 60000 ms: this agent's clock is 60000 ms ahead of the coordinator's; fix the clock (NTP)");
  assert.match(skewReason(at(1_500), 30_000) ?? '', /^clock skew of 1500 ms/);
  assert.match(skewReason(at(40), 25) ?? '', /^clock skew of 40 ms/);
  assert.equal(skewReason(at(40), 3_000), undefined, 'a stalled agent with a good clock');
  assert.equal(skewReason(at(-60_000), 100), undefined, 'behind never makes a request late');
  assert.equal(skewReason(undefined, 100), undefined);
});

test('ClockOffsets measures a node as soon as it is live, forgets it when it leaves, and stops with close()', async () => {
  const changes = new EventEmitter();
  let nodes: MemberNode[] = [{ cluster: 'c', nodeId: 'n1', address: 'a:1', host: 'a', port: 1, active: true }];
  const membership = {
    clusters: () => ['c'],
    nodes: () => nodes,
    onChange: (fn: () => void) => {
      changes.on('change', fn);
      return () => changes.off('change', fn);
    },
  } as unknown as ClusterMembership;
  const asked: string[] = [];
  const clocks = new ClockOffsets(membership, (node) => {
    asked.push(node.nodeId);
    return Promise.resolve({ agentMs: Date.now() + (node.nodeId === 'n2' ? 60_000 : 0), protocol: PROTOCOL_VERSION });
  }, componentLogger('test'), { samplesPerRound: 2 });
  clocks.start();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(asked, ['n1', 'n1']);
  nodes = [...nodes, { cluster: 'c', nodeId: 'n2', address: 'b:1', host: 'b', port: 1, active: true }];
  changes.emit('change');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(asked, ['n1', 'n1', 'n2', 'n2'], 'only the new node');
  const n2 = clocks.offset('n2')?.offsetMs ?? 0;
  assert.ok(Math.abs(n2 - 60_000) < 50, String(n2));
  assert.ok(Math.abs(clocks.offset('n1')?.offsetMs ?? 99) < 50);
  nodes = nodes.slice(1);
  changes.emit('change');
  assert.deepEqual([...clocks.offsets().keys()], ['n2']);
  clocks.close();
  changes.emit('change');
  assert.equal(changes.listenerCount('change'), 0);
  assert.deepEqual([...clocks.offsets().keys()], []);
});

test('ClockOffsets measures at most `concurrency` nodes at once and gets to every one', async () => {
  const nodes: MemberNode[] = Array.from({ length: 20 }, (_, i) => ({ cluster: 'c', nodeId: `n${i}`, address: `h:${i}`, host: 'h', port: i, active: true }));
  const membership = { clusters: () => ['c'], nodes: () => nodes, onChange: () => () => undefined } as unknown as ClusterMembership;
  let now = 0;
  let most = 0;
  const clocks = new ClockOffsets(membership, async () => {
    most = Math.max(most, ++now);
    await new Promise((r) => setTimeout(r, 2));
    now--;
    return { agentMs: Date.now(), protocol: PROTOCOL_VERSION };
  }, componentLogger('test'), { concurrency: 3, samplesPerRound: 1 });
  clocks.start();
  const deadline = Date.now() + 5_000;
  while (clocks.offsets().size < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(clocks.offsets().size, 20);
  clocks.close();
  assert.equal(clocks.offsets().size, 0, 'closed: nothing kept');
  assert.equal(most, 3);
});

test('the Info calls that measure clocks also tell each agent\'s protocol: an incompatible one is named, with both versions', async () => {
  assert.equal(protocolMismatch(PROTOCOL_VERSION), undefined);
  assert.equal(protocolMismatch('quell.v2', 'quell.v1'), 'incompatible agent: it speaks protocol quell.v2, this coordinator speaks quell.v1; nothing was sent to it (upgrade the agent or the coordinator)');
  assert.match(protocolMismatch('', 'quell.v1') ?? '', /names no protocol version \(older than 0\.2\.0\), this coordinator speaks quell\.v1/);
  const nodes: MemberNode[] = ['n1', 'n2'].map((nodeId, i) => ({ cluster: 'c', nodeId, address: `h:${i}`, host: 'h', port: i, active: true }));
  const membership = { clusters: () => ['c'], nodes: () => nodes, onChange: () => () => undefined } as unknown as ClusterMembership;
  let calls = 0;
  const clocks = new ClockOffsets(membership, (node) => {
    calls++;
    return Promise.resolve({ agentMs: Date.now(), protocol: node.nodeId === 'n2' ? 'quell.v2' : PROTOCOL_VERSION });
  }, componentLogger('test'), { samplesPerRound: 1 });
  assert.equal(clocks.incompatible('n2'), undefined, 'not asked yet');
  clocks.start();
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 2, 'one Info per node: no second call for the protocol');
  assert.equal(clocks.incompatible('n1'), undefined);
  assert.match(clocks.incompatible('n2') ?? '', /speaks protocol quell\.v2, this coordinator speaks quell\.v1/);
  clocks.close();
});
