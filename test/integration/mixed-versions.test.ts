import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestCluster, eventsOf, records, sleep } from './harness';
import { PROTOCOL_VERSION } from '../../proto/version';

// A mixed cluster (docs/api.md §Compatibility): the coordinator built from this tree with an agent
// built from the last release's commit, and the reverse, each running a SELECT and a KILL across
// both builds. The release is the commit proto/RELEASED names; while it says `unreleased` there
// is no earlier release, and the other build is this tree's own commit built a second time — the
// test names say which.

const ROOT = path.resolve(__dirname, '..', '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { releasedCommit } = require(path.join(ROOT, 'scripts', 'proto-breaking.js')) as { releasedCommit(text: string): string | null };

const released = releasedCommit(readFileSync(path.join(ROOT, 'proto', 'RELEASED'), 'utf8'));
const git = (...args: string[]): string => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
const head = git('rev-parse', 'HEAD');
const other = released ?? head;
const OTHER = released ? `the released commit ${released.slice(0, 12)}` : `HEAD's commit ${head.slice(0, 12)} built a second time (proto/RELEASED says unreleased: no earlier release to mix with)`;

/**
 * `commit`'s tree, exported with git archive into a temporary directory and built there; its
 * node_modules is this tree's when the lock files are the same, else installed with npm ci.
 * Returns the build's dist/cli/quell.js.
 */
function buildCommit(commit: string, dir: string, protocol?: string): string {
  execFileSync('sh', ['-c', `git archive --format=tar ${commit} | tar -x -C "${dir}"`], { cwd: ROOT, stdio: 'inherit' });
  if (protocol !== undefined) {
    const file = path.join(dir, 'proto', 'version.ts');
    const text = readFileSync(file, 'utf8');
    const patched = text.replace(/PROTOCOL_VERSION = '[^']*'/, `PROTOCOL_VERSION = '${protocol}'`);
    assert.notEqual(patched, text, 'proto/version.ts has PROTOCOL_VERSION');
    writeFileSync(file, patched);
  }
  const sameLock = readFileSync(path.join(dir, 'package-lock.json'), 'utf8') === readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8');
  if (sameLock) symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  else execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir, stdio: 'inherit' });
  execFileSync('npm', ['run', 'build'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  const main = path.join(dir, 'dist', 'cli', 'quell.js');
  assert.ok(existsSync(main), `the build of ${commit} has ${main}`);
  return main;
}

async function killAndSelect(c: TestCluster, tag: string): Promise<void> {
  await Promise.all(['n1', 'n2'].map((n) => c.sim(n, ['--queries', '2', '--user', 'alice', '--query-id-prefix', `${tag}-${n}-`], 2)));
  const seen = records(await c.query(`SELECT query_id, node_id FROM clusterAllReplicas('c2', system.processes) WHERE query_id LIKE '${tag}-%' ORDER BY query_id`));
  assert.deepEqual(seen.map((r) => `${String(r.node_id)} ${String(r.query_id)}`), [`n1 ${tag}-n1-1`, `n1 ${tag}-n1-2`, `n2 ${tag}-n2-1`, `n2 ${tag}-n2-2`]);
  const killed = records(await c.query(`KILL QUERY ON CLUSTER c2 WHERE query_id LIKE '${tag}-%' SYNC`));
  assert.deepEqual(killed.map((r) => `${String(r.node_id)} ${String(r.query_id)} ${String(r.kill_status)}`).sort(), [
    `n1 ${tag}-n1-1 finished`, `n1 ${tag}-n1-2 finished`, `n2 ${tag}-n2-1 finished`, `n2 ${tag}-n2-2 finished`,
  ]);
  const left = records(await c.query(`SELECT count() AS n FROM clusterAllReplicas('c2', system.processes) WHERE query_id LIKE '${tag}-%'`));
  assert.equal(Number(left[0]?.n), 0);
  await c.stopSims();
}

describe(`mixed versions: this tree with ${OTHER}`, { timeout: 600_000 }, () => {
  let dir: string;
  let otherMain: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'quell-other-build-'));
    otherMain = buildCommit(other, dir);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(`coordinator from this tree, agent n2 from ${OTHER}: a SELECT and a KILL across both`, async () => {
    const c = await TestCluster.start({ cluster: 'c2', nodes: 2, agentMain: (n) => (n === 'n2' ? otherMain : undefined) });
    try {
      await killAndSelect(c, 'mx1');
    } finally {
      await c.stop();
    }
  });

  test(`coordinator from this tree, agent n2 from ${OTHER}: a ranked KILL chooses among the agents that plan, and kills nothing where one cannot`, async () => {
    const c = await TestCluster.start({ cluster: 'c2', nodes: 2, agentMain: (n) => (n === 'n2' ? otherMain : undefined) });
    try {
      const sims = await Promise.all(['n1', 'n2'].map((n) => c.sim(n, ['--queries', '1', '--user', 'alice', '--query-id-prefix', `rk-${n}-`])));
      const killed = records(await c.query("KILL QUERY ON CLUSTER c2 WHERE query_id LIKE 'rk-%' ORDER BY query_id DESC LIMIT 1 SYNC"));
      const rows = killed.map((r) => [r.node_id, r.query_id, r.kill_status]).sort();
      await sleep(300);
      if (released) {
        // the released agent reads the plan call as the TEST it is sent as: it lists and kills
        // nothing, and the coordinator shows it as node_error; the choice is made among the rest
        assert.deepEqual(rows, [['n1', 'rk-n1-1', 'finished'], ['n2', '', 'node_error']]);
        assert.match(String(killed.find((r) => r.node_id === 'n2')?.error), /did not list its matches for a ranked kill/);
        assert.equal(eventsOf(sims[1] as (typeof sims)[number], 'cancel').length, 0, 'nothing reached the process on n2');
      } else {
        assert.deepEqual(rows, [['n2', 'rk-n2-1', 'finished']]);
        assert.equal(eventsOf(sims[0] as (typeof sims)[number], 'cancel').length, 0, 'nothing reached the process on n1');
      }
    } finally {
      await c.stop();
    }
  });

  test(`coordinator and agent n2 from ${OTHER}, agent n1 from this tree: a SELECT and a KILL across both`, async () => {
    const c = await TestCluster.start({ cluster: 'c2', nodes: 2, coordinatorMain: otherMain, agentMain: (n) => (n === 'n2' ? otherMain : undefined) });
    try {
      await killAndSelect(c, 'mx2');
    } finally {
      await c.stop();
    }
  });
});

describe('mixed versions: an agent of another protocol gets no statement, and its rows say so', { timeout: 600_000 }, () => {
  let dir: string;
  let otherMain: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'quell-other-protocol-'));
    // this tree's commit, built with another PROTOCOL_VERSION: what Info would say of a quell.v2 agent
    otherMain = buildCommit(head, dir, 'quell.v9');
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(`agent n2 speaking quell.v9: its rows are node_error naming quell.v9 and ${PROTOCOL_VERSION}, nothing reaches its processes`, async () => {
    const c = await TestCluster.start({ cluster: 'c2', nodes: 2, agentMain: (n) => (n === 'n2' ? otherMain : undefined) });
    try {
      const sims = await Promise.all(['n1', 'n2'].map((n) => c.sim(n, ['--queries', '1', '--user', 'alice', '--query-id-prefix', `pv-${n}-`])));
      // the coordinator reads the protocol with its first Info calls to the node (clock offsets)
      const mismatch = new RegExp(`speaks protocol quell\\.v9, this coordinator speaks ${PROTOCOL_VERSION.replace('.', '\\.')}`);
      let read = await c.query("SELECT query_id FROM clusterAllReplicas('c2', system.processes) WHERE query_id LIKE 'pv-%'");
      for (let i = 0; i < 100 && !read.warnings.some((w) => mismatch.test(w)); i++) {
        await sleep(100);
        read = await c.query("SELECT query_id FROM clusterAllReplicas('c2', system.processes) WHERE query_id LIKE 'pv-%'");
      }
      assert.ok(read.warnings.some((w) => w.includes('n2 (node_error') && mismatch.test(w)), read.warnings.join('; '));
      assert.deepEqual(records(read).map((r) => r.query_id), ['pv-n1-1'], 'only the compatible node\'s rows');
      const killed = records(await c.query("KILL QUERY ON CLUSTER c2 WHERE query_id LIKE 'pv-%' SYNC"));
      const byNode = new Map(killed.map((r) => [String(r.node_id), r]));
      assert.equal(byNode.get('n1')?.kill_status, 'finished');
      assert.equal(byNode.get('n2')?.kill_status, 'node_error');
      assert.match(String(byNode.get('n2')?.error), mismatch);
      assert.equal(sims[1]?.proc.exitCode, null, 'the process on n2 got no cancel and keeps running');
    } finally {
      await c.stop();
    }
  });
});
