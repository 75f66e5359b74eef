import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { quellCommand } from '../../cli/commands/local';

// What `quell local` tells the user to type in another terminal: `quell` only when that is this
// command (a global install, npm link), `npx quell` in a clone or a project folder.

test('quell when the quell on PATH is this command, npx quell otherwise', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-command-'));
  try {
    const main = path.join(dir, 'quell.js');
    const other = path.join(dir, 'other.js');
    writeFileSync(main, '');
    writeFileSync(other, '');
    const bin = path.join(dir, 'bin');
    const elsewhere = path.join(dir, 'elsewhere');
    for (const [d, target] of [[bin, main], [elsewhere, other]] as const) {
      mkdirSync(d);
      symlinkSync(target, path.join(d, 'quell'));
    }
    assert.equal(quellCommand({ PATH: `/nonexistent${path.delimiter}${bin}` }, main), 'quell');
    assert.equal(quellCommand({ PATH: elsewhere }, main), 'npx quell', 'another quell on PATH');
    assert.equal(quellCommand({ PATH: `${elsewhere}${path.delimiter}${bin}` }, main), 'npx quell', 'the first quell on PATH is the one a shell runs');
    assert.equal(quellCommand({ PATH: '' }, main), 'npx quell');
    assert.equal(quellCommand({}, main), 'npx quell');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
