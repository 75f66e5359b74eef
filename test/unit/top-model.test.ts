import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopModel, type Snapshot } from '../../cli/top/model';
import { killConnectionAction, killQueryAction, processesQuery, silentNodes, toProcesses, type TopProcess } from '../../cli/top/statements';
import { killResultLines } from '../../cli/top/kill-result';
import { parseStatement } from '../../sql/parser';

function proc(nodeId: string, queryId: string, elapsed: number, memory: number, over: Partial<TopProcess> = {}): TopProcess {
  return { nodeId, user: 'alice', queryId, elapsed, memory, query: `SELECT ${queryId}`, threadId: 0, ...over };
}

function snap(processes: TopProcess[], silent: Snapshot['silent'] = []): Snapshot {
  return { processes, silent, warnings: [] };
}

/** The mode's kind, unnarrowed: keys change it between assertions. */
const kindOf = (m: TopModel): string => m.mode.kind;

function type(m: TopModel, text: string): void {
  for (const ch of text) m.key(ch);
}

test('top: rows sorted by elapsed, then by memory on `m`, which asks for a refresh; the selection follows its process', () => {
  const m = new TopModel('c3');
  m.refreshed(snap([proc('n1', 'a', 5, 100), proc('n2', 'b', 50, 10), proc('n3', 'c', 20, 1000)]));
  assert.deepEqual(m.processes.map((p) => p.queryId), ['b', 'c', 'a']);
  assert.equal(m.selected?.queryId, 'b');
  m.key('DOWN');
  assert.equal(m.selected?.queryId, 'c');
  assert.deepEqual(m.key('m'), { kind: 'refresh' });
  assert.equal(m.sort, 'memory');
  assert.deepEqual(m.processes.map((p) => p.queryId), ['c', 'a', 'b']);
  assert.equal(m.selected?.queryId, 'c', 'the same process stays selected');
  assert.deepEqual(m.key('m'), { kind: 'none' }, 'the same order again reads nothing');
  m.key('e');
  assert.equal(m.sort, 'elapsed');
});

test('top: a refresh keeps the selected process selected where it moved; a vanished one leaves the line selected', () => {
  const m = new TopModel(undefined);
  m.refreshed(snap([proc('n1', 'a', 30, 0), proc('n1', 'b', 20, 0), proc('n2', 'c', 10, 0)]));
  m.key('DOWN');
  assert.equal(m.selected?.queryId, 'b');
  m.refreshed(snap([proc('n1', 'x', 99, 0), proc('n1', 'a', 31, 0), proc('n1', 'b', 21, 0), proc('n2', 'c', 11, 0)]));
  assert.equal(m.selected?.queryId, 'b');
  assert.equal(m.selectedIndex, 2);
  m.refreshed(snap([proc('n1', 'x', 99, 0), proc('n1', 'a', 31, 0)]));
  assert.equal(m.selected?.queryId, 'a', 'b ended: the last line is selected');
  m.refreshed(snap([]));
  assert.equal(m.selected, undefined);
  assert.equal(m.selectedIndex, -1);
  assert.deepEqual(m.key('k'), { kind: 'none' });
  assert.equal(m.message, 'no process selected');
  assert.equal(kindOf(m), 'browse');
});

test('top: the same query id on two nodes is two processes', () => {
  const m = new TopModel('c3');
  m.refreshed(snap([proc('n1', 'q', 2, 0), proc('n2', 'q', 1, 0)]));
  m.key('DOWN');
  assert.equal(m.selected?.nodeId, 'n2');
  m.refreshed(snap([proc('n1', 'q', 3, 0), proc('n2', 'q', 2, 0)]));
  assert.equal(m.selected?.nodeId, 'n2');
});

test('top: page, home and end keys stay within the list', () => {
  const m = new TopModel('c3');
  m.refreshed(snap(Array.from({ length: 25 }, (_, i) => proc('n1', `q${String(i).padStart(2, '0')}`, 100 - i, 0))));
  m.pageSize = 10;
  m.key('PAGE_DOWN');
  assert.equal(m.selectedIndex, 10);
  m.key('END');
  assert.equal(m.selectedIndex, 24);
  m.key('DOWN');
  assert.equal(m.selectedIndex, 24);
  m.key('PAGE_UP');
  assert.equal(m.selectedIndex, 14);
  m.key('HOME');
  m.key('UP');
  assert.equal(m.selectedIndex, 0);
});

test('top: `/` opens the WHERE line with the current filter; Enter applies it and refreshes, Esc leaves it', () => {
  const m = new TopModel('c3', " user = 'bob' ");
  assert.equal(m.where, "user = 'bob'");
  assert.deepEqual(m.key('/'), { kind: 'none' });
  assert.deepEqual(m.mode, { kind: 'where', text: "user = 'bob'" });
  m.key('CTRL_U');
  type(m, "user = 'alice' AND elapsed > 1");
  m.key('BACKSPACE');
  type(m, '10');
  m.key('TAB'); // a named key types nothing
  assert.equal(m.key('q').kind, 'none', 'q is typed, not quit, on the WHERE line');
  m.key('BACKSPACE');
  assert.deepEqual(m.mode, { kind: 'where', text: "user = 'alice' AND elapsed > 10" });
  assert.deepEqual(m.key('ENTER'), { kind: 'refresh' });
  assert.equal(m.where, "user = 'alice' AND elapsed > 10");
  assert.equal(kindOf(m), 'browse');
  m.key('w');
  type(m, ' junk');
  assert.deepEqual(m.key('ESCAPE'), { kind: 'none' });
  assert.equal(m.where, "user = 'alice' AND elapsed > 10");
  m.key('w');
  m.key('CTRL_U');
  m.key('ENTER');
  assert.equal(m.where, '');
});

test('top: a failed refresh (a bad WHERE) shows its one line and no stale rows; the next good one clears it', () => {
  const m = new TopModel('c3');
  m.refreshed(snap([proc('n1', 'a', 1, 0)], [{ nodeId: 'n3', reason: 'node_inactive' }]));
  m.refreshFailed('Code: 47. UNKNOWN_IDENTIFIER: Unknown identifier: nosuch');
  assert.equal(m.error, 'Code: 47. UNKNOWN_IDENTIFIER: Unknown identifier: nosuch');
  assert.equal(m.processes.length, 0);
  assert.equal(m.silent.length, 0);
  m.refreshed(snap([proc('n1', 'a', 1, 0)]));
  assert.equal(m.error, undefined);
  assert.equal(m.processes.length, 1);
});

test('top: k asks first, showing the query and the statement; y kills; the result stays until a key, which refreshes', () => {
  const m = new TopModel('c3');
  const p = proc('n2', "it's", 9, 0);
  m.refreshed(snap([p]));
  assert.deepEqual(m.key('k'), { kind: 'none' });
  const mode = m.mode;
  assert.equal(mode.kind, 'confirm');
  assert.equal(mode.kind === 'confirm' && mode.action.process, p);
  assert.deepEqual(m.key('n'), { kind: 'none' });
  assert.equal(kindOf(m), 'browse', 'n cancels');
  m.key('k');
  assert.equal(m.key('x').kind, 'none', 'other keys do not confirm');
  const effect = m.key('y');
  assert.equal(effect.kind, 'kill');
  const action = effect.kind === 'kill' ? effect.action : undefined;
  assert.equal(action?.statement, killQueryAction(p, 'c3').statement);
  assert.equal(kindOf(m), 'killing');
  assert.deepEqual(m.key('q'), { kind: 'none' }, 'keys wait for the answer');
  m.killDone(action!, ['finished  n2  it\'s  alice'], false);
  assert.deepEqual(m.mode, { kind: 'result', action, lines: ["finished  n2  it's  alice"], failed: false });
  assert.deepEqual(m.key('x'), { kind: 'refresh' });
  assert.equal(kindOf(m), 'browse');
  assert.deepEqual(m.key('CTRL_C'), { kind: 'quit' });
  assert.deepEqual(m.key('q'), { kind: 'quit' });
});

test('top: K kills the connection only of a process that has one', () => {
  const m = new TopModel(undefined);
  m.refreshed(snap([proc('n1', 'with', 9, 0, { threadId: 1099511627777 }), proc('n1', 'without', 1, 0)]));
  m.key('K');
  const mode = m.mode;
  assert.equal(mode.kind === 'confirm' && mode.action.statement, 'KILL CONNECTION 1099511627777');
  assert.equal(mode.kind === 'confirm' && mode.action.dialect, 'mariadb');
  m.key('ESCAPE');
  m.key('DOWN');
  m.key('K');
  assert.equal(kindOf(m), 'browse');
  assert.match(m.message ?? '', /runs on no connection \(thread_id 0\)/);
  m.key('DOWN');
  assert.equal(m.message, undefined, 'a remark lasts one key');
});

test('top statements: the refresh read parses, names the cluster, keeps the typed WHERE inside parentheses', () => {
  const sql = processesQuery('c3', "user = 'a' FORMAT JSON", 'memory');
  assert.equal(
    sql,
    "SELECT node_id, user, query_id, elapsed, memory_usage, query, thread_id FROM clusterAllReplicas('c3', system.processes) WHERE (user = 'a' FORMAT JSON) ORDER BY memory_usage DESC LIMIT 500 SETTINGS distributed_ddl_task_timeout = 2",
  );
  assert.throws(() => parseStatement(sql), /Syntax error: failed at position \d+ \('FORMAT'\)/);
  const plain = processesQuery(undefined, '', 'elapsed');
  assert.match(plain, /FROM system\.processes ORDER BY elapsed DESC/);
  const stmt = parseStatement(processesQuery("o'k", "user = 'x'", 'elapsed'));
  assert.equal(stmt.kind, 'select');
  assert.equal(stmt.kind === 'select' && stmt.from.kind === 'cluster' && stmt.from.cluster, "o'k");
  assert.equal(stmt.kind === 'select' && stmt.from.name, 'system.processes');
});

test('top statements: KILL QUERY targets one query id on one node, quoted, and parses', () => {
  const a = killQueryAction(proc('n1', "x'; DROP", 1, 0), 'c3');
  assert.equal(a.statement, "KILL QUERY ON CLUSTER 'c3' WHERE query_id = 'x\\'; DROP' AND node_id = 'n1' SYNC SETTINGS sync_kill_timeout = 5, distributed_ddl_task_timeout = 2");
  const stmt = parseStatement(a.statement);
  assert.equal(stmt.kind, 'kill');
  assert.equal(stmt.kind === 'kill' && stmt.cluster, 'c3');
  assert.equal(stmt.kind === 'kill' && stmt.mode, 'SYNC');
  assert.equal(killQueryAction(proc('n1', 'q', 1, 0), undefined).statement.startsWith("KILL QUERY WHERE query_id = 'q'"), true);
  assert.equal(killConnectionAction(proc('n1', 'q', 1, 0)), undefined);
});

test('top statements: rows and node warnings of a read', () => {
  assert.deepEqual(toProcesses([['n1', 'bob', 'q1', 1.5, 4096, 'SELECT 1', 0]]), [{ nodeId: 'n1', user: 'bob', queryId: 'q1', elapsed: 1.5, memory: 4096, query: 'SELECT 1', threadId: 0 }]);
  const { silent, other } = silentNodes(['no rows from n3 (node_unreachable: connect ECONNREFUSED (x))', 'no rows from n2 (node_inactive)', 'something else']);
  assert.deepEqual(silent, [
    { nodeId: 'n2', reason: 'node_inactive' },
    { nodeId: 'n3', reason: 'node_unreachable: connect ECONNREFUSED (x)' },
  ]);
  assert.deepEqual(other, ['something else']);
});

test('top: a kill result as lines', () => {
  const q = killQueryAction(proc('n1', 'q1', 1, 0), 'c3');
  const columns = ['kill_status', 'query_id', 'user', 'query', 'host', 'port', 'node_id', 'error'].map((name) => ({ name, type: 'String' as const }));
  assert.deepEqual(
    killResultLines(q, { columns, affectedRows: 0, rows: [['finished', 'q1', 'alice', 'SELECT', 'h', 1, 'n1', ''], ['node_unreachable', '', '', '', 'h', 2, 'n3', 'connect failed']] }),
    ['finished  n1  q1  alice', 'node_unreachable  n3  connect failed'],
  );
  assert.deepEqual(killResultLines(q, { columns, affectedRows: 0, rows: [] }), ['no process matched: it had already ended']);
  const c = killConnectionAction(proc('n1', 'q1', 1, 0, { threadId: 7 }))!;
  assert.deepEqual(killResultLines(c, { columns: [], rows: [], affectedRows: 1 }), ['Query OK, 1 row affected']);
});
