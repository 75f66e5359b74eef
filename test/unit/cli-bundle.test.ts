import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QUELL_MAIN, spawnChild } from '../../common/daemon/child-processes';
import { TransportSecurity } from '../../common/tls';
import { testPki } from '../integration/tls-fixture';
import { answering, FakeCoordinators } from './fake-coordinators';

// Issue 14 item 3: `quell client` is a whole process per statement, and its code is one file
// (scripts/bundle-cli.js) so that its start does not resolve and wrap ~130 modules; and
// (issue 18 item 5) QuellClient's one transport is Node's own HTTP/2 (client/transport/), so
// that grpc-js is not loaded.
// A module that escaped the bundle (a new import left external) would show here.

const DIST = path.resolve(__dirname, '..', '..');

let coordinatorTls: TransportSecurity;
let fakes: FakeCoordinators;
before(async () => {
  coordinatorTls = TransportSecurity.from((await testPki()).coordinator());
  fakes = new FakeCoordinators(coordinatorTls);
});
after(() => {
  fakes.stopAll();
  coordinatorTls.close();
});

test('quell client loads its code from the bin and the bundle alone: nothing from node_modules, no grpc-js', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-cli-bundle-'));
  try {
    const report = path.join(dir, 'report.js');
    writeFileSync(report, "process.on('exit', () => process.stderr.write(`loaded ${JSON.stringify(Object.keys(require.cache))}\\n`));\n");
    const pki = await testPki();
    const coordinator = await fakes.start(answering('c1'));
    const cli = spawnChild(process.execPath, ['-r', report, QUELL_MAIN, 'client', '--coordinator', coordinator.address, ...pki.argv(pki.anonymous()), '-q', 'SELECT 1'], {
      env: { ...process.env, QUELL_COMPILE_CACHE: 'off' },
    });
    assert.equal(await cli.exited, 0, cli.stderr());
    assert.equal(cli.stdout(), 'c1\n');
    const line = cli.stderr().split('\n').find((l) => l.startsWith('loaded '));
    assert.ok(line, cli.stderr());
    const loaded = (JSON.parse(line.slice('loaded '.length)) as string[]).filter((f) => f !== report).map((f) => path.relative(DIST, f));
    assert.deepEqual(loaded.sort(), ['cli/client-process.js', 'cli/quell.js', 'common/startup/compile-cache.js', 'errors/quell-error.js']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
