import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolutionIdentity } from '../../common/startup/resolve-cache';

// common/startup/resolve-cache.ts: a remembered resolution is used while its build and install are the
// same; a path that is gone, or a new build or install, resolves afresh.

const RESOLVE_MODULE = path.resolve(__dirname, '..', '..', 'common', 'startup', 'resolve-cache.js');

function fixture(): { dir: string; run: (identity: string) => { value: string; paths: Record<string, string> } } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-resolve-cache-'));
  const file = path.join(dir, 'paths.json');
  writeFileSync(
    path.join(dir, 'runner.js'),
    `const r = require(${JSON.stringify(RESOLVE_MODULE)}).enableResolveCache(${JSON.stringify(file)}, process.argv[2]);\nconst value = require('./x');\nr.save();\nprocess.stdout.write(JSON.stringify({ value }));\n`,
  );
  const run = (identity: string): { value: string; paths: Record<string, string> } => {
    const r = spawnSync(process.execPath, [path.join(dir, 'runner.js'), identity], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { paths } = JSON.parse(readFileSync(file, 'utf8')) as { paths: Record<string, string> };
    return { value: (JSON.parse(r.stdout) as { value: string }).value, paths };
  };
  return { dir, run };
}

test('a resolution is remembered, and one whose file is gone resolves afresh', () => {
  const f = fixture();
  try {
    writeFileSync(path.join(f.dir, 'x.js'), "module.exports = 'file';\n");
    const first = f.run('build-1');
    assert.equal(first.value, 'file');
    assert.deepEqual(first.paths, { [`${f.dir}\0./x`]: path.join(f.dir, 'x.js') });
    rmSync(path.join(f.dir, 'x.js'));
    mkdirSync(path.join(f.dir, 'x'));
    writeFileSync(path.join(f.dir, 'x', 'index.js'), "module.exports = 'directory';\n");
    const second = f.run('build-1');
    assert.equal(second.value, 'directory');
    assert.deepEqual(second.paths, { [`${f.dir}\0./x`]: path.join(f.dir, 'x', 'index.js') });
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test('another build or install forgets every remembered resolution', () => {
  const f = fixture();
  try {
    mkdirSync(path.join(f.dir, 'x'));
    writeFileSync(path.join(f.dir, 'x', 'index.js'), "module.exports = 'directory';\n");
    assert.equal(f.run('build-1').value, 'directory');
    // x.js now comes first in Node's resolution
    writeFileSync(path.join(f.dir, 'x.js'), "module.exports = 'file';\n");
    assert.equal(f.run('build-2').value, 'file');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test("the identity changes with the entry script's build", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-resolve-id-'));
  try {
    const entry = path.join(dir, 'main.js');
    writeFileSync(entry, '');
    utimesSync(entry, 1_000, 1_000);
    const before = resolutionIdentity(entry);
    assert.equal(typeof before, 'string');
    utimesSync(entry, 2_000, 2_000);
    assert.notEqual(resolutionIdentity(entry), before);
    assert.equal(resolutionIdentity(path.join(dir, 'missing.js')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
