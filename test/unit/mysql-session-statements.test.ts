import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sessionStatement, type ServerInfo, type SessionInfo } from '../../coordinator/doors/mysql/session-statements';

const server: ServerInfo = { version: '10.11.99-MariaDB-quell', startedAt: Date.now(), sessions: () => 2, tls: true };
const session = (o: Partial<SessionInfo> = {}): SessionInfo => ({ id: 5, user: 'etl', host: '127.0.0.1', database: undefined, diagnostics: [], tls: { cipher: 'TLS_AES_256_GCM_SHA384', version: 'TLSv1.3' }, ...o });
const rowsOf = (sql: string, s = session()) => {
  const a = sessionStatement(sql, s, server);
  assert.equal(a?.kind, 'rows', sql);
  return a?.kind === 'rows' ? { names: a.columns.map((c) => c.name), rows: a.rows } : { names: [], rows: [] };
};

test('the mariadb client on connect and drivers: @@variables and session functions, named as written', () => {
  assert.deepEqual(rowsOf('select @@version_comment limit 1'), { names: ['@@version_comment'], rows: [['quell: KILL across a cluster']] });
  assert.deepEqual(rowsOf('SELECT DATABASE(), CONNECTION_ID() AS id, @@session.max_allowed_packet'), { names: ['DATABASE()', 'id', '@@session.max_allowed_packet'], rows: [[null, 5, 16777216]] });
  assert.deepEqual(rowsOf('select user(), current_user', session({ database: 'system' })), { names: ['user()', 'current_user'], rows: [['etl@127.0.0.1', 'etl@%']] });
  assert.deepEqual(sessionStatement('SELECT @@nope', session(), server), { kind: 'error', error: { code: 1193, sqlstate: 'HY000', message: "Unknown system variable 'nope'" } });
});

test("statements that are not the session's go to the statement path", () => {
  for (const sql of ['SELECT 1', 'SELECT now()', "SELECT * FROM system.clusters", 'KILL 5', 'SHOW PROCESSLIST', "KILL QUERY WHERE user = 'x'"]) {
    assert.equal(sessionStatement(sql, session(), server), undefined, sql);
  }
});

test('SET, transactions, USE, SHOW DATABASES/TABLES/STATUS/VARIABLES, empty statements', () => {
  for (const sql of ['SET NAMES utf8mb4', 'set autocommit=1', 'COMMIT', 'START TRANSACTION']) assert.deepEqual(sessionStatement(sql, session(), server), { kind: 'ok' }, sql);
  assert.deepEqual(sessionStatement('USE `System`;', session(), server), { kind: 'useDatabase', database: 'system' });
  assert.equal(sessionStatement('use nope', session(), server)?.kind, 'error');
  assert.deepEqual(rowsOf('SHOW DATABASES').rows, [['information_schema'], ['system']]);
  assert.deepEqual(rowsOf('SHOW TABLES FROM information_schema'), { names: ['Tables_in_information_schema'], rows: [['PROCESSLIST']] });
  assert.deepEqual(sessionStatement('SHOW TABLES', session(), server), { kind: 'error', error: { code: 1046, sqlstate: '3D000', message: 'No database selected' } });
  assert.deepEqual(rowsOf("SHOW SESSION STATUS LIKE 'ssl\\_%'").rows, [['Ssl_cipher', 'TLS_AES_256_GCM_SHA384'], ['Ssl_version', 'TLSv1.3']]);
  assert.deepEqual(rowsOf("SHOW VARIABLES LIKE 'have_ssl'").rows, [['have_ssl', 'YES']]);
  assert.deepEqual(rowsOf("SHOW VARIABLES LIKE 'NET\\_%\\_TIMEOUT'").rows.map((r) => r[0]), ['net_read_timeout', 'net_write_timeout']);
  assert.deepEqual(rowsOf("SHOW VARIABLES LIKE '%HAVE%S_L%'").rows.map((r) => r[0]), ['have_ssl']);
  assert.deepEqual(sessionStatement(' /* nothing */ ; ', session(), server), { kind: 'error', error: { code: 1065, sqlstate: '42000', message: 'Query was empty' } });
});

test("SHOW WARNINGS shows the last statement's diagnostics and keeps them", () => {
  const a = sessionStatement('SHOW WARNINGS', session({ diagnostics: [{ level: 'Warning', code: 1105, message: 'no rows from n4 (node_inactive)' }] }), server);
  assert.deepEqual(a, { kind: 'rows', columns: [{ name: 'Level', type: 'String' }, { name: 'Code', type: 'UInt32' }, { name: 'Message', type: 'String' }], rows: [['Warning', 1105, 'no rows from n4 (node_inactive)']], keepsDiagnostics: true });
});

test('comments, outer blanks and trailing semicolons are not part of the statement', () => {
  assert.deepEqual(sessionStatement('  /* x */ select @@version ;  ', session(), server)?.kind, 'rows');
  assert.deepEqual(sessionStatement('-- hi\nSET NAMES utf8', session(), server), { kind: 'ok' });
  assert.deepEqual(sessionStatement('# hi\n  # there\nCOMMIT;', session(), server), { kind: 'ok' });
});

test('recognition is linear: long words, many blank lines and unclosed comments take milliseconds', () => {
  const inputs = [
    `SELECT ${'a'.repeat(250_000)}`,
    `SELECT ${'a'.repeat(250_000)}()`,
    `SELECT @@${'x'.repeat(250_000)}`,
    `SELECT ${'\n'.repeat(250_000)}1`,
    `SELECT 1 ${'/* '.repeat(80_000)}`,
    `SHOW VARIABLES LIKE '${'%'.repeat(250_000)}'`,
    `SELECT ${'a'.repeat(16 * 1024 * 1024)}`,
  ];
  for (const sql of inputs) {
    const started = performance.now();
    sessionStatement(sql, session(), server);
    // a generous bound that tells linear from quadratic (the regex this replaced took seconds at 40 KB)
    assert.ok(performance.now() - started < 500, `${sql.slice(0, 20)}… took ${performance.now() - started} ms`);
  }
});

test('SET kill_reason: the session keeps the text (checked by the session); other SETs stay OK', () => {
  for (const sql of ["SET kill_reason = 'runaway etl'", "set session kill_reason='runaway etl';", "SET @@session.kill_reason = 'runaway etl'", "SET @@kill_reason = 'runaway etl'"]) {
    assert.deepEqual(sessionStatement(sql, session(), server), { kind: 'setKillReason', value: 'runaway etl' }, sql);
  }
  assert.deepEqual(sessionStatement("SET kill_reason = 'a\\nb'", session(), server), { kind: 'setKillReason', value: 'a\nb' });
  for (const sql of ['SET NAMES utf8mb4', "SET other_reason = 'x'", 'SET kill_reason = 5']) assert.deepEqual(sessionStatement(sql, session(), server), { kind: 'ok' }, sql);
});
