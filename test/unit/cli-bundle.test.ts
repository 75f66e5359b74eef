import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, QUELL_MAIN, spawnChild } from '../../common/child-processes';
import { testPki } from '../integration/tls-fixture';

// Issue 14 item 3: `quell client` is a whole process per statement, and its code is one file
// (scripts/bundle-cli.js) so that its start does not resolve and wrap ~130 modules. A module
// that escaped the bundle (a new import left external) would show here.

const DIST = path.resolve(__dirname, '..', '..');

test('quell client loads its code from the bin and the bundle alone, nothing from node_modules', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-cli-bundle-'));
  try {
    const report = path.join(dir, 'report.js');
    writeFileSync(report, "process.on('exit', () => process.stderr.write(`loaded ${JSON.stringify(Object.keys(require.cache))}\\n`));\n");
    const pki = await testPki();
    // nothing listens there: the client still loads everything a statement needs before it fails
    const closed = `127.0.0.1:${await freePort()}`;
    const cli = spawnChild(process.execPath, ['-r', report, QUELL_MAIN, 'client', '--coordinator', closed, ...pki.argv(pki.anonymous()), '-q', 'SELECT 1'], {
      env: { ...process.env, QUELL_COMPILE_CACHE: 'off' },
    });
    const code = await cli.exited;
    assert.match(cli.stderr(), /NETWORK_ERROR/);
    assert.notEqual(code, 0);
    const line = cli.stderr().split('\n').find((l) => l.startsWith('loaded '));
    assert.ok(line, cli.stderr());
    const loaded = (JSON.parse(line.slice('loaded '.length)) as string[]).filter((f) => f !== report).map((f) => path.relative(DIST, f));
    assert.deepEqual(loaded.sort(), ['cli/client-process.js', 'cli/quell.js', 'common/compile-cache.js', 'common/resolve-cache.js']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
