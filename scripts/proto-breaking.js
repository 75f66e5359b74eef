#!/usr/bin/env node
// CI's compatibility guard (docs/api.md §Compatibility): buf breaking against the released
// contract that proto/RELEASED names. Exit 0 with a line saying why when nothing is released yet;
// exit 1 when the file is malformed, names a commit that is not in HEAD's history, or buf finds a
// breaking change.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const file = path.join(root, 'proto', 'RELEASED');

/** The commit proto/RELEASED names, null for `unreleased`; throws on anything else. */
function releasedCommit(text) {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length !== 1) throw new Error(`proto/RELEASED must hold exactly one line besides comments, found ${lines.length}`);
  const [value] = lines;
  if (value === 'unreleased') return null;
  if (!/^[0-9a-f]{40}$/.test(value)) throw new Error(`proto/RELEASED: "${value}" is neither a full 40-hex commit id nor \`unreleased\``);
  return value;
}

function git(...args) {
  return spawnSync('git', args, { cwd: root, encoding: 'utf8' });
}

function main() {
  let commit;
  try {
    commit = releasedCommit(readFileSync(file, 'utf8'));
  } catch (err) {
    console.error(`proto-breaking: ${err.message}`);
    return 1;
  }
  if (commit === null) {
    console.log('proto-breaking: proto/RELEASED says `unreleased`: no released contract to compare with, buf breaking not run');
    return 0;
  }
  if (git('cat-file', '-e', `${commit}^{commit}`).status !== 0) {
    console.error(`proto-breaking: proto/RELEASED names ${commit}, which this clone does not have (a shallow clone, or not a commit of main)`);
    return 1;
  }
  if (git('merge-base', '--is-ancestor', commit, 'HEAD').status !== 0) {
    console.error(`proto-breaking: proto/RELEASED names ${commit}, which is not in HEAD's history`);
    return 1;
  }
  const buf = require.resolve('@bufbuild/buf/bin/buf');
  const against = `.git#ref=${commit},subdir=proto`;
  console.log(`proto-breaking: buf breaking proto --against '${against}'`);
  try {
    execFileSync(buf, ['breaking', 'proto', '--against', against], { cwd: root, stdio: 'inherit' });
  } catch {
    console.error(`proto-breaking: proto/ breaks the contract released at ${commit}: see docs/api.md §Compatibility (a breaking change needs quell.v2)`);
    return 1;
  }
  console.log('proto-breaking: no breaking change since the release');
  return 0;
}

if (require.main === module) process.exit(main());
module.exports = { releasedCommit };
