#!/usr/bin/env node
// `npm start`: installs what a fresh clone lacks (node modules, the build, etcd), then runs
// `quell local` in the foreground.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const onPath = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

if (!existsSync(path.join(root, 'node_modules', '@grpc', 'grpc-js'))) run('npm', ['ci']);
// the bin (package.json), as `npx quell` runs it
const bin = path.join(root, 'dist', 'cli', 'quell.js');
if (!existsSync(bin)) run('npm', ['run', 'build']);
if (!onPath('etcd')) {
  if (process.getuid && process.getuid() === 0 && onPath('apt-get')) {
    run('apt-get', ['update', '-qq']);
    run('apt-get', ['install', '-y', '-qq', 'etcd-server']);
  } else {
    console.error('quell: etcd is not on PATH; install it (Debian: sudo apt-get install etcd-server) and run npm start again');
    process.exit(1);
  }
}
const r = spawnSync(process.execPath, [bin, 'local', ...process.argv.slice(2)], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 0);
