import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStatement } from '../../sql/parser';
import { renderExpr } from '../../sql/render';
import { errorOf, noPos } from './parse-helpers';

// docs/kill-policies.md: CREATE / DROP KILL POLICY and SHOW KILL POLICIES.



function create(text: string): Record<string, unknown> {
  const s = parseStatement(text);
  assert.equal(s.kind, 'createKillPolicy');
  if (s.kind !== 'createKillPolicy') throw new Error('unreachable');
  const { where, orderBy, ...rest } = s;
  return { ...noPos(rest), where: renderExpr(where), orderBy: orderBy.map((o) => ({ expr: renderExpr(o.expr), desc: o.desc })) };
}

test('CREATE KILL POLICY with only WHERE: KILL QUERY, the default interval, no LIMIT, not a dry run', () => {
  assert.deepEqual(create("CREATE KILL POLICY long_etl WHERE user = 'etl' AND elapsed > 60"), {
    kind: 'createKillPolicy',
    name: 'long_etl',
    ifNotExists: false,
    where: "and(equals(user, 'etl'), greater(elapsed, 60))",
    target: 'QUERY',
    orderBy: [],
    dryRun: false,
    settings: [],
  });
});

test('CREATE KILL POLICY with every clause, in the documented order and in any other', () => {
  const full = {
    kind: 'createKillPolicy',
    name: 'idle',
    ifNotExists: true,
    cluster: 'c3',
    where: "and(equals(COMMAND, 'Sleep'), greater(TIME, 600))",
    target: 'CONNECTION',
    everySeconds: 30,
    limit: 10,
    orderBy: [{ expr: 'TIME', desc: true }, { expr: 'ID', desc: false }],
    dryRun: true,
    settings: [{ name: 'allow_unbounded_policy', value: 1 }],
    format: { name: 'TSV' },
  };
  assert.deepEqual(
    create("create kill policy if not exists idle on cluster c3 where COMMAND = 'Sleep' AND TIME > 600 kill connection order by TIME desc, ID every 30 seconds limit 10 dry run settings allow_unbounded_policy = 1 format TSV;"),
    full,
  );
  assert.deepEqual(
    create("CREATE KILL POLICY IF NOT EXISTS idle ON CLUSTER c3 WHERE COMMAND = 'Sleep' AND TIME > 600 DRY RUN LIMIT 10 ORDER BY TIME DESC, ID ASC EVERY 30 SECOND KILL CONNECTION SETTINGS allow_unbounded_policy = 1 FORMAT TSV"),
    full,
  );
  assert.equal(create("CREATE KILL POLICY m WHERE command LIKE '%DELETE%' KILL MUTATION").target, 'MUTATION');
  assert.equal(create("CREATE KILL POLICY `odd-name.1` WHERE 1 LIMIT 1").name, 'odd-name.1');
  // IF NOT EXISTS only as a whole phrase: a policy may be called `if`
  assert.equal(create('CREATE KILL POLICY if WHERE elapsed > 1').name, 'if');
});

test('EVERY and LIMIT keep their sign for the coordinator to judge', () => {
  assert.equal(create('CREATE KILL POLICY p WHERE 1 EVERY 0 SECONDS').everySeconds, 0);
  assert.equal(create('CREATE KILL POLICY p WHERE 1 LIMIT -1').limit, -1);
  assert.equal(create('CREATE KILL POLICY p WHERE 1 LIMIT 0').limit, 0);
});

test('CREATE KILL POLICY: one-line SYNTAX_ERRORs with the position and what was expected', () => {
  assert.equal(errorOf('CREATE KILL POLICY p'), 'Code: 62. SYNTAX_ERROR: Syntax error: failed at position 21 (end of query). Expected one of: ON CLUSTER, WHERE');
  assert.equal(errorOf('CREATE TABLE t'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 8 ('TABLE'): TABLE t. Expected one of: KILL");
  assert.equal(errorOf('CREATE KILL POLICY p WHERE'), 'Code: 62. SYNTAX_ERROR: Syntax error: failed at position 27 (end of query). Expected one of: expression');
  assert.equal(
    errorOf('CREATE KILL POLICY p WHERE elapsed > 5 KILL EVERYTHING'),
    "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 45 ('EVERYTHING'): EVERYTHING. Expected one of: QUERY, CONNECTION, MUTATION",
  );
  assert.equal(
    errorOf('CREATE KILL POLICY p WHERE elapsed > 5 EVERY 5 MINUTES'),
    "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 48 ('MINUTES'): MINUTES. Expected one of: SECONDS, SECOND",
  );
  assert.equal(
    errorOf('CREATE KILL POLICY p WHERE elapsed > 5 EVERY 1.5 SECONDS'),
    "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 46 ('1.5'): 1.5 SECONDS. Expected one of: unsigned integer",
  );
  assert.equal(errorOf('CREATE KILL POLICY p WHERE elapsed > 5 DRY'), 'Code: 62. SYNTAX_ERROR: Syntax error: failed at position 43 (end of query). Expected one of: RUN');
  // each clause once
  assert.equal(
    errorOf('CREATE KILL POLICY p WHERE elapsed > 5 LIMIT 1 LIMIT 2'),
    "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 48 ('LIMIT'): LIMIT 2. Expected one of: KILL, ORDER BY, EVERY, ESCALATE, REASON, DRY RUN, SETTINGS, FORMAT, end of query",
  );
  assert.equal(
    errorOf('CREATE KILL POLICY IF NOT EXIST p WHERE 1'),
    "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 27 ('EXIST'): EXIST p WHERE 1. Expected one of: EXISTS",
  );
});

test('DROP KILL POLICY [IF EXISTS] name [ON CLUSTER c]', () => {
  assert.deepEqual(noPos(parseStatement('DROP KILL POLICY long_etl')), { kind: 'dropKillPolicy', name: 'long_etl', ifExists: false, settings: [] });
  assert.deepEqual(noPos(parseStatement('drop kill policy if exists long_etl on cluster c3;')), {
    kind: 'dropKillPolicy',
    name: 'long_etl',
    ifExists: true,
    cluster: 'c3',
    settings: [],
  });
  assert.equal(errorOf('DROP KILL POLICY'), 'Code: 62. SYNTAX_ERROR: Syntax error: failed at position 17 (end of query). Expected one of: policy name');
  assert.equal(errorOf('DROP KILL POLICY p q'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 20 ('q'): q. Expected one of: ON CLUSTER, SETTINGS, FORMAT, end of query");
});

test('SHOW KILL POLICIES is SELECT * FROM system.kill_policies', () => {
  assert.deepEqual(noPos(parseStatement('SHOW KILL POLICIES FORMAT Vertical')), {
    kind: 'select',
    items: [{ text: '*' }],
    from: { kind: 'table', name: 'system.kill_policies' },
    orderBy: [],
    settings: [],
    format: { name: 'Vertical' },
  });
  assert.equal(errorOf('SHOW KILL POLICY'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 11 ('POLICY'): POLICY. Expected one of: POLICIES");
  assert.equal(errorOf('SHOW FULL KILL POLICIES'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 11 ('KILL'): KILL POLICIES. Expected one of: PROCESSLIST");
});

test('CREATE KILL POLICY … ESCALATE AFTER S SECONDS REASON \'text\', in any order among the clauses', () => {
  const p = create("CREATE KILL POLICY etl WHERE user = 'etl' EVERY 1 SECONDS LIMIT 1 ESCALATE AFTER 5 SECONDS REASON 'runaway etl' DRY RUN");
  assert.equal(p.escalateAfterSeconds, 5);
  assert.equal(p.reason, 'runaway etl');
  const q = create("CREATE KILL POLICY etl WHERE 1 REASON 'it''s slow' LIMIT 1 ESCALATE AFTER 1 SECOND");
  assert.deepEqual([q.escalateAfterSeconds, q.reason, q.limit], [1, "it's slow", 1]);
  assert.equal(create('CREATE KILL POLICY etl WHERE 1 ESCALATE AFTER -2 SECONDS').escalateAfterSeconds, -2);
  assert.equal(create('CREATE KILL POLICY etl WHERE 1').escalateAfterSeconds, undefined);
  assert.match(errorOf('CREATE KILL POLICY etl WHERE 1 REASON nope'), /^Code: 62\. SYNTAX_ERROR: .*Expected one of: string literal$/);
  assert.match(errorOf('CREATE KILL POLICY etl WHERE 1 ESCALATE 5 SECONDS'), /^Code: 62\. SYNTAX_ERROR: .*Expected one of: AFTER$/);
  assert.match(errorOf("CREATE KILL POLICY etl WHERE 1 REASON 'a' REASON 'b'"), /^Code: 62\. SYNTAX_ERROR: /);
});
