import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_QUERY_SIZE, parseExpression, parseStatement } from '../../sql/parser';
import { renderExpr } from '../../sql/render';
import { errorOf, noPos } from './parse-helpers';
import type { Expr } from '../../sql/ast';


const stmt = (text: string): unknown => noPos(parseStatement(text));
const expr = (text: string): unknown => noPos(parseExpression(text));

const id = (name: string): Expr => ({ kind: 'identifier', name, pos: 0 });
const int = (value: number): Expr => ({ kind: 'literal', value, isFloat: false, pos: 0 });
const str = (value: string): Expr => ({ kind: 'literal', value, pos: 0 });
const call = (name: string, ...args: Expr[]): Expr => ({ kind: 'call', name, args, pos: 0 });


const MARIADB_SYNTAX = "ERROR 1064 (42000): You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '";

test('ClickHouse KILL QUERY with every clause', () => {
  assert.deepEqual(stmt("KILL QUERY ON CLUSTER c3 WHERE user = 'alice' SYNC SETTINGS sync_kill_timeout = 1, distributed_ddl_output_mode = 'throw' FORMAT JSONEachRow;"), {
    kind: 'kill',
    target: 'QUERY',
    cluster: 'c3',
    where: noPos(call('equals', id('user'), str('alice'))),
    orderBy: [],
    mode: 'SYNC',
    settings: [
      { name: 'sync_kill_timeout', value: 1 },
      { name: 'distributed_ddl_output_mode', value: 'throw' },
    ],
    format: { name: 'JSONEachRow' },
  });
});

test('KILL defaults: no cluster, ASYNC, no settings, no format; keywords in any case', () => {
  assert.deepEqual(stmt('kill Query where 1'), { kind: 'kill', target: 'QUERY', where: noPos(int(1)), orderBy: [], mode: 'ASYNC', settings: [] });
  const m = parseStatement("KILL MUTATION WHERE mutation_id = 'm1' TEST");
  assert.equal(m.kind === 'kill' && `${m.target} ${m.mode}`, 'MUTATION TEST');
});

test('ranked KILL: ORDER BY keys with directions, then LIMIT (signed, for the coordinator to judge), then the mode', () => {
  const s = parseStatement("KILL QUERY ON CLUSTER c WHERE user = 'big' ORDER BY memory_usage DESC, elapsed ASC, query_id LIMIT 2 SYNC SETTINGS kill_reason = 'x'");
  assert.ok(s.kind === 'kill');
  assert.deepEqual(s.orderBy.map((o) => [renderExpr(o.expr), o.desc]), [['memory_usage', true], ['elapsed', false], ['query_id', false]]);
  assert.equal(s.limit, 2);
  assert.equal(s.mode, 'SYNC');
  const neg = parseStatement('KILL MUTATION WHERE 1 ORDER BY create_time LIMIT -1 TEST');
  assert.ok(neg.kind === 'kill');
  assert.equal(neg.limit, -1);
  const bare = parseStatement('KILL QUERY WHERE 1 LIMIT 3');
  assert.ok(bare.kind === 'kill');
  assert.deepEqual([bare.orderBy, bare.limit], [[], 3]);
  // LIMIT comes after ORDER BY, as in SELECT
  assert.match(errorOf('KILL QUERY WHERE 1 LIMIT 1 ORDER BY elapsed'), /^Code: 62\. SYNTAX_ERROR: .*position 28 \('ORDER'\)/);
});

test('KILL CONNECTION ON CLUSTER … / WHERE …: the ClickHouse form; KILL CONNECTION <id> stays MariaDB', () => {
  const s = parseStatement("KILL CONNECTION ON CLUSTER c WHERE USER = 'app' ORDER BY TIME DESC LIMIT 3 TEST");
  assert.ok(s.kind === 'kill');
  assert.deepEqual([s.target, s.cluster, s.limit, s.mode], ['CONNECTION', 'c', 3, 'TEST']);
  assert.equal(parseStatement("KILL CONNECTION WHERE USER = 'app'").kind, 'kill');
  assert.equal(parseStatement('KILL CONNECTION 12').kind, 'mysqlKill');
});

test('cluster names: bare word, quoted identifier, string literal, even a keyword', () => {
  for (const [text, name] of [
    ['KILL QUERY ON CLUSTER c3 WHERE 1', 'c3'],
    ['KILL QUERY ON CLUSTER `my-cluster` WHERE 1', 'my-cluster'],
    ["KILL QUERY ON CLUSTER 'c-1' WHERE 1", 'c-1'],
    ['KILL QUERY ON CLUSTER test WHERE 1 TEST', 'test'],
  ] as const) {
    const s = parseStatement(text);
    assert.equal(s.kind === 'kill' ? s.cluster : undefined, name);
  }
});

test('settings values: numbers, negative numbers, strings, bare words, booleans', () => {
  const s = parseStatement("KILL QUERY WHERE 1 SETTINGS a = 1.5, b = -2, c = 'x', d = never_throw, e = true");
  assert.deepEqual(
    s.kind === 'kill' ? s.settings.map((x) => [x.name, x.value]) : [],
    [
      ['a', 1.5],
      ['b', -2],
      ['c', 'x'],
      ['d', 'never_throw'],
      ['e', 1],
    ],
  );
});

test('an empty or missing WHERE is a syntax error that names what was expected', () => {
  assert.equal(errorOf('KILL QUERY WHERE'), 'Code: 62. SYNTAX_ERROR: Syntax error: failed at position 17 (end of query). Expected one of: expression');
  assert.equal(errorOf('KILL QUERY WHERE SYNC'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 18 ('SYNC'): SYNC. Expected one of: expression");
  assert.equal(errorOf('KILL QUERY'), 'Code: 62. SYNTAX_ERROR: Syntax error: failed at position 11 (end of query). Expected one of: ON CLUSTER, WHERE');
  assert.equal(errorOf('KILL QUERY;'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 11 (';'): ;. Expected one of: ON CLUSTER, WHERE");
  assert.equal(errorOf('KILL MUTATION 5'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 15 ('5'): 5. Expected one of: ON CLUSTER, WHERE");
  assert.equal(errorOf('KILL QUERY ON CLUSTER'), 'Code: 62. SYNTAX_ERROR: Syntax error: failed at position 22 (end of query). Expected one of: cluster name');
});

test('garbage after the WHERE expression lists the clauses that could follow', () => {
  assert.equal(
    errorOf("KILL QUERY WHERE user = 'a' foo"),
    "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 29 ('foo'): foo. Expected one of: ORDER BY, LIMIT, SYNC, ASYNC, TEST, SETTINGS, FORMAT, end of query",
  );
  assert.equal(
    errorOf('KILL QUERY WHERE 1 SYNC ASYNC'),
    "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 25 ('ASYNC'): ASYNC. Expected one of: SETTINGS, FORMAT, end of query",
  );
  assert.equal(errorOf('KILL QUERY WHERE 1 SETTINGS'), 'Code: 62. SYNTAX_ERROR: Syntax error: failed at position 28 (end of query). Expected one of: setting name');
  assert.equal(errorOf('KILL QUERY WHERE 1;;'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 20 (';'): ;. Expected one of: end of query");
  assert.equal(errorOf('KILL QUERY WHERE (1'), 'Code: 62. SYNTAX_ERROR: Syntax error: failed at position 20 (end of query). Expected one of: comma, closing bracket');
  assert.equal(errorOf('TRUNCATE TABLE t'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 1 ('TRUNCATE'): TRUNCATE TABLE t. Expected one of: KILL, SELECT, SHOW, CREATE, DROP");
  assert.equal(errorOf('DROP TABLE t'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 6 ('TABLE'): TABLE t. Expected one of: KILL");
});

test('a lexical error inside a ClickHouse statement is reported where it is', () => {
  assert.equal(
    errorOf("KILL QUERY WHERE user = 'abc"),
    "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 25 ('''): 'abc. Unterminated quoted string",
  );
  // a complete prefix does not make a truncated statement valid
  assert.match(errorOf("KILL QUERY WHERE 1 SYNC 'x"), /Unterminated quoted string/);
});

test('SELECT: items, aliases, column texts, FROM clusterAllReplicas, WHERE, ORDER BY, LIMIT, FORMAT', () => {
  const s = parseStatement(
    "SELECT *, user AS u, lower(query) q, elapsed > 1 FROM clusterAllReplicas('c3', system.processes) WHERE user != 'x' ORDER BY elapsed DESC, user ASC, query_id LIMIT 10 OFFSET 5 FORMAT TSV",
  );
  assert.equal(s.kind, 'select');
  if (s.kind !== 'select') return;
  assert.deepEqual(
    s.items.map((i) => [i.text, i.alias, i.expr === undefined]),
    [
      ['*', undefined, true],
      ['user', 'u', false],
      ['lower(query)', 'q', false],
      ['greater(elapsed, 1)', undefined, false],
    ],
  );
  assert.deepEqual(noPos(s.from), { kind: 'cluster', cluster: 'c3', name: 'system.processes' });
  assert.deepEqual(noPos(s.where), noPos(call('notEquals', id('user'), str('x'))));
  assert.deepEqual(
    s.orderBy.map((o) => [noPos(o.expr), o.desc]),
    [
      [noPos(id('elapsed')), true],
      [noPos(id('user')), false],
      [noPos(id('query_id')), false],
    ],
  );
  assert.equal(s.limit, 10);
  assert.equal(s.offset, 5);
  assert.equal(s.format?.name, 'TSV');
});

test('SELECT table references', () => {
  const from = (text: string): unknown => {
    const s = parseStatement(text);
    return s.kind === 'select' ? noPos(s.from) : undefined;
  };
  assert.deepEqual(from('SELECT 1'), { kind: 'table', name: 'system.one' });
  assert.deepEqual(from('SELECT * FROM system.clusters'), { kind: 'table', name: 'system.clusters' });
  assert.deepEqual(from('SELECT * FROM information_schema.PROCESSLIST'), { kind: 'table', name: 'information_schema.PROCESSLIST' });
  assert.deepEqual(from('SELECT * FROM clusterAllReplicas(c3, system.mutations)'), { kind: 'cluster', cluster: 'c3', name: 'system.mutations' });
  assert.deepEqual(from("SELECT * FROM cluster('c3', system, processes)"), { kind: 'cluster', cluster: 'c3', name: 'system.processes' });
  assert.equal(errorOf('SELECT * FROM remote(x)'), 'Code: 46. UNKNOWN_FUNCTION: Unknown table function remote');
  assert.equal(
    errorOf('SELECT a FROM system.processes p'),
    "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 32 ('p'): p. Expected one of: WHERE, GROUP BY, HAVING, ORDER BY, LIMIT, SETTINGS, FORMAT, end of query",
  );
});

test('LIMIT m, n means offset m, limit n; a fractional LIMIT is rejected', () => {
  const s = parseStatement('SELECT 1 LIMIT 5, 10');
  assert.deepEqual(s.kind === 'select' ? [s.offset, s.limit] : [], [5, 10]);
  assert.equal(errorOf('SELECT 1 LIMIT 1.5'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 16 ('1.5'): 1.5. Expected one of: unsigned integer");
});

test('SHOW [FULL] PROCESSLIST [ON CLUSTER c] [FORMAT f]', () => {
  assert.deepEqual(stmt('SHOW PROCESSLIST'), { kind: 'showProcesslist', full: false, settings: [] });
  assert.deepEqual(stmt('show full processlist on cluster c3 format Vertical;'), {
    kind: 'showProcesslist',
    full: true,
    cluster: 'c3',
    settings: [],
    format: { name: 'Vertical' },
  });
  assert.equal(errorOf('SHOW TABLES'), "Code: 62. SYNTAX_ERROR: Syntax error: failed at position 6 ('TABLES'): TABLES. Expected one of: FULL, KILL, PROCESSLIST");
});

test('MariaDB KILL by thread id, query id, user, current user', () => {
  assert.deepEqual(stmt('KILL 42'), { kind: 'mysqlKill', soft: false, target: 'CONNECTION', by: { kind: 'threadId', expr: noPos(int(42)) } });
  assert.deepEqual(stmt('KILL SOFT QUERY 7;'), { kind: 'mysqlKill', soft: true, target: 'QUERY', by: { kind: 'threadId', expr: noPos(int(7)) } });
  assert.deepEqual(stmt('kill hard connection 7'), { kind: 'mysqlKill', soft: false, target: 'CONNECTION', by: { kind: 'threadId', expr: noPos(int(7)) } });
  assert.deepEqual(stmt('KILL QUERY ID 4'), { kind: 'mysqlKill', soft: false, target: 'QUERY', by: { kind: 'queryId', expr: noPos(int(4)) } });
  assert.deepEqual(stmt('KILL 40 + 2'), {
    kind: 'mysqlKill',
    soft: false,
    target: 'CONNECTION',
    by: { kind: 'threadId', expr: noPos(call('plus', int(40), int(2))) },
  });
  assert.deepEqual(stmt('KILL USER bob'), { kind: 'mysqlKill', soft: false, target: 'CONNECTION', by: { kind: 'user', user: 'bob' } });
  assert.deepEqual(stmt("KILL QUERY USER 'Bob'@'LocalHost'"), {
    kind: 'mysqlKill',
    soft: false,
    target: 'QUERY',
    by: { kind: 'user', user: 'Bob', host: 'localhost' },
  });
  assert.deepEqual(noPos(parseStatement('KILL USER bob@10.0.0.1')), noPos(parseStatement("KILL USER 'bob'@'10.0.0.1'")));
  assert.deepEqual(stmt("KILL USER bob@'%'"), { kind: 'mysqlKill', soft: false, target: 'CONNECTION', by: { kind: 'user', user: 'bob', host: '%' } });
  assert.deepEqual(stmt('KILL USER bob@db-1.Example.com;'), {
    kind: 'mysqlKill',
    soft: false,
    target: 'CONNECTION',
    by: { kind: 'user', user: 'bob', host: 'db-1.example.com' },
  });
  assert.deepEqual(stmt('KILL CONNECTION USER CURRENT_USER'), { kind: 'mysqlKill', soft: false, target: 'CONNECTION', by: { kind: 'currentUser' } });
  assert.deepEqual(stmt('KILL USER current_user()'), { kind: 'mysqlKill', soft: false, target: 'CONNECTION', by: { kind: 'currentUser' } });
});

test('MariaDB-form errors use MariaDB words: 1064 near the rest of the text, 1970 for subqueries', () => {
  assert.equal(errorOf('KILL 5 6'), `${MARIADB_SYNTAX}6' at line 1`);
  assert.equal(errorOf('KILL'), `${MARIADB_SYNTAX}' at line 1`);
  assert.equal(errorOf('KILL USER'), `${MARIADB_SYNTAX}' at line 1`);
  assert.equal(errorOf('KILL HARD QUERY WHERE 1'), `${MARIADB_SYNTAX}WHERE 1' at line 1`);
  assert.equal(errorOf("KILL 'abc"), `${MARIADB_SYNTAX}'abc' at line 1`);
  assert.equal(errorOf('KILL 1\n2'), `${MARIADB_SYNTAX}2' at line 2`);
  assert.equal(errorOf('KILL 5 ' + 'x'.repeat(100)), `${MARIADB_SYNTAX}${'x'.repeat(80)}' at line 1`);
  assert.equal(errorOf('KILL (SELECT 1)'), 'ERROR 1970 (42000): KILL does not support subqueries or stored functions');
  assert.equal(errorOf('KILL QUERY ID 1 + (SELECT id FROM t)'), 'ERROR 1970 (42000): KILL does not support subqueries or stored functions');
});

test('expression precedence: OR < AND < NOT < comparison < + - < * / % < unary minus', () => {
  assert.deepEqual(
    expr('a = 1 OR b = 2 AND NOT c'),
    noPos(call('or', call('equals', id('a'), int(1)), call('and', call('equals', id('b'), int(2)), call('not', id('c'))))),
  );
  assert.deepEqual(expr('1 + 2 * 3 - 4 % 5'), noPos(call('minus', call('plus', int(1), call('multiply', int(2), int(3))), call('modulo', int(4), int(5)))));
  assert.deepEqual(expr('-a * b'), noPos(call('multiply', call('negate', id('a')), id('b'))));
  assert.deepEqual(expr('(1 + 2) / 3'), noPos(call('divide', call('plus', int(1), int(2)), int(3))));
  assert.deepEqual(expr('NOT a = b'), noPos(call('not', call('equals', id('a'), id('b')))));
});

test('AND and OR chains become one n-ary call, as in ClickHouse', () => {
  assert.deepEqual(expr('a AND b AND c'), noPos(call('and', id('a'), id('b'), id('c'))));
  assert.deepEqual(expr('a OR b OR c OR d'), noPos(call('or', id('a'), id('b'), id('c'), id('d'))));
});

test('operators normalize to ClickHouse function names', () => {
  const cases: [string, string][] = [
    ['a = b', 'equals'],
    ['a == b', 'equals'],
    ['a != b', 'notEquals'],
    ['a <> b', 'notEquals'],
    ['a < b', 'less'],
    ['a <= b', 'lessOrEquals'],
    ['a > b', 'greater'],
    ['a >= b', 'greaterOrEquals'],
    ['a LIKE b', 'like'],
    ['a NOT LIKE b', 'notLike'],
    ['a ILIKE b', 'ilike'],
    ['a not ilike b', 'notILike'],
    ['a IN b', 'in'],
    ['a NOT IN b', 'notIn'],
  ];
  for (const [text, name] of cases) assert.deepEqual(expr(text), noPos(call(name, id('a'), id('b'))), text);
  assert.deepEqual(expr('a IS NULL'), noPos(call('isNull', id('a'))));
  assert.deepEqual(expr('a is not null'), noPos(call('isNotNull', id('a'))));
});

test('BETWEEN expands to and(greaterOrEquals, lessOrEquals); NOT BETWEEN to or(less, greater)', () => {
  assert.deepEqual(
    expr('x BETWEEN 1 AND 2 AND y'),
    noPos(call('and', call('and', call('greaterOrEquals', id('x'), int(1)), call('lessOrEquals', id('x'), int(2))), id('y'))),
  );
  assert.deepEqual(expr('x NOT BETWEEN 1 AND 2'), noPos(call('or', call('less', id('x'), int(1)), call('greater', id('x'), int(2)))));
});

test('literals: NULL, TRUE/FALSE, negative numbers, floats, strings; tuples and IN lists', () => {
  assert.deepEqual(expr('NULL'), { kind: 'literal', value: null });
  assert.deepEqual(expr('TRUE'), noPos(int(1)));
  assert.deepEqual(expr('false'), noPos(int(0)));
  assert.deepEqual(expr('-5'), noPos(int(-5)));
  assert.deepEqual(expr('-0'), noPos(int(0)));
  assert.deepEqual(expr('1.5'), { kind: 'literal', value: 1.5, isFloat: true });
  assert.deepEqual(expr('- -1'), noPos(call('negate', int(-1))));
  assert.deepEqual(expr("('a', 'b')"), { kind: 'tuple', items: [noPos(str('a')), noPos(str('b'))] });
  assert.deepEqual(expr('()'), { kind: 'tuple', items: [] });
  assert.deepEqual(expr("user IN ('a', 'b')"), noPos(call('in', id('user'), { kind: 'tuple', items: [str('a'), str('b')], pos: 0 })));
  assert.deepEqual(expr("user IN ('a')"), noPos(call('in', id('user'), str('a'))));
});

test('identifiers: bare, back-quoted, double-quoted; keywords need quotes; function names keep their case', () => {
  assert.deepEqual(expr('`table` = "Database"'), noPos(call('equals', id('table'), id('Database'))));
  assert.deepEqual(expr('startsWith(query, lower(x))'), noPos(call('startsWith', id('query'), call('lower', id('x')))));
  assert.deepEqual(expr('LOWER(x)'), noPos(call('LOWER', id('x'))));
  assert.deepEqual(expr('now()'), noPos(call('now')));
  assert.throws(() => parseExpression('a = test'), /Expected one of: expression/);
});

test('positions are 0-based offsets of where each node starts', () => {
  const e = parseExpression("  user = 'x'");
  assert.equal(e.pos, 2);
  assert.equal(e.kind === 'call' ? e.args[1]?.pos : -1, 9);
});

test('10 MB of garbage is rejected before tokenizing, quickly', () => {
  const garbage = '\u0001'.repeat(10 * 1024 * 1024);
  const t0 = process.hrtime.bigint();
  assert.equal(errorOf(garbage), `Code: 62. SYNTAX_ERROR: Max query size exceeded: ${10 * 1024 * 1024} bytes, max ${MAX_QUERY_SIZE}`);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(ms < 500, `took ${ms} ms`);
  // the limit counts bytes: 100,000 three-byte characters are over it
  assert.equal(errorOf('€'.repeat(100000)), `Code: 62. SYNTAX_ERROR: Max query size exceeded: 300000 bytes, max ${MAX_QUERY_SIZE}`);
  assert.equal(parseStatement(`SELECT '${'x'.repeat(MAX_QUERY_SIZE - 20)}'`).kind, 'select');
});

test('deep nesting fails with "Maximum parse depth exceeded" instead of overflowing the stack', () => {
  const depth = /Code: 62\. SYNTAX_ERROR: Maximum parse depth exceeded/;
  assert.match(errorOf(`SELECT ${'('.repeat(200)}1${')'.repeat(200)}`), depth);
  assert.match(errorOf(`SELECT ${'lower('.repeat(200)}x${')'.repeat(200)}`), depth);
  assert.match(errorOf(`SELECT ${'NOT '.repeat(200)}1`), depth);
  assert.match(errorOf(`SELECT ${'- '.repeat(200)}x`), depth);
  assert.match(errorOf(`SELECT 1${' + 1'.repeat(200)}`), depth);
  assert.match(errorOf(`SELECT ${'('.repeat(100000)}`), depth);
  // long flat AND/OR chains are one call and stay fine
  const s = parseStatement(`KILL QUERY WHERE ${Array.from({ length: 5000 }, (_, i) => `user = 'u${i}'`).join(' OR ')}`);
  assert.equal(s.kind === 'kill' && s.where.kind === 'call' ? s.where.args.length : 0, 5000);
});

test('a select item that is a bare identifier names its column as ClickHouse does, unquoted even when a keyword', () => {
  const s = parseStatement('SELECT `limit`, `order`, user, elapsed + 1 FROM system.kill_policies');
  assert.deepEqual(s.kind === 'select' ? s.items.map((i) => i.text) : [], ['limit', 'order', 'user', 'plus(elapsed, 1)']);
});
