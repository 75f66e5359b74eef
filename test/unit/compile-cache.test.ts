import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// common/startup/compile-cache.ts: modules come from the cache on the second run, a changed module is
// never run from its old code (even at the same length, which is all V8 checks), and modules
// see the same require, module and exports as under Node's own loader.

const CACHE_MODULE = path.resolve(__dirname, '..', '..', 'common', 'startup', 'compile-cache.js');

interface Run {
  readonly value: string;
  readonly hits: number;
  readonly misses: number;
  readonly checks: Record<string, unknown>;
}

function fixture(): { dir: string; run: (env?: Record<string, string>) => Run; setValue: (v: string) => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-compile-cache-'));
  const setValue = (v: string): void => writeFileSync(path.join(dir, 'm.js'), `#!/usr/bin/env node\nexports.value = '${v}';\nexports.checks = { resolved: require.resolve('./n'), n: require('./n'), main: require.main === process.mainModule, self: module.exports === exports, dirname: __dirname, thisIsExports: this === exports };\n`);
  setValue('a');
  writeFileSync(path.join(dir, 'n.js'), 'module.exports = 42;\n');
  writeFileSync(
    path.join(dir, 'runner.js'),
    `const cc = require(${JSON.stringify(CACHE_MODULE)});\ncc.enableCompileCache('test');\nconst m = require('./m');\nprocess.stdout.write(JSON.stringify({ value: m.value, checks: m.checks, ...cc.compileCacheStats() }));\n`,
  );
  const run = (env: Record<string, string> = {}): Run => {
    const r = spawnSync(process.execPath, [path.join(dir, 'runner.js')], { env: { ...process.env, QUELL_COMPILE_CACHE: path.join(dir, 'cache'), ...env }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Run;
  };
  return { dir, run, setValue };
}

test('the second run compiles from the cache, and modules see what Node gives them', () => {
  const f = fixture();
  try {
    const first = f.run();
    assert.deepEqual([first.value, first.hits, first.misses], ['a', 0, 2]);
    assert.equal(readdirSync(path.join(f.dir, 'cache')).filter((n) => n.endsWith('.bin')).length, 1);
    const second = f.run();
    assert.deepEqual([second.value, second.hits, second.misses], ['a', 2, 0]);
    assert.deepEqual(second.checks, { resolved: path.join(f.dir, 'n.js'), n: 42, main: true, self: true, dirname: f.dir, thisIsExports: true });
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test('a module changed at the same length runs its new code', () => {
  const f = fixture();
  try {
    f.run();
    f.setValue('b');
    const changed = f.run();
    assert.deepEqual([changed.value, changed.hits, changed.misses], ['b', 1, 1]);
    assert.deepEqual([f.run().value, f.run().hits], ['b', 2]);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test('QUELL_COMPILE_CACHE=off leaves every module to Node', () => {
  const f = fixture();
  try {
    const off = f.run({ QUELL_COMPILE_CACHE: 'off' });
    assert.deepEqual([off.value, off.hits, off.misses], ['a', 0, 0]);
    assert.throws(() => readdirSync(path.join(f.dir, 'cache')), /ENOENT/);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test('an unreadable cache file is ignored and replaced', () => {
  const f = fixture();
  try {
    f.run();
    const [name] = readdirSync(path.join(f.dir, 'cache')).filter((n) => n.endsWith('.bin'));
    writeFileSync(path.join(f.dir, 'cache', name as string), 'not a cache');
    assert.deepEqual(f.run().misses, 2);
    assert.deepEqual(f.run().hits, 2);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test('writing the cache removes files left unwritten for a month, and keeps the rest', () => {
  const f = fixture();
  try {
    const cache = path.join(f.dir, 'cache');
    mkdirSync(cache);
    const old = Date.now() / 1000 - 31 * 24 * 3600;
    for (const name of ['agent-0123456789abcdef.bin', 'agent-0123456789abcdef.paths.json', 'client-x.bin.1.tmp']) {
      writeFileSync(path.join(cache, name), 'old');
      utimesSync(path.join(cache, name), old, old);
    }
    writeFileSync(path.join(cache, 'client-recent.bin'), 'recent');
    writeFileSync(path.join(cache, 'notes.txt'), 'not ours');
    utimesSync(path.join(cache, 'notes.txt'), old, old);
    f.run();
    const left = readdirSync(cache).sort();
    assert.deepEqual(left.filter((n) => !n.startsWith('test-')), ['client-recent.bin', 'notes.txt']);
    assert.equal(left.filter((n) => n.startsWith('test-') && n.endsWith('.bin')).length, 1);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});
