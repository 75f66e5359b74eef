import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Child } from '../../common/daemon/child-processes';
import { QuellError } from '../../errors/quell-error';
import { eventsOf, records, sleep, TestCluster } from './harness';
import { parseExposition, scrape } from './probe-clients';

// An agent whose clock is 60 s ahead of the coordinator's (Debian's libfaketime in that agent's
// process only). Kill requests carry a wall-clock deadline, which that agent sees as long past:
// it must still refuse (a stalled agent never kills after its node_timeout), but the coordinator
// measures its clock (Info) and the row says the clock is the cause, not the coordinator.

/** libfaketime's preload library (Debian: apt-get install libfaketime). */
function libfaketime(): string {
  for (const dir of readdirSync('/usr/lib', { withFileTypes: true })) {
    const lib = path.join('/usr/lib', dir.name, 'faketime', 'libfaketime.so.1');
    if (dir.isDirectory() && existsSync(lib)) return lib;
  }
  throw new Error('libfaketime.so.1 not found under /usr/lib/*/faketime: install libfaketime (Debian: apt-get install libfaketime)');
}

const SKEWED = 'n2';
const AHEAD_S = 60;
let c: TestCluster;
let metricsUrl: string;

before(async () => {
  // only the wall clock is moved: timers, gRPC deadlines within the process and etcd's lease (kept
  // by its own server) run as usual
  const fake = { LD_PRELOAD: libfaketime(), FAKETIME: `+${AHEAD_S}s`, DONT_FAKE_MONOTONIC: '1' };
  c = await TestCluster.start({
    cluster: 'c3',
    nodes: 3,
    coordinatorArgs: ['--metrics-listen', '127.0.0.1:0'],
    agentEnv: (nodeId) => (nodeId === SKEWED ? fake : {}),
  });
  const url = c.coordinator.events.find((e) => e.event === 'ready')?.metrics;
  assert.ok(typeof url === 'string', 'the coordinator serves metrics');
  metricsUrl = url;
});
after(async () => {
  await c?.stop();
});

async function offsets(): Promise<Record<string, number | undefined>> {
  const res = await scrape(metricsUrl, c.pki.ca);
  const m = parseExposition(res.body);
  return Object.fromEntries(['n1', 'n2', 'n3'].map((n) => [n, m.value('quell_clock_offset_seconds', { node_id: n })]));
}

test('quell_clock_offset_seconds shows the skewed agent about 60 s ahead and the others about 0', async () => {
  const deadline = Date.now() + 15_000;
  let seen = await offsets();
  while (Object.values(seen).some((v) => v === undefined) && Date.now() < deadline) {
    await sleep(100);
    seen = await offsets();
  }
  console.log(`measured clock offsets (s): ${JSON.stringify(seen)}`);
  assert.ok(Math.abs((seen.n2 ?? 0) - AHEAD_S) < 1, `n2: ${seen.n2}`);
  assert.ok(Math.abs(seen.n1 ?? 99) < 0.5, `n1: ${seen.n1}`);
  assert.ok(Math.abs(seen.n3 ?? 99) < 0.5, `n3: ${seen.n3}`);
});

test('a KILL reaching the skewed agent: its row is cant_cancel naming the clock skew, nothing is killed there; the others are normal', async () => {
  const sims = new Map<string, Child>();
  for (const n of ['n1', 'n2', 'n3']) sims.set(n, await c.sim(n, ['--queries', '1', '--user', 'carol', '--query-id-prefix', `skew-${n}-`], 1));
  const rows = records(await c.query("KILL QUERY WHERE user = 'carol' SYNC"));
  assert.deepEqual(rows.map((r) => [r.node_id, r.kill_status]).sort(), [['n1', 'finished'], ['n2', 'cant_cancel'], ['n3', 'finished']]);
  const skewed = rows.find((r) => r.node_id === SKEWED);
  console.log(`the skewed node's row: ${String(skewed?.error)}`);
  assert.match(
    String(skewed?.error),
    /^not killed: the request reached this agent \d+ ms past its deadline by this agent's clock; clock skew of (\d+) ms: this agent's clock is \1 ms ahead of the coordinator's; fix the clock \(NTP\)$/,
  );
  const skewMs = Number(/clock skew of (\d+) ms/.exec(String(skewed?.error))?.[1]);
  assert.ok(Math.abs(skewMs - AHEAD_S * 1000) < 1000, `skew ${skewMs} ms`);
  for (const r of rows.filter((x) => x.node_id !== SKEWED)) assert.equal(r.error, '');
  await sleep(500);
  assert.equal(eventsOf(sims.get(SKEWED) as Child, 'cancel').length, 0, 'the skewed agent cancelled nothing');
  for (const n of ['n1', 'n3']) assert.equal(eventsOf(sims.get(n) as Child, 'cancel').length, 1, `${n} cancelled its query`);
});

test("MariaDB KILL <id> on the skewed agent fails 1105 naming the skew instead of reporting success; the connection stays", async () => {
  await c.stopSims();
  const sim = await c.sim(SKEWED, ['--connections', '1', '--user', 'bob', '--host', 'localhost', '--db', 'shop'], 1);
  const id = Number(eventsOf(sim, 'started')[0]?.thread_id);
  await assert.rejects(c.client().query(`KILL ${id}`, { dialect: 'mariadb' }), (e: unknown) => {
    assert.ok(e instanceof QuellError);
    assert.deepEqual([e.code, e.errorName], [1105, 'HY000']);
    assert.match(e.message, new RegExp(`^KILL was refused by the owning node: n2: thread ${id}: not killed: the request reached this agent \\d+ ms past its deadline by this agent's clock; clock skew of \\d+ ms: this agent's clock is \\d+ ms ahead of the coordinator's; fix the clock \\(NTP\\)$`));
    return true;
  });
  await sleep(300);
  assert.equal(sim.proc.exitCode, null, 'the connection is still open');
  assert.equal(eventsOf(sim, 'ended').length, 0);
});
