import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SETTINGS, escalateAfterMs, resolveSettings } from '../../coordinator/statements/settings';
import { KILL_REASON_MAX } from '../../common/kill-reason';
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

test('escalate_after: seconds above 0, only with SYNC, on KILL QUERY, within sync_kill_timeout', () => {
  const ms = (list: ReturnType<typeof s>[], mode: 'SYNC' | 'ASYNC' | 'TEST' = 'SYNC', target: 'QUERY' | 'MUTATION' = 'QUERY') => escalateAfterMs(resolveSettings(list), mode, target);
  assert.equal(ms([]), 0);
  assert.equal(ms([], 'ASYNC'), 0);
  assert.equal(ms([s('escalate_after', 1)]), 1000);
  assert.equal(ms([s('escalate_after', '0.25')]), 250);
  assert.equal(ms([s('escalate_after', 30), s('sync_kill_timeout', 30)]), 30_000);
  const refused = (fn: () => unknown, text: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof QuellError && e.code === 36 && e.errorName === 'BAD_ARGUMENTS' && text.test(e.message) && !/[\r\n]/.test(e.message), text.source);
  for (const bad of [0, -1, 'soon', '', 3601]) refused(() => ms([s('escalate_after', bad)]), /Invalid value .* for setting escalate_after: expected seconds/);
  refused(() => ms([s('escalate_after', 1)], 'ASYNC'), /escalate_after needs SYNC \(this kill is ASYNC\)/);
  refused(() => ms([s('escalate_after', 1)], 'TEST'), /escalate_after needs SYNC/);
  refused(() => ms([s('escalate_after', 5), s('sync_kill_timeout', 2)]), /escalate_after \(5 s\) is longer than sync_kill_timeout \(2 s\)/);
  refused(() => ms([s('escalate_after', 1)], 'SYNC', 'MUTATION'), /applies to KILL QUERY/);
});
