import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROTOCOL_VERSION } from '../../proto/version';

const root = path.resolve(__dirname, '..', '..', '..');
// scripts/proto-breaking.js: what CI runs (npm run lint:proto-breaking)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { releasedCommit } = require(path.join(root, 'scripts', 'proto-breaking.js')) as { releasedCommit(text: string): string | null };

test('proto/RELEASED: one line besides comments, a full commit id or `unreleased`; anything else is refused', () => {
  assert.equal(releasedCommit('# note\n\nunreleased\n'), null);
  const sha = 'a3ac24b14e59bafbcf100aa4b6bafe2e2c521d5a';
  assert.equal(releasedCommit(`# released 0.2.0\n${sha}\n`), sha);
  assert.throws(() => releasedCommit('a3ac24b\n'), /neither a full 40-hex commit id nor `unreleased`/);
  assert.throws(() => releasedCommit(`${sha.toUpperCase()}\n`), /neither/);
  assert.throws(() => releasedCommit('# nothing\n'), /exactly one line besides comments, found 0/);
  assert.throws(() => releasedCommit(`${sha}\nunreleased\n`), /found 2/);
  // the file in the tree is well-formed (CI would fail on it otherwise)
  assert.doesNotThrow(() => releasedCommit(readFileSync(path.join(root, 'proto', 'RELEASED'), 'utf8')));
});

test('the protocol version is the package of the .proto files, and Info carries it', () => {
  for (const f of ['agent', 'coordinator', 'workload', 'values']) {
    const text = readFileSync(path.join(root, 'proto', 'quell', 'v1', `${f}.proto`), 'utf8');
    assert.match(text, new RegExp(`^package ${PROTOCOL_VERSION.replace('.', '\\.')};$`, 'm'), f);
  }
  assert.match(readFileSync(path.join(root, 'proto', 'quell', 'v1', 'agent.proto'), 'utf8'), /string protocol_version = 9;/);
});
