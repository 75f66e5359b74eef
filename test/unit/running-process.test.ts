import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunningProcess } from '../../client/running-process';
import type { CancelReason, SessionChannel } from '../../client/session-channel';

// The SDK's two signals: a cancel asks (signal), the escalation's terminate insists (terminateSignal).

const channel: SessionChannel = { send: () => undefined, forget: () => undefined, forgetMutation: () => undefined, forgetConnection: () => undefined };

test('a cancel aborts signal only; the terminate that follows aborts terminateSignal with its reason', () => {
  const p = new RunningProcess('q1', channel);
  p.abort({ kind: 'cancel', soft: false, reason: 'r' });
  assert.equal(p.signal.aborted, true);
  assert.equal(p.terminateSignal.aborted, false);
  p.abort({ kind: 'terminate', soft: false, reason: 'r', escalateAfterMs: 1000 });
  assert.equal((p.signal.reason as CancelReason).kind, 'cancel', 'the first reason stays');
  assert.deepEqual(p.terminateSignal.reason, { kind: 'terminate', soft: false, reason: 'r', escalateAfterMs: 1000 });
});

test('a terminate whose cancel never came aborts both; a dropped stream aborts both', () => {
  const t = new RunningProcess('q2', channel);
  t.abort({ kind: 'terminate', soft: false });
  assert.equal((t.signal.reason as CancelReason).kind, 'terminate');
  assert.equal(t.terminateSignal.aborted, true);
  const d = new RunningProcess('q3', channel);
  d.abort({ kind: 'detached', soft: false });
  assert.equal((d.signal.reason as CancelReason).kind, 'detached');
  assert.equal((d.terminateSignal.reason as CancelReason).kind, 'detached');
});
