import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROTOCOL_VERSION } from '../../proto/version';

// The package as a user gets it: `npm pack` of this checkout (built by `npm test`'s pretest;
// packing without scripts is what `npm pack` does after its prepare build), installed into an
// empty folder and globally into a private prefix, then run from there.
const ROOT = path.resolve(__dirname, '..', '..', '..');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let tmp: string;
let tarball: string;
let packed: string[];

// npm's own variables (`npm test` sets them) stay out: each npm below runs as a user's would
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  return { ...clean, QUELL_COMPILE_CACHE: 'off', ...extra };
}

function run(command: string, args: string[], cwd: string, timeoutMs = 60_000, extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: env(extraEnv), timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Installs with what npm ci left in the cache; the registry only for what is missing there. */
async function npmInstall(cwd: string, args: string[]): Promise<string> {
  const r = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', ...args], cwd, 120_000);
  assert.equal(r.code, 0, `npm install ${args.join(' ')}: ${r.stderr}`);
  return r.stdout + r.stderr;
}

before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'quell-pack-'));
  const r = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT);
  assert.equal(r.code, 0, r.stderr);
  const [info] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
  assert.ok(info);
  tarball = path.join(tmp, path.basename(info.filename));
  packed = info.files.map((f) => f.path);
});
after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the tarball holds what runs: no tests, no bench, no TypeScript sources, no source maps', () => {
  assert.ok(packed.includes('dist/cli/quell.js'));
  assert.ok(packed.includes('dist/cli/client-process.js'), 'the client bundle');
  assert.ok(packed.includes('dist/client/index.d.ts'), "the client library's types");
  assert.ok(packed.includes('proto/quell/v1/coordinator.proto'), 'the .proto files (server reflection reads them)');
  assert.ok(packed.includes('deploy/systemd/quell-coordinator.service'), 'the systemd units');
  const unwanted = packed.filter((p) => /^(dist\/)?(test|bench|scripts)\//.test(p) || (p.endsWith('.ts') && !p.endsWith('.d.ts')) || p.endsWith('.map'));
  assert.deepEqual(unwanted, []);
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { private?: unknown };
  assert.equal(pkg.private, undefined, 'publishable');
});

test('npm install of the tarball into an empty folder: npx quell --version and quell local -q run there', async () => {
  const app = path.join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), '{ "name": "app", "version": "1.0.0", "private": true }\n');
  const log = await npmInstall(app, [tarball]);
  // installing a tarball does not build (prepare runs for clones and git dependencies only)
  assert.doesNotMatch(log, /> quell@[^ ]+ (prepare|build|gen)/);
  assert.ok(!existsSync(path.join(app, 'node_modules', 'quell', 'tsconfig.json')));

  const version = await run('npx', ['--no', '--', 'quell', '--version'], app);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, new RegExp(`^quell ${VERSION.replace(/\./g, '\\.')} \\(protocol ${PROTOCOL_VERSION}`));

  const local = await run('npx', ['--no', '--', 'quell', 'local', '--nodes', '1', '-q', "SELECT 1; SELECT node_id FROM system.clusters WHERE cluster = 'local'"], app, 60_000);
  assert.equal(local.code, 0, local.stderr);
  assert.equal(local.stdout, '1\nn1\n');
});

test('npm install -g (into a private prefix) puts a working quell on PATH', async () => {
  const prefix = path.join(tmp, 'global');
  await npmInstall(tmp, ['-g', '--prefix', prefix, tarball]);
  const bin = path.join(prefix, 'bin');
  const version = await run('quell', ['--version'], tmp, 30_000, { PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` });
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, new RegExp(`^quell ${VERSION.replace(/\./g, '\\.')} `));
  const help = await run('quell', ['health', '--help'], tmp, 30_000, { PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` });
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /--tls-ca FILE/);
});
