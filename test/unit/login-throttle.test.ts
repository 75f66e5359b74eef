import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientAddress, LoginThrottle } from '../../coordinator/auth/login-throttle';
import { chError, QuellError } from '../../errors/quell-error';

/** A throttle on a clock the test moves; sleeps are recorded and advance the clock. */
function fake(opts: ConstructorParameters<typeof LoginThrottle>[0] = {}): { throttle: LoginThrottle; clock: { t: number }; slept: number[]; lines: Record<string, unknown>[] } {
  const clock = { t: 1_000_000 };
  const slept: number[] = [];
  const lines: Record<string, unknown>[] = [];
  const log = { warn: (obj: Record<string, unknown>, msg: string) => lines.push({ ...obj, msg }) } as unknown as NonNullable<typeof opts>['log'];
  const throttle = new LoginThrottle({
    now: () => clock.t,
    sleep: (ms) => {
      slept.push(ms);
      clock.t += ms;
      return Promise.resolve();
    },
    log,
    ...opts,
  });
  return { throttle, clock, slept, lines };
}

const wrong = (): never => {
  throw chError('AUTHENTICATION_FAILED', 'alice: Authentication failed: password is incorrect, or there is no user with such name.');
};

test('five failures within a minute cost nothing; later attempts wait, doubling to the cap', async () => {
  const { throttle, slept, lines } = fake();
  for (let i = 0; i < 10; i++) await assert.rejects(throttle.attempt('alice', '10.0.0.1', wrong), QuellError);
  assert.deepEqual(slept, [250, 500, 1000, 2000, 4000]);
  // each delayed attempt is one log line: user, client, failure count, never a password
  assert.deepEqual(
    lines.map((l) => [l.user, l.client, l.failures, l.delay_ms]),
    [5, 6, 7, 8, 9].map((f, i) => ['alice', '10.0.0.1', f, slept[i]]),
  );
  for (const l of lines) assert.deepEqual(Object.keys(l).sort(), ['client', 'delay_ms', 'failures', 'msg', 'user']);
  await assert.rejects(throttle.attempt('alice', '10.0.0.1', wrong));
  await assert.rejects(throttle.attempt('alice', '10.0.0.1', wrong));
  assert.deepEqual(slept.slice(5), [5000, 5000], 'capped at 5 s');
});

test('the right password waits the same and then clears its user at that address, not the address', async () => {
  const { throttle, slept } = fake();
  for (let i = 0; i < 5; i++) await assert.rejects(throttle.attempt('alice', '10.0.0.1', wrong));
  assert.equal(await throttle.attempt('alice', '10.0.0.1', () => 'ok'), 'ok');
  assert.deepEqual(slept, [250], 'a right password is not told apart by its timing');
  assert.equal(throttle.reserve('alice', '10.0.0.2').delayMs, 0);
  // the address that failed five times still waits for any user
  assert.ok(throttle.reserve('bob', '10.0.0.1').delayMs > 0);
});

test('failures count per user and address and per address, never per user alone', async () => {
  const { throttle } = fake();
  // a guessing attack on admin from one address, then from many
  for (let i = 0; i < 40; i++) await assert.rejects(throttle.attempt('admin', '10.6.6.6', wrong));
  for (let i = 0; i < 40; i++) throttle.failed('admin', `10.7.0.${i}`);
  assert.ok(throttle.reserve('admin', '10.6.6.6').delayMs > 0, 'the guessing address is slowed');
  // the real admin from an address that has not failed: no delay, no refusal
  assert.deepEqual(throttle.reserve('admin', '10.0.0.1'), { delayMs: 0, failures: 0, refused: false });
  assert.equal(await throttle.attempt('admin', '10.0.0.1', () => 'in'), 'in');
  const t2 = fake().throttle;
  for (let i = 0; i < 5; i++) t2.failed(`user${i}`, '10.0.0.7');
  assert.ok(t2.reserve('someone-else', '10.0.0.7').delayMs > 0, 'spraying user names from one address is slowed too');
  assert.equal(t2.reserve('someone-else', '10.0.0.8').delayMs, 0);
});

test('failures older than the window are forgotten', () => {
  const { throttle, clock } = fake();
  for (let i = 0; i < 5; i++) throttle.failed('alice', '10.0.0.1');
  assert.ok(throttle.reserve('alice', '10.0.0.1').delayMs > 0);
  clock.t += 60_001;
  assert.deepEqual(throttle.reserve('alice', '10.0.0.1'), { delayMs: 0, failures: 0, refused: false });
});

test('attempts arriving together queue one step apart; past the queue limit they are refused unchecked', async () => {
  const { throttle, lines } = fake({ maxQueueMs: 1_000 });
  for (let i = 0; i < 5; i++) throttle.failed('alice', '10.0.0.1');
  const delays = [0, 1, 2, 3, 4].map(() => throttle.reserve('alice', '10.0.0.1'));
  assert.deepEqual(delays.map((d) => [d.delayMs, d.refused]), [[250, false], [500, false], [750, false], [1000, false], [1250, true]]);
  let checked = false;
  await assert.rejects(
    throttle.attempt('alice', '10.0.0.1', () => (checked = true)),
    /Authentication failed: too many failed logins/,
  );
  assert.equal(checked, false);
  assert.equal(lines.at(-1)?.msg, 'repeated failed logins: attempts refused unchecked until the queue drains');
});

test('other errors are not failed logins; memory stays bounded under a spray of names', async () => {
  const { throttle } = fake({ maxKeys: 100 });
  await assert.rejects(throttle.attempt('alice', '10.0.0.1', () => {
    throw new Error('boom');
  }));
  assert.equal(throttle.reserve('alice', '10.0.0.1').failures, 0);
  for (let i = 0; i < 1_000; i++) throttle.failed(`invented-${i}`, '10.0.0.1');
  assert.ok(throttle.size <= 100, `remembers ${throttle.size}`);
  assert.ok(throttle.reserve('new', '10.0.0.1').delayMs > 0, 'the busy address is the one kept');
});

test('client address: the host of a gRPC peer, without the port', () => {
  assert.equal(clientAddress('127.0.0.1:5000'), '127.0.0.1');
  assert.equal(clientAddress('ipv4:10.1.2.3:443'), '10.1.2.3');
  assert.equal(clientAddress('[::1]:5000'), '::1');
  assert.equal(clientAddress('ipv6:[fe80::1]:5000'), 'fe80::1');
  assert.equal(clientAddress('unix:/run/quell.sock'), '/run/quell.sock');
});
