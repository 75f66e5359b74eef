import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStatement } from '../../sql/parser';
import type { CreateKillPolicyStatement, DropKillPolicyStatement } from '../../sql/ast';
import type { Column, SqlValue } from '../../sql/types';
import { createKillPolicy, dropKillPolicy } from '../../coordinator/policies/kill-policy';
import type { PolicyRecord } from '../../common/etcd/kill-policy-record';
import type { StatementContext, ResultSink } from '../../coordinator/context';
import { StatementSummary } from '../../coordinator/statements/statement-summary';
import type { Grant, User } from '../../coordinator/auth/users';
import { QuellError } from '../../errors/quell-error';

/** CREATE/DROP KILL POLICY against a fake store and view: what is checked, what is stored. */
function harness(grants: Grant[], existing: string[] = []) {
  const stored: PolicyRecord[] = [];
  const names = new Set(existing);
  const policies = {
    create: (rec: PolicyRecord) => {
      if (names.has(rec.name)) return Promise.resolve(false);
      names.add(rec.name);
      stored.push(rec);
      return Promise.resolve(true);
    },
    drop: (_cluster: string, name: string) => Promise.resolve(names.delete(name)),
  };
  const membership = {
    hasCluster: (c: string) => c === 'c3',
    hasPolicy: (_c: string, name: string) => names.has(name),
    onChange: () => () => undefined,
  };
  const user: User = { name: 'ops', readonly: false, grants: new Set(grants) };
  const log = { info: () => undefined, debug: () => undefined, warn: () => undefined } as unknown as StatementContext['log'];
  const ctx = { user, policies, membership, defaultCluster: 'c3', summary: new StatementSummary(), log } as unknown as StatementContext;
  const sink: ResultSink = { header: (_c: readonly Column[]) => undefined, rows: (_r: readonly (readonly SqlValue[])[]) => Promise.resolve(), warn: () => undefined };
  const create = (sql: string) => createKillPolicy(parseStatement(sql) as CreateKillPolicyStatement, ctx, sink);
  const drop = (sql: string) => dropKillPolicy(parseStatement(sql) as DropKillPolicyStatement, ctx, sink);
  return { stored, create, drop };
}

const fails = (name: string, text?: RegExp) => (e: unknown) => e instanceof QuellError && e.errorName === name && (!text || text.test(e.message));

test('a policy is stored with its canonical condition, creator and rights', async () => {
  const h = harness(['KILL POLICY', 'KILL QUERY']);
  await h.create("CREATE KILL POLICY long_etl ON CLUSTER c3 WHERE user = 'etl' AND elapsed > 5 EVERY 2 SECONDS LIMIT 3 DRY RUN");
  const [rec] = h.stored;
  assert.ok(rec);
  assert.deepEqual(
    { ...rec, created: 0 },
    { cluster: 'c3', name: 'long_etl', condition: "and(equals(user, 'etl'), greater(elapsed, 5))", action: 'KILL QUERY', every_s: 2, limit: 3, dry_run: true, escalate_after_s: 0, reason: '', creator: 'ops', may_kill_others: true, created: 0 },
  );
  assert.ok(Math.abs(rec.created - Date.now() / 1000) < 5);
});

test('what CREATE refuses before anything is stored', async () => {
  const h = harness(['KILL POLICY']);
  await assert.rejects(harness(['KILL QUERY']).create('CREATE KILL POLICY p WHERE 1 LIMIT 1'), fails('ACCESS_DENIED', /grant KILL POLICY/));
  await assert.rejects(h.create('CREATE KILL POLICY p WHERE 1'), fails('BAD_ARGUMENTS', /has no LIMIT: add LIMIT n, or SETTINGS allow_unbounded_policy = 1/));
  await assert.rejects(h.create('CREATE KILL POLICY p WHERE elapsed > -1 OR 1'), fails('BAD_ARGUMENTS', /has no LIMIT/));
  await assert.rejects(h.create('CREATE KILL POLICY p WHERE 1 EVERY 0 SECONDS LIMIT 1'), fails('BAD_ARGUMENTS', /EVERY 0 SECONDS is out of range/));
  await assert.rejects(h.create('CREATE KILL POLICY p WHERE 1 LIMIT 0'), fails('BAD_ARGUMENTS', /LIMIT 0 is out of range/));
  await assert.rejects(h.create('CREATE KILL POLICY p WHERE nope = 1 LIMIT 1'), fails('UNKNOWN_IDENTIFIER'));
  await assert.rejects(h.create('CREATE KILL POLICY p ON CLUSTER other WHERE 1 LIMIT 1'), fails('CLUSTER_DOESNT_EXIST'));
  await assert.rejects(h.create('CREATE KILL POLICY `a/b` WHERE 1 LIMIT 1'), fails('BAD_ARGUMENTS', /Invalid kill policy name/));
  // mutations have no owner: the grant is needed outright
  await assert.rejects(h.create("CREATE KILL POLICY m WHERE table = 't' KILL MUTATION LIMIT 1"), fails('ACCESS_DENIED', /KILL MUTATION/));
  assert.deepEqual(h.stored, []);
});

test('ORDER BY is stored as canonical keys, checked like a ranked KILL; without LIMIT it is refused', async () => {
  const h = harness(['KILL POLICY', 'KILL QUERY']);
  await h.create("CREATE KILL POLICY big WHERE user = 'etl' ORDER BY memory_usage DESC, elapsed EVERY 1 SECONDS LIMIT 1");
  assert.deepEqual(h.stored[0]?.order_by, [{ expr: 'memory_usage', desc: true }, { expr: 'elapsed', desc: false }]);
  // without ORDER BY the record has no order_by at all: what an agent of before reads the same
  await h.create("CREATE KILL POLICY plain WHERE user = 'etl' LIMIT 1");
  assert.equal('order_by' in (h.stored[1] ?? {}), false);
  await assert.rejects(h.create('CREATE KILL POLICY p WHERE 1 ORDER BY elapsed SETTINGS allow_unbounded_policy = 1'), fails('BAD_ARGUMENTS', /^Kill policy p has ORDER BY without LIMIT/));
  await assert.rejects(h.create('CREATE KILL POLICY p WHERE 1 ORDER BY memory LIMIT 1'), fails('UNKNOWN_IDENTIFIER'));
  await assert.rejects(h.create('CREATE KILL POLICY p WHERE 1 ORDER BY NULL LIMIT 1'), fails('ILLEGAL_TYPE_OF_ARGUMENT'));
  // a connection policy orders by PROCESSLIST's columns
  await h.create("CREATE KILL POLICY idle WHERE COMMAND = 'Sleep' KILL CONNECTION ORDER BY TIME DESC LIMIT 5");
  assert.deepEqual(h.stored[2]?.order_by, [{ expr: 'TIME', desc: true }]);
  assert.equal(h.stored.length, 3);
});

test('allow_unbounded_policy = 1 is the explicit consent to no LIMIT; a user without KILL QUERY keeps to its own', async () => {
  const h = harness(['KILL POLICY']);
  await h.create('CREATE KILL POLICY p WHERE elapsed > 60 SETTINGS allow_unbounded_policy = 1');
  assert.deepEqual([h.stored[0]?.limit, h.stored[0]?.may_kill_others], [0, false]);
});

test('CREATE of an existing name fails unless IF NOT EXISTS; DROP of an unknown one unless IF EXISTS', async () => {
  const h = harness(['ALL'], ['p']);
  await assert.rejects(h.create('CREATE KILL POLICY p WHERE 1 LIMIT 1'), fails('ACCESS_ENTITY_ALREADY_EXISTS'));
  await h.create('CREATE KILL POLICY IF NOT EXISTS p WHERE 1 LIMIT 1');
  await h.drop('DROP KILL POLICY p');
  await assert.rejects(h.drop('DROP KILL POLICY p'), fails('UNKNOWN_ROW_POLICY'));
  await h.drop('DROP KILL POLICY IF EXISTS p');
});

test('ESCALATE AFTER and REASON are stored; out of range, on a connection or mutation policy, or a reason that is not one short line is refused', async () => {
  const h = harness(['ALL']);
  await h.create("CREATE KILL POLICY etl WHERE user = 'etl' LIMIT 1 ESCALATE AFTER 2 SECONDS REASON 'runaway etl'");
  assert.deepEqual([h.stored[0]?.escalate_after_s, h.stored[0]?.reason], [2, 'runaway etl']);
  const bad = harness(['ALL']);
  await assert.rejects(bad.create('CREATE KILL POLICY p WHERE 1 LIMIT 1 ESCALATE AFTER 0 SECONDS'), fails('BAD_ARGUMENTS', /ESCALATE AFTER 0 SECONDS is out of range: 1 to 3600 seconds/));
  await assert.rejects(bad.create('CREATE KILL POLICY p WHERE 1 LIMIT 1 ESCALATE AFTER -1 SECONDS'), fails('BAD_ARGUMENTS', /out of range/));
  await assert.rejects(bad.create('CREATE KILL POLICY p WHERE 1 LIMIT 1 ESCALATE AFTER 3601 SECONDS'), fails('BAD_ARGUMENTS', /out of range/));
  await assert.rejects(bad.create("CREATE KILL POLICY p WHERE COMMAND = 'Sleep' KILL CONNECTION LIMIT 1 ESCALATE AFTER 5 SECONDS"), fails('BAD_ARGUMENTS', /a connection kill is already the hard kill/));
  await assert.rejects(bad.create("CREATE KILL POLICY p WHERE table = 't' KILL MUTATION LIMIT 1 ESCALATE AFTER 5 SECONDS"), fails('BAD_ARGUMENTS', /a mutation has no harder kill/));
  await assert.rejects(bad.create("CREATE KILL POLICY p WHERE 1 LIMIT 1 REASON 'two\\nlines'"), fails('BAD_ARGUMENTS', /^Invalid value for REASON: one line of text without control characters$/));
  await assert.rejects(bad.create(`CREATE KILL POLICY p WHERE 1 LIMIT 1 REASON '${'x'.repeat(1025)}'`), fails('BAD_ARGUMENTS', /^Invalid value for REASON: 1025 characters, at most 1024$/));
  assert.deepEqual(bad.stored, []);
});
