import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestCluster, records } from './harness';

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
function buildCommit(commit: string, dir: string): string {
  execFileSync('sh', ['-c', `git archive --format=tar ${commit} | tar -x -C "${dir}"`], { cwd: ROOT, stdio: 'inherit' });
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

  test(`coordinator and agent n2 from ${OTHER}, agent n1 from this tree: a SELECT and a KILL across both`, async () => {
    const c = await TestCluster.start({ cluster: 'c2', nodes: 2, coordinatorMain: otherMain, agentMain: (n) => (n === 'n2' ? otherMain : undefined) });
    try {
      await killAndSelect(c, 'mx2');
    } finally {
      await c.stop();
    }
  });
});
