import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, useCluster, records } from './harness';
import { QuellError } from '../../errors/quell-error';

// docs/security.md: repeated failed logins are delayed and logged, without the password.
let c: TestCluster;
useCluster({ cluster: 'login', nodes: 1, users: 'users:\n  default: { grants: [ALL] }\n  alice: { password: alice-pw }\n' }, (started) => (c = started));

/** The coordinator's log lines with this message. */
function logLines(msg: string): Record<string, unknown>[] {
  return c.coordinator
    .stderr()
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    })
    .filter((l) => l.msg === msg);
}

test('after five wrong passwords each attempt waits longer, is logged without the password, and the right one still logs in', async () => {
  const client = c.client('alice', 'guess-123');
  for (let i = 1; i <= 8; i++) {
    await assert.rejects(client.query('SELECT 1 FROM system.clusters'), (e: unknown) => e instanceof QuellError && e.errorName === 'AUTHENTICATION_FAILED' && e.message.startsWith('alice: Authentication failed'));
  }
  const delayed = logLines('repeated failed logins: attempt delayed');
  // attempts 6, 7 and 8 waited, each twice as long as the one before
  assert.deepEqual(
    delayed.map((l) => [l.user, l.client, l.failures, l.delay_ms]),
    [
      ['alice', '127.0.0.1', 5, 250],
      ['alice', '127.0.0.1', 6, 500],
      ['alice', '127.0.0.1', 7, 1000],
    ],
  );
  const rows = records(await c.client('alice', 'alice-pw').query("SELECT node_id FROM system.clusters WHERE cluster = 'login'"));
  assert.deepEqual(rows, [{ node_id: 'n1' }]);
  assert.equal(logLines('repeated failed logins: attempt delayed').at(-1)?.delay_ms, 2000, 'the right password waited like a wrong one');
  assert.ok(!c.coordinator.stderr().includes('guess-123') && !c.coordinator.stderr().includes('alice-pw'), 'a password in the log');
});
