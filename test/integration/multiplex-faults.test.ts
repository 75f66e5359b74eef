import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, spawnQuell, type Child } from '../../common/daemon/child-processes';
import { QuellError } from '../../errors/quell-error';
import { QuellClient, type QueryResult } from '../../client/coordinator-client';
import { eventsOf, records, sleep, TestCluster, type ClusterOptions } from './harness';
import { TcpProxy } from './tcp-proxy';

// Issue 14, "Bad input and faults": many statements share one Session stream per agent and one
// per client, so a fault on a stream must fail exactly the statements it carries, and every
// node must still appear in every kill result (docs/statuses.md §Node rows). Each test starts
// its own cluster, because each breaks a part of it.
const NODES = ['n1', 'n2', 'n3'] as const;
/** SYNC kills held in flight at once on every stream */
const HELD = 4;
const TTL = 2;
/** a TEST kill of one process per node: every node answers it with one row */
const FREE_TEST = "KILL QUERY ON CLUSTER c3 WHERE user = 'free' TEST";
const FREE_ROWS = NODES.map((n) => `${n} free-${n}-1 unknown_status`);
/**
 * Each test's bound: a statement a fault left hanging (the held SYNC kills wait up to 600 s,
 * the loop beside a restart runs until told) fails its test instead of stalling the suite.
 */
const BOUNDED = { timeout: 120_000 };

/** `node_id query_id kill_status` per row, sorted: a node row reads `n2  node_unreachable`. */
function lines(r: QueryResult): string[] {
  return records(r)
    .map((x) => `${String(x.node_id)} ${String(x.query_id)} ${String(x.kill_status)}`)
    .sort();
}

type Settled = { readonly result: QueryResult } | { readonly error: unknown };

/** A statement's outcome, held so that a failure before the test looks at it is not unhandled. */
function settle(p: Promise<QueryResult>): Promise<Settled> {
  return p.then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
}

function resultOf(s: Settled): QueryResult {
  if ('error' in s) throw s.error;
  return s.result;
}

async function withCluster(o: ClusterOptions, body: (c: TestCluster) => Promise<void>): Promise<void> {
  const c = await TestCluster.start({ cluster: 'c3', nodes: 3, ...o });
  try {
    await body(c);
  } finally {
    await c.stop();
  }
}

async function startFreeSims(c: TestCluster, nodes: readonly string[] = NODES): Promise<void> {
  for (const n of nodes) await c.sim(n, ['--queries', '1', '--user', 'free', '--query-id-prefix', `free-${n}-`]);
}

interface HeldKills {
  /** each node's sim: HELD processes that ignore their cancel, so each SYNC kill waits on them */
  readonly sims: Map<string, Child>;
  /** statement i kills `<prefix>-<node>-<i+1>` on every node */
  readonly statements: Promise<Settled>[];
}

/**
 * HELD SYNC kills in flight on every agent's stream: each waits on one process per node that
 * ignores its cancel. Resolves once every agent has sent every cancel, so each statement is
 * then waiting on a call on every stream.
 */
async function holdKills(c: TestCluster, client: QuellClient, prefix: string): Promise<HeldKills> {
  const sims = new Map<string, Child>();
  for (const n of NODES) sims.set(n, await c.sim(n, ['--queries', String(HELD), '--user', 'held', '--ignore-cancel', '--query-id-prefix', `${prefix}-${n}-`], HELD));
  const statements = Array.from({ length: HELD }, (_, i) =>
    settle(client.query(`KILL QUERY ON CLUSTER c3 WHERE query_id LIKE '${prefix}-%-${i + 1}' SYNC SETTINGS sync_kill_timeout = 600`, { statementId: `${prefix}-${i + 1}` })),
  );
  for (const sim of sims.values()) await sim.waitFor(() => eventsOf(sim, 'cancel').length >= HELD);
  return { sims, statements };
}

/** Every process holdKills() starts, with the statement that kills it. */
function heldProcesses(prefix: string): { statementId: string; node: string; queryId: string }[] {
  return Array.from({ length: HELD }, (_, i) => NODES.map((node) => ({ statementId: `${prefix}-${i + 1}`, node, queryId: `${prefix}-${node}-${i + 1}` }))).flat();
}

/** Ends the held processes on these nodes: their SYNC rows read finished. */
async function releaseHeld(held: HeldKills, nodes: readonly string[]): Promise<void> {
  await Promise.all(nodes.map((n) => (held.sims.get(n) as Child).stop('SIGTERM', 3_000)));
}

/**
 * Runs `sql` again and again (bounded) until `done` says so; `check` sees every result, so
 * no statement on the way may lose a node.
 */
async function pollStatements(client: QuellClient, sql: string, check: (rows: string[]) => void, done: (rows: string[]) => boolean, what: string): Promise<number> {
  for (let i = 1; i <= 400; i++) {
    const rows = lines(await client.query(sql));
    check(rows);
    if (done(rows)) return i;
    await sleep(25);
  }
  throw new Error(`gave up waiting until ${what}`);
}

/** The rows of node `nodeId` are exactly one of `options`. */
function assertRowsOneOf(rows: string[], nodeId: string, options: readonly string[][]): void {
  const mine = rows.filter((r) => r.startsWith(`${nodeId} `));
  assert.ok(
    options.some((want) => want.length === mine.length && want.every((w, i) => w === mine[i])),
    `${nodeId}'s rows ${JSON.stringify(mine)} are not one of ${JSON.stringify(options)}`,
  );
}

/** n1's and n3's rows are their free processes; n2's are one of `n2` (so never missing). */
function expectN2(rows: string[], n2: readonly string[][]): void {
  assert.deepEqual(
    rows.filter((r) => !r.startsWith('n2 ')),
    ['n1 free-n1-1 unknown_status', 'n3 free-n3-1 unknown_status'],
  );
  assertRowsOneOf(rows, 'n2', n2);
}

/** the transport's reason for a connection that broke under a stream (grpc-js's words) */
const BROKE = /ECONNRESET|EPIPE|Connection dropped|closed/i;

const N2_DOWN = [['n2  node_unreachable'], ['n2  node_inactive']];
const N2_UP = [['n2 free-n2-1 unknown_status']];

/** The node row of `nodeId` in a kill result, with its error text. */
function nodeRow(r: QueryResult, nodeId: string): Record<string, unknown> {
  const rows = records(r).filter((x) => x.node_id === nodeId);
  assert.equal(rows.length, 1, `one row for ${nodeId}`);
  return rows[0] as Record<string, unknown>;
}

test('a stream cut mid-statement fails exactly the calls in flight on it: n2 reads node_unreachable there, n1 and n3 keep their rows; after a cut or a partition the stream reopens', BOUNDED, async () => {
  const direct = await freePort();
  let proxy = await TcpProxy.start(direct);
  try {
    // n2 advertises the proxy: the coordinator's connection to it runs through it, and the proxy can cut it while both stay up
    await withCluster({ agentArgs: (n) => (n === 'n2' ? ['--listen', `127.0.0.1:${direct}`, '--advertise', proxy.address] : []) }, async (c) => {
      // the sims dial n2 itself, so that the cut reaches only the coordinator's stream
      c.agents.set('n2', { ...c.agent('n2'), address: `127.0.0.1:${direct}` });
      await startFreeSims(c);
      const client = c.client();
      // a SYNC kill that waits only on n1: its calls on n2 and n3 have ended (nothing matched there)
      const solo = await c.sim('n1', ['--queries', '1', '--user', 'solo', '--ignore-cancel', '--query-id-prefix', 'solo-']);
      const soloKill = settle(client.query("KILL QUERY ON CLUSTER c3 WHERE user = 'solo' SYNC SETTINGS sync_kill_timeout = 600"));
      await solo.waitFor((e) => e.event === 'cancel');
      const held = await holdKills(c, client, 'cut');
      // n2's stream carries the held calls and still takes new ones
      assert.deepEqual(lines(await client.query(FREE_TEST)), FREE_ROWS);

      assert.ok(proxy.cut() > 0, 'the coordinator was connected to n2 through the proxy');
      await releaseHeld(held, ['n1', 'n3']);
      await solo.stop('SIGTERM', 3_000);
      for (const [i, s] of held.statements.entries()) {
        const r = resultOf(await s);
        assert.deepEqual(lines(r), [`n1 cut-n1-${i + 1} finished`, 'n2  node_unreachable', `n3 cut-n3-${i + 1} finished`], `held statement ${i + 1}`);
        assert.match(String(nodeRow(r, 'n2').error), BROKE, 'the node row says why');
      }
      assert.deepEqual(lines(resultOf(await soloKill)), ['n1 solo-1 finished'], 'a statement not in flight on n2 is untouched by its break');

      // the stream reopens: n2's rows come back, and no statement on the way loses n2
      await pollStatements(client, FREE_TEST, (rows) => expectN2(rows, [...N2_DOWN, ...N2_UP]), (rows) => rows.includes('n2 free-n2-1 unknown_status'), 'n2 answered again');
      for (let i = 0; i < 3; i++) assert.deepEqual(lines(await client.query(FREE_TEST)), FREE_ROWS);
      // on n2 the break stopped the held calls: each SYNC wait ended, logged as waiting
      const waiting = async (): Promise<string[]> =>
        lines(await client.query("SELECT node_id, query_id, kill_status FROM clusterAllReplicas('c3', system.kill_log) WHERE node_id = 'n2' AND query_id LIKE 'cut-%' AND kill_status = 'waiting'"));
      for (let i = 0; i < 200 && (await waiting()).length < HELD; i++) await sleep(25);
      assert.deepEqual(await waiting(), Array.from({ length: HELD }, (_, i) => `n2 cut-n2-${i + 1} waiting`));

      // a partition: n2's address refuses connections while its lease lives. Every statement
      // lists n2 as node_unreachable, and once the address answers the same stream reopens
      const advertised = proxy.address;
      await proxy.close();
      const refused = `connect ECONNREFUSED ${advertised}`;
      const refusedRow = async (): Promise<boolean> => {
        const r = await client.query(FREE_TEST);
        expectN2(lines(r), [['n2  node_unreachable']]);
        return nodeRow(r, 'n2').error === refused;
      };
      for (let i = 0; i < 200 && !(await refusedRow()); i++) await sleep(25);
      assert.ok(await refusedRow(), `n2's row reads ${refused}`);
      proxy = await TcpProxy.start(direct, Number(advertised.split(':')[1]));
      await pollStatements(client, FREE_TEST, (rows) => expectN2(rows, [['n2  node_unreachable'], ...N2_UP]), (rows) => rows.includes('n2 free-n2-1 unknown_status'), 'n2 answered after the partition');
      for (let i = 0; i < 3; i++) assert.deepEqual(lines(await client.query(FREE_TEST)), FREE_ROWS);
    });
  } finally {
    await proxy.close();
  }
});

test('an agent restarted, after a SIGKILL mid-statement and gracefully: in-flight statements read node_unreachable, statements meanwhile a node row, and after the restart its rows', BOUNDED, async () => {
  const port = await freePort();
  const n2Args = ['--listen', `127.0.0.1:${port}`];
  await withCluster({ leaseTtlSeconds: TTL, agentArgs: (n) => (n === 'n2' ? n2Args : []) }, async (c) => {
    await startFreeSims(c);
    const client = c.client();
    const held = await holdKills(c, client, 'crash');
    c.agent('n2').child.proc.kill('SIGKILL');
    await c.agent('n2').child.exited;
    await releaseHeld(held, ['n1', 'n3']);
    for (const [i, s] of held.statements.entries()) {
      const r = resultOf(await s);
      assert.deepEqual(lines(r), [`n1 crash-n1-${i + 1} finished`, 'n2  node_unreachable', `n3 crash-n3-${i + 1} finished`], `held statement ${i + 1}`);
      assert.match(String(nodeRow(r, 'n2').error), BROKE, 'the node row says why');
    }

    // down: n2 is node_unreachable while its lease lives, then node_inactive
    await pollStatements(client, FREE_TEST, (rows) => expectN2(rows, N2_DOWN), (rows) => rows.includes('n2  node_inactive'), 'n2 read node_inactive');
    // restarting at the same address: until its sim is back, n2 is a node row or (live again, nothing to match) no row
    let restarted = false;
    const restart = c.addAgent('n2', 'c3', n2Args);
    const ended = (): void => {
      restarted = true;
    };
    restart.then(ended, ended);
    await pollStatements(client, FREE_TEST, (rows) => expectN2(rows, [...N2_DOWN, []]), () => restarted, 'the agent restarted');
    await restart;
    await startFreeSims(c, ['n2']);
    await pollStatements(client, FREE_TEST, (rows) => expectN2(rows, [...N2_DOWN, [], ...N2_UP]), (rows) => rows.includes('n2 free-n2-1 unknown_status'), 'the restarted n2 answered');
    for (let i = 0; i < 3; i++) assert.deepEqual(lines(await client.query(FREE_TEST)), FREE_ROWS);

    // a graceful restart (SIGTERM: the agent leaves etcd, then drains), with statements in flight
    // on its stream and others sent all along beside it
    const term = await holdKills(c, client, 'term');
    let respawned = false;
    let besideDone = false;
    const beside = (async () => {
      let sent = 0;
      while (!besideDone) {
        // until the new agent is started, n2 cannot be live with nothing to match
        const allowed = respawned ? [...N2_DOWN, [], ...N2_UP] : [...N2_DOWN, ...N2_UP];
        expectN2(lines(await client.query(FREE_TEST)), allowed);
        sent++;
      }
      return sent;
    })().then(
      (sent) => ({ sent }),
      (error: unknown) => ({ error }),
    );
    await c.agent('n2').child.stop('SIGTERM', 10_000);
    await releaseHeld(term, ['n1', 'n3']);
    for (const [i, s] of term.statements.entries()) {
      const rows = lines(resultOf(await s));
      assert.deepEqual(rows.filter((r) => !r.startsWith('n2 ')), [`n1 term-n1-${i + 1} finished`, `n3 term-n3-${i + 1} finished`], `term statement ${i + 1}`);
      // the agent leaves etcd (the coordinator drops its stream), then ends its workloads: either may reach the coordinator first
      assertRowsOneOf(rows, 'n2', [['n2  node_unreachable'], [`n2 term-n2-${i + 1} finished`], ['n2  node_unreachable', `n2 term-n2-${i + 1} finished`]]);
    }
    respawned = true;
    await c.addAgent('n2', 'c3', n2Args);
    await startFreeSims(c, ['n2']);
    await pollStatements(client, FREE_TEST, (rows) => expectN2(rows, [...N2_DOWN, [], ...N2_UP]), (rows) => rows.includes('n2 free-n2-1 unknown_status'), 'n2 answered after its graceful restart');
    besideDone = true;
    const besideOutcome = await beside;
    if ('error' in besideOutcome) throw besideOutcome.error;
    assert.ok(besideOutcome.sent > 0);
    for (let i = 0; i < 3; i++) assert.deepEqual(lines(await client.query(FREE_TEST)), FREE_ROWS);
  });
});

/** A coordinator of the test's own on a fixed address, so that it can be restarted there. */
async function startCoordinator(c: TestCluster, address: string): Promise<Child> {
  const child = spawnQuell(['coordinator', '--etcd', c.etcd.url, '--listen', address, '--default-cluster', c.cluster, ...c.pki.argv(c.pki.coordinator())]);
  await child.waitFor((e) => e.event === 'ready');
  return child;
}

test('a coordinator restarted under its clients: statements in flight fail with NETWORK_ERROR and are never resent; new statements on the same QuellClient run with every node', BOUNDED, async () => {
  await withCluster({}, async (c) => {
    await startFreeSims(c);
    const address = `127.0.0.1:${await freePort()}`;
    let coordinator = await startCoordinator(c, address);
    const alone = new QuellClient(address, { tls: c.pki.anonymous() });
    // a second client that may fail over to the harness's coordinator
    const paired = new QuellClient([address, c.address], { tls: c.pki.anonymous() });
    try {
      const heldAlone = await holdKills(c, alone, 'alone');
      const heldPaired = await holdKills(c, paired, 'paired');
      coordinator.proc.kill('SIGKILL');
      await coordinator.exited;
      for (const s of [...heldAlone.statements, ...heldPaired.statements]) {
        const outcome = await s;
        assert.ok('error' in outcome, 'a statement in flight on a broken client stream fails');
        const err = outcome.error;
        assert.ok(err instanceof QuellError && err.errorName === 'NETWORK_ERROR', String(err));
        assert.match(err.message, new RegExp(`coordinator at ${address}`));
      }
      // the agents stopped the dead coordinator's calls (each SYNC wait ended, logged waiting), and
      // none was sent again: each statement has one pending entry per node, then its waiting one
      const logged = async (): Promise<string[]> =>
        records(await paired.query("SELECT statement_id, query_id, kill_status FROM clusterAllReplicas('c3', system.kill_log) WHERE statement_id LIKE 'alone-%' OR statement_id LIKE 'paired-%'"))
          .map((x) => `${String(x.statement_id)} ${String(x.query_id)} ${String(x.kill_status)}`)
          .sort();
      const held = [...heldProcesses('alone'), ...heldProcesses('paired')];
      const expected = held.flatMap((h) => [`${h.statementId} ${h.queryId} pending`, `${h.statementId} ${h.queryId} waiting`]).sort();
      for (let i = 0; i < 200 && (await logged()).length < expected.length; i++) await sleep(25);
      assert.deepEqual(await logged(), expected);

      // the paired client's next statement goes to the live coordinator, with every node
      assert.deepEqual(lines(await paired.query(FREE_TEST)), FREE_ROWS);
      assert.equal(paired.address, c.address);
      // the lone client has nowhere else to go: a statement now is not started, and says so
      await assert.rejects(alone.query(FREE_TEST), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR' && e.message.includes(`cannot reach the coordinator at ${address}`));

      coordinator = await startCoordinator(c, address);
      assert.deepEqual(lines(await alone.query(FREE_TEST)), FREE_ROWS);
      const all = lines(await alone.query("KILL QUERY ON CLUSTER c3 WHERE user = 'held' TEST"));
      assert.deepEqual(all, held.map((h) => `${h.node} ${h.queryId} unknown_status`).sort());
    } finally {
      alone.close();
      paired.close();
      await coordinator.stop('SIGTERM', 3_000);
    }
  });
});

test("one statement whose work throws on one agent gets that node's node_error; the statements beside it on the same stream, and after it, are untouched", BOUNDED, async () => {
  await withCluster({}, async (c) => {
    await startFreeSims(c);
    // a query text that is not a valid RE2 pattern: match(query_id, query) throws on n2 when it evaluates this row
    await c.sim('n2', ['--queries', '1', '--user', 'odd', '--query', 'SELECT (', '--query-id-prefix', 'odd-']);
    const client = c.client();
    const held = await holdKills(c, client, 'beside');

    const bad = await client.query('KILL QUERY ON CLUSTER c3 WHERE match(query_id, query) SYNC');
    assert.deepEqual(lines(bad), ['n2  node_error']);
    assert.match(String(nodeRow(bad, 'n2').error), /Cannot compile regular expression 'SELECT \('/);
    // a read fails on n2 only, as a warning
    const read = await client.query("SELECT query_id FROM clusterAllReplicas('c3', system.processes) WHERE match(query_id, query)");
    assert.deepEqual(read.rows, []);
    assert.equal(read.warnings.length, 1);
    assert.match(read.warnings[0] ?? '', /^no rows from n2 \(node_error: .*Cannot compile regular expression 'SELECT \('/);

    // the held statements were waiting on the same streams all along: each finishes whole
    await releaseHeld(held, NODES);
    for (const [i, s] of held.statements.entries()) {
      assert.deepEqual(lines(resultOf(await s)), NODES.map((n) => `${n} beside-${n}-${i + 1} finished`), `held statement ${i + 1}`);
    }
    assert.deepEqual(lines(await client.query(FREE_TEST)), FREE_ROWS);
    assert.deepEqual(lines(await client.query("KILL QUERY ON CLUSTER c3 WHERE user = 'odd' TEST")), ['n2 odd-1 unknown_status']);
  });
});
