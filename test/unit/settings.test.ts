import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SETTINGS, KILL_REASON_MAX, resolveSettings } from '../../coordinator/statements/settings';
import { QuellError } from '../../errors/quell-error';

const s = (name: string, value: string | number) => ({ name, value, pos: 0 });

test('defaults and overrides', () => {
  assert.deepEqual(resolveSettings([]), DEFAULT_SETTINGS);
  assert.deepEqual(resolveSettings([s('sync_kill_timeout', 1), s('distributed_ddl_task_timeout', '2.5'), s('distributed_ddl_output_mode', 'throw')]), {
    sync_kill_timeout: 1,
    distributed_ddl_task_timeout: 2.5,
    distributed_ddl_output_mode: 'throw',
    mutation_kill_ttl: 3600,
    allow_unbounded_policy: false,
    kill_reason: '',
    escalate_after: 0,
  });
  assert.equal(resolveSettings([s('mutation_kill_ttl', 60)]).mutation_kill_ttl, 60);
});

test('unknown settings and bad values', () => {
  const code = (fn: () => unknown): [number, string] => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof QuellError);
      return [e.code, e.errorName];
    }
    return [0, ''];
  };
  assert.deepEqual(code(() => resolveSettings([s('max_threads', 1)])), [115, 'UNKNOWN_SETTING']);
  assert.deepEqual(code(() => resolveSettings([s('sync_kill_timeout', 'soon')])), [36, 'BAD_ARGUMENTS']);
  assert.deepEqual(code(() => resolveSettings([s('sync_kill_timeout', -1)])), [36, 'BAD_ARGUMENTS']);
  assert.deepEqual(code(() => resolveSettings([s('distributed_ddl_output_mode', 'none')])), [36, 'BAD_ARGUMENTS']);
  assert.deepEqual(code(() => resolveSettings([s('__proto__', 1)])), [115, 'UNKNOWN_SETTING']);
});

test('kill_reason: one line of at most KILL_REASON_MAX characters, else BAD_ARGUMENTS with a one-line message', () => {
  assert.equal(resolveSettings([]).kill_reason, '');
  assert.equal(resolveSettings([s('kill_reason', 'runaway etl')]).kill_reason, 'runaway etl');
  assert.equal(resolveSettings([s('kill_reason', 'ünïcødé — ok 🚀')]).kill_reason, 'ünïcødé — ok 🚀');
  const max = 'é'.repeat(KILL_REASON_MAX);
  assert.equal(resolveSettings([s('kill_reason', max)]).kill_reason, max);
  for (const bad of ['two\nlines', 'cr\rhere', 'tab\there', 'nul\u0000', 'del\u007f', 'c1\u0085', 'ls\u2028', 'x'.repeat(KILL_REASON_MAX + 1), 'x'.repeat(10 * 1024), 42]) {
    assert.throws(
      () => resolveSettings([s('kill_reason', bad)]),
      (e: unknown) => e instanceof QuellError && e.errorName === 'BAD_ARGUMENTS' && !/[\r\n]/.test(e.message) && e.message.length < 200,
      JSON.stringify(bad).slice(0, 40),
    );
  }
});
