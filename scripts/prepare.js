#!/usr/bin/env node
// npm's `prepare`: builds dist/ after `npm ci`/`npm install` in a clone, and before `npm pack`.
//
// The first `npx quell` in a clone links the clone into npx's cache, which runs `prepare` again
// with its output hidden: that was an 18 s rebuild, in silence, of a dist/ that `npm ci` had
// just built. Under npx (npm_command=exec) the build is skipped when dist/ has the command;
// when it must build there, it says so on the terminal, since npx shows nothing of it.
'use strict';
const { spawnSync } = require('node:child_process');
const { closeSync, existsSync, openSync, writeSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const npx = process.env.npm_command === 'exec';
if (npx && existsSync(path.join(root, 'dist', 'cli', 'quell.js'))) process.exit(0);

const note = 'quell: building dist/ from the TypeScript sources (npm run build, about 20 s)\n';
if (!npx) process.stderr.write(note);
else {
  try {
    const tty = openSync('/dev/tty', 'w');
    writeSync(tty, note);
    closeSync(tty);
  } catch {
    // no terminal: nobody to tell
  }
}
const r = spawnSync('npm', ['run', 'build'], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
