import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { QUELL_MAIN, spawnQuell, type Child } from '../../common/daemon/child-processes';
import { TestCluster, eventsOf } from './harness';
import { TmuxPane } from './tmux';

// `quell top` in a real terminal (tmux, 80 × 24), against a real cluster over TLS.

let c: TestCluster;
let alice: Child;
let bob: Child;
let carol: Child;
const panes: TmuxPane[] = [];

before(async () => {
  // a long lease: a stopped or killed agent stays a live member, so it is the coordinator's
  // call to it that fails (node_timeout, node_unreachable), as in an incident
  c = await TestCluster.start({ cluster: 'c3', nodes: 3, leaseTtlSeconds: 30 });
  alice = await c.sim('n1', ['--queries', '2', '--user', 'alice', '--query', 'SELECT sleep(1000) FROM alice_events', '--query-id-prefix', 'alice-'], 2);
  bob = await c.sim('n2', ['--queries', '1', '--user', 'bob', '--query', 'SELECT count() FROM bob_events', '--query-id-prefix', 'bob-']);
  carol = await c.sim('n3', ['--queries', '1', '--user', 'carol', '--query', 'INSERT INTO carol_events SELECT 1', '--query-id-prefix', 'carol-']);
});

after(async () => {
  await Promise.all(panes.map((p) => p.close()));
  await c?.stop();
});

async function top(...args: string[]): Promise<TmuxPane> {
  const argv = [process.execPath, QUELL_MAIN, 'top', '--coordinator', c.address, ...c.pki.argv(c.pki.anonymous()), ...args];
  const pane = await TmuxPane.start(argv, 80, 24);
  panes.push(pane);
  return pane;
}

/** The list line of a process: node, user, elapsed, memory, then the start of its query. */
const row = (node: string, user: string, query: string): RegExp => new RegExp(`^${node} +${user} +[0-9.hms]+ +[0-9.]+[BKMGT] ${query.replace(/[()]/g, '\\$&')}`);
const has = (lines: string[], re: RegExp): boolean => lines.some((l) => re.test(l));

const ALICE = row('n1', 'alice', 'SELECT sleep(1000) FROM alice_events');
const BOB = row('n2', 'bob', 'SELECT count() FROM bob_events');
const CAROL = row('n3', 'carol', 'INSERT INTO carol_events SELECT 1');

test('top shows every node’s processes with node and user; a typed WHERE filters them; a bad one shows the coordinator’s error; a resize re-lays the screen; q exits 0', async () => {
  const pane = await top('--cluster', 'c3');
  let lines = await pane.waitFor('the sims’ processes', (l) => l.filter((x) => ALICE.test(x)).length === 2 && has(l, BOB) && has(l, CAROL));
  assert.match(lines[0] ?? '', /^quell top · cluster c3 · 4 processes · sort: elapsed · \d\d:\d\d:\d\d$/);
  assert.equal(lines[2], 'NODE USER   ELAPSED  MEMORY QUERY');
  assert.match(lines[23] ?? '', /^q quit/, 'the key help is on the last line');
  // system.coordinators, just above it: this cluster's one coordinator, counting top's own read
  assert.match(lines[22] ?? '', /^COORDINATORS 1: \S+ 127\.0\.0\.1:\d+ \(\d+ running\)$/);
  for (const l of lines) assert.ok([...l].length <= 80, `wider than the terminal: ${l}`);

  await pane.keys('/');
  await pane.waitFor('the WHERE line', (l) => l[1] === 'WHERE _');
  await pane.type("user = 'bob'");
  await pane.keys('Enter');
  lines = await pane.waitFor('only bob', (l) => has(l, BOB) && !has(l, ALICE) && !has(l, CAROL));
  assert.equal(lines[1], "WHERE user = 'bob'");
  assert.match(lines[0] ?? '', / 1 process · /);

  await pane.keys('w', 'C-u');
  await pane.type('nosuch = 1');
  await pane.keys('Enter');
  lines = await pane.waitFor('the error line', (l) => l.includes('Code: 47. UNKNOWN_IDENTIFIER: Unknown identifier: nosuch'));
  assert.ok(!has(lines, BOB), 'no rows of an earlier filter');
  assert.match(lines[0] ?? '', /^quell top · cluster c3 · 0 processes/, 'top stays up');

  await pane.keys('/', 'C-u', 'Enter');
  await pane.waitFor('everything again, no error', (l) => has(l, ALICE) && has(l, BOB) && has(l, CAROL) && !l.some((x) => x.startsWith('Code:')));

  await pane.resize(120, 30);
  lines = await pane.waitFor('the wide layout', (l) => l.length === 30 && /^NODE +USER +QUERY_ID +ELAPSED +MEMORY QUERY$/.test(l[2] ?? ''));
  assert.ok(has(lines, /^n2 +bob +bob-1 +/));

  await pane.keys('q');
  assert.equal(await pane.exitStatus(), 0);
});

test('top shows a node whose agent is stopped as not answering, and its processes again once it answers', async () => {
  const pane = await top();
  await pane.waitFor('carol on n3', (l) => has(l, CAROL));
  const n3 = c.agent('n3').child.proc;
  n3.kill('SIGSTOP');
  try {
    const lines = await pane.waitFor('n3 not answering', (l) => l[2] === 'NOT ANSWERING n3: node_timeout: no answer within 2 s' && !has(l, CAROL));
    assert.ok(has(lines, ALICE) && has(lines, BOB), 'the other nodes’ processes stay');
  } finally {
    n3.kill('SIGCONT');
  }
  await pane.waitFor('n3 answering again', (l) => has(l, CAROL) && !l.some((x) => x.startsWith('NOT ANSWERING')));
  await pane.keys('q');
  assert.equal(await pane.exitStatus(), 0);
});

test('k asks, showing node, user, query id and query; y kills that one query (its sim sees the cancel) and shows the result; the row is gone', async () => {
  const pane = await top('--where', "user = 'bob'");
  await pane.waitFor('bob’s query', (l) => has(l, BOB));

  // a workload's query runs on no connection: K has nothing to kill and says so
  await pane.keys('K');
  await pane.waitFor('K refused', (l) => l.includes('query bob-1 on n2 runs on no connection (thread_id 0): nothing for K to kill'));

  // Esc takes the question back; nothing is sent
  await pane.keys('k');
  await pane.waitFor('the confirmation', (l) => l.includes('Kill this query?  y: kill   n/Esc: cancel'));
  await pane.keys('Escape');
  await pane.waitFor('the list again', (l) => has(l, BOB) && !l.some((x) => x.startsWith('Kill this')));

  await pane.keys('k');
  let lines = await pane.waitFor('the confirmation', (l) => l.includes('Kill this query?  y: kill   n/Esc: cancel'));
  for (const want of ['  node       n2', '  user       bob', '  query id   bob-1', '  query      SELECT count() FROM bob_events']) assert.ok(lines.includes(want), `missing ${want}`);
  assert.ok(lines.some((l) => l.includes("KILL QUERY WHERE query_id = 'bob-1' AND node_id = 'n2' SYNC")));
  assert.equal(eventsOf(bob, 'cancel').length, 0, 'nothing is sent before the answer');

  await pane.keys('y');
  lines = await pane.waitFor('the kill’s result', (l) => l.includes('Kill sent: any key returns to the list'));
  assert.ok(lines.includes('  finished  n2  bob-1  bob'), lines.join('\n'));
  assert.deepEqual(eventsOf(bob, 'cancel').map((e) => e.query_id), ['bob-1']);
  assert.equal(await bob.exited, 0);
  for (const s of [alice, carol]) assert.equal(eventsOf(s, 'cancel').length, 0, 'only the chosen query was killed');

  await pane.keys('x');
  await pane.waitFor('the list without bob', (l) => l.includes('(no processes)') && !has(l, BOB));
  await pane.keys('q');
  assert.equal(await pane.exitStatus(), 0);
});

test('top shows a node whose agent was killed as not answering', async () => {
  await c.addAgent('n4');
  await c.waitForActive(4);
  await c.sim('n4', ['--queries', '1', '--user', 'dave', '--query', 'SELECT 4', '--query-id-prefix', 'dave-']);
  const pane = await top('--cluster', 'c3');
  await pane.waitFor('dave on n4', (l) => has(l, row('n4', 'dave', 'SELECT 4')));
  await c.agent('n4').child.stop('SIGKILL');
  const lines = await pane.waitFor('n4 not answering', (l) => l.some((x) => x.startsWith('NOT ANSWERING n4: node_unreachable')));
  assert.ok(!has(lines, row('n4', 'dave', 'SELECT 4')));
  assert.ok(has(lines, ALICE) && has(lines, CAROL));
  await pane.keys('q');
  assert.equal(await pane.exitStatus(), 0);
});

test('top without a terminal refuses with a usage error (exit 2)', async () => {
  const child = spawnQuell(['top', '--coordinator', c.address, ...c.pki.argv(c.pki.anonymous())]);
  assert.equal(await child.exited, 2);
  assert.match(child.stderr(), /^quell top: needs a terminal/m);
});
