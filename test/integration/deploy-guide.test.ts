import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QUELL_MAIN, spawnChild, type Child } from '../../common/daemon/child-processes';
import { AGENT_SHARED_WRITES, COORDINATOR_WRITES, agentOwnWrites } from '../../common/etcd/etcd-layout';
import { CH_USER, startClickHouse, type ClickHouseInstance } from './servers/clickhouse-instance';
import { startMariaDb, type MariaDbInstance } from './servers/mariadb-instance';
import { PG_ROLES, startPostgres, type PostgresInstance } from './servers/postgres-instance';

// docs/deploy.md, run as written: every ```sh block in order, each where its first line says
// (`# admin`, `# host1`…`# host3`, `# every host, N = 1, 2, 3`), with the three hosts as
// 127.0.0.1–3 and each host's /etc, /var/lib and /var/backups a directory of its own. A ```text
// block right after a ```sh block is the block's whole stdout (on each host), runs of spaces
// counted as two. `systemctl` lines are carried
// out as systemd would (the unit's ExecStart with its environment, credentials and drop-ins);
// lines ending in `# not run by the test` are skipped, and they must be exactly NOT_RUN.

const REPO = path.resolve(__dirname, '..', '..', '..');
const GUIDE = path.join(REPO, 'docs', 'deploy.md');
const NOT_RUN_MARK = /\s+# not run by the test$/;
/** The only lines the test leaves out: they change the machine (packages, users, ownership, systemd itself). */
const NOT_RUN = [
  'apt-get install etcd-server etcd-client',
  'npm install -g ./quell-0.2.0.tgz',
  // the upgrade section's next release
  'npm install -g ./quell-0.2.1.tgz',
  'useradd --system --home-dir /var/lib/quell --shell /usr/sbin/nologin quell',
  'chown -R etcd:etcd /etc/etcd/pki',
  'chgrp -R quell /etc/quell',
  'systemctl daemon-reload',
];

interface Block {
  readonly line: number;
  readonly where: string;
  readonly body: string[];
  readonly expected?: string;
}

function guideBlocks(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```sh') continue;
    const start = i + 1;
    let end = start;
    while (lines[end] !== '```') end++;
    const body = lines.slice(start, end);
    let j = end + 1;
    while (lines[j] === '') j++;
    let expected: string | undefined;
    if (lines[j] === '```text') {
      let k = j + 1;
      while (lines[k] !== '```') k++;
      expected = lines.slice(j + 1, k).join('\n') + '\n';
    }
    const where = /^# (admin|host[123]|every host, N = 1, 2, 3)$/.exec(body[0] ?? '')?.[1];
    assert.ok(where, `docs/deploy.md:${start + 1}: a sh block starts with where it runs, not ${JSON.stringify(body[0])}`);
    blocks.push({ line: start + 1, where, body: body.slice(1), expected });
    i = end;
  }
  return blocks;
}

let base: string;
let shims: string;
let maria: MariaDbInstance;
let pg: PostgresInstance;
let ch: ClickHouseInstance;
const daemons = new Map<string, Child>();
const etcds = new Map<number, Child>();

function hostRoot(host: number | 'admin'): string {
  return path.join(base, host === 'admin' ? 'admin-root' : `host${host}`);
}

/** The guide's text as it runs here: loopback hosts, each host's own /etc and /var, the private database servers. */
function localize(text: string, host: number | 'admin'): string {
  const root = hostRoot(host);
  return text
    .replace(/10\.0\.0\./g, '127.0.0.')
    .replace(/(^|[\s='":>(-])\/(etc|var\/lib|var\/backups|var\/cache)\//gm, `$1${root}/$2/`)
    .replace(/"\$\(npm prefix -g\)"\/lib\/node_modules\/quell/g, REPO)
    .replace(/127\.0\.0\.1:3306/g, `127.0.0.1:${maria.port}`)
    .replace(/-P 3306/g, `-P ${maria.port}`)
    .replace(/127\.0\.0\.1:5432/g, `127.0.0.1:${pg.port}`)
    .replace(/127\.0\.0\.1:8123/g, `127.0.0.1:${ch.httpPort}`);
}

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QUELL_') && !k.startsWith('ETCDCTL_')));
  return { ...clean, PATH: `${shims}:${process.env.PATH ?? ''}`, ...extra };
}

function bash(script: string, extra: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // its own process group: a timeout ends whatever the block left running too
    const child = spawn('bash', ['-c', `set -eo pipefail\n${script}`], { cwd: path.join(base, 'admin'), env: env(extra), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += '\n(killed after 90 s)';
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, 90_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function run(command: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 60_000, env: env(extra) }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, output: `${stdout}${stderr}` }));
  });
}

/** A unit's [Service] settings as systemd would read them: the unit file, then its drop-ins (template and instance). */
function unitSettings(host: number, unit: string): [string, string][] {
  const dir = path.join(hostRoot(host), 'etc', 'systemd', 'system');
  const template = unit.includes('@') ? unit.replace(/@[^.]*\./, '@.') : unit;
  const files = [path.join(dir, template)];
  for (const d of new Set([`${template}.d`, `${unit}.d`])) {
    const full = path.join(dir, d);
    if (existsSync(full)) files.push(...readdirSync(full).filter((f) => f.endsWith('.conf')).sort().map((f) => path.join(full, f)));
  }
  const settings: [string, string][] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8').replace(/\\\n\s*/g, ' ');
    let section = '';
    for (const line of text.split('\n')) {
      if (/^\s*(#|;|$)/.test(line)) continue;
      const s = /^\[(\w+)\]$/.exec(line.trim());
      if (s) {
        section = s[1] ?? '';
        continue;
      }
      const kv = /^(\w+)=(.*)$/.exec(line.trim());
      if (section === 'Service' && kv) settings.push([kv[1] ?? '', kv[2] ?? '']);
    }
  }
  return settings;
}

/** `systemctl start UNIT` for quell's units: the ExecStart that systemd would run, with its environment; resolves when it serves. */
async function startUnit(host: number, unit: string): Promise<void> {
  assert.ok(!daemons.has(`${host}/${unit}`), `${unit} already runs on host${host}`);
  const root = hostRoot(host);
  const instance = /@([^.]*)\./.exec(unit)?.[1] ?? '';
  const creds = path.join(root, 'run', 'credentials', unit);
  const specifiers = (v: string): string =>
    localize(v, host).replace(/%([iSCd%])/g, (_, c: string) => ({ i: instance, S: path.join(root, 'var', 'lib'), C: path.join(root, 'var', 'cache'), d: creds, '%': '%' })[c] ?? '');
  const vars: Record<string, string> = {};
  const envFiles: string[] = [];
  let execStart = '';
  for (const [key, raw] of unitSettings(host, unit)) {
    const value = specifiers(raw);
    if (key === 'Environment') {
      for (const assignment of value.split(/\s+/).filter(Boolean)) {
        const eq = assignment.indexOf('=');
        vars[assignment.slice(0, eq)] = assignment.slice(eq + 1);
      }
    } else if (key === 'EnvironmentFile') {
      envFiles.push(value);
    } else if (key === 'LoadCredential') {
      const [id, file] = [value.slice(0, value.indexOf(':')), value.slice(value.indexOf(':') + 1)];
      mkdirSync(creds, { recursive: true });
      writeFileSync(path.join(creds, id), readFileSync(file), { mode: 0o400 });
      vars.CREDENTIALS_DIRECTORY = creds;
    } else if (key === 'StateDirectory' || key === 'CacheDirectory') {
      const dir = key === 'StateDirectory' ? 'lib' : 'cache';
      for (const d of value.split(/\s+/)) mkdirSync(path.join(root, 'var', dir, d), { recursive: true, mode: 0o700 });
    } else if (key === 'ExecStart') {
      execStart = value;
    }
  }
  // EnvironmentFile= after Environment=, as systemd applies them; `-` means it may be missing
  for (const file of envFiles) {
    const optional = file.startsWith('-');
    const name = optional ? file.slice(1) : file;
    if (!existsSync(name)) {
      assert.ok(optional, `${unit}: EnvironmentFile ${name} is missing`);
      continue;
    }
    for (const line of readFileSync(name, 'utf8').split('\n')) {
      const kv = /^\s*([A-Za-z_]\w*)=(.*)$/.exec(line);
      if (kv) vars[kv[1] ?? ''] = (kv[2] ?? '').replace(/^"(.*)"$/, '$1');
    }
  }
  // systemd's expansion: ${VAR} is one word, a bare $VAR splits at whitespace
  const argv = execStart.split(/\s+/).filter(Boolean).flatMap((word) => {
    const bare = /^\$(\w+)$/.exec(word);
    if (bare) return (vars[bare[1] ?? ''] ?? '').split(/\s+/).filter(Boolean);
    return [word.replace(/\$\{(\w+)\}/g, (_, v: string) => vars[v] ?? '')];
  });
  const daemon = spawnChild(argv[0] ?? '', argv.slice(1), { env: env(vars) });
  daemons.set(`${host}/${unit}`, daemon);
  // Type=notify: systemctl start returns once the daemon serves (its ready line)
  await daemon.waitFor((e) => e.event === 'ready', 60_000);
}

async function startEtcdUnit(host: number): Promise<void> {
  const root = hostRoot(host);
  const vars: Record<string, string> = {};
  for (const line of readFileSync(path.join(root, 'etc', 'default', 'etcd'), 'utf8').split('\n')) {
    const kv = /^([A-Z_]+)=(.*)$/.exec(line);
    if (kv) vars[kv[1] ?? ''] = kv[2] ?? '';
  }
  mkdirSync(path.dirname(vars.ETCD_DATA_DIR ?? ''), { recursive: true });
  // the one change to the guide's etcd: on loopback a peer dials from 127.0.0.1, not from its
  // own address, so its certificate's IP SAN cannot match the source address
  vars.ETCD_EXPERIMENTAL_PEER_SKIP_CLIENT_SAN_VERIFICATION = 'true';
  const child = spawnChild('etcd', [], { env: env(vars) });
  etcds.set(host, child);
}

/** Before the next block: the etcd members started so far answer (Debian's unit is Type=notify too). */
let etcdHealthy = false;
async function etcdReady(): Promise<void> {
  if (etcdHealthy || etcds.size < 3) return;
  const pki = path.join(base, 'admin', 'etcd-pki');
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await run('etcdctl', ['--endpoints', [1, 2, 3].map((n) => `https://127.0.0.${n}:2379`).join(','), '--cacert', `${pki}/ca.pem`, '--cert', `${pki}/member1.pem`, '--key', `${pki}/member1-key.pem`, 'endpoint', 'health'], { ETCDCTL_API: '3' });
    if (r.code === 0) {
      etcdHealthy = true;
      return;
    }
    if (Date.now() > deadline) assert.fail(`etcd did not become healthy: ${r.output}\n${[...etcds.values()].map((c) => c.stderr().slice(-1500)).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function systemctl(host: number, verb: string, units: string[]): Promise<void> {
  for (const unit0 of units) {
    const unit = unit0.includes('.') ? unit0 : `${unit0}.service`;
    if (unit === 'etcd.service') {
      assert.equal(verb, 'restart');
      await startEtcdUnit(host);
      continue;
    }
    const key = `${host}/${unit}`;
    if (verb === 'stop' || verb === 'restart') {
      const d = daemons.get(key);
      assert.ok(d, `systemctl ${verb} ${unit}: not running on host${host}`);
      daemons.delete(key);
      assert.equal(await d.stop('SIGTERM', 30_000), 0, `${unit} on host${host} stopped uncleanly: ${d.stderr().slice(-2000)}`);
    }
    if (verb === 'enable --now' || verb === 'start' || verb === 'restart') await startUnit(host, unit);
    if (verb === 'reload') {
      const d = daemons.get(key);
      assert.ok(d, `systemctl reload ${unit}: not running on host${host}`);
      const before = d.stderr().length;
      d.proc.kill('SIGHUP');
      const deadline = Date.now() + 10_000;
      while (!/reload/i.test(d.stderr().slice(before)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.match(d.stderr().slice(before), /reload/i, `${unit}: no reload logged after SIGHUP`);
      assert.equal(d.proc.exitCode, null, `${unit} exited on SIGHUP`);
    }
  }
}

/** The daemons' last log lines, for a failure message. */
function daemonLogs(): string {
  if (process.env.DEBUG_DEPLOY) writeFileSync(process.env.DEBUG_DEPLOY, [...daemons, ...[...etcds].map(([h, e]) => [`etcd${h}`, e] as const)].map(([u, d]) => `=== ${u}\n${d.stderr()}`).join('\n'));
  return [...daemons].map(([unit, d]) => `--- ${unit} (exit ${d.proc.exitCode ?? 'running'})\n${d.stderr().split('\n').slice(-6).join('\n')}`).join('\n');
}

const SYSTEMCTL = /^systemctl (enable --now|start|stop|restart|reload) (.+)$/;

/** Runs one block on one host: bash between the systemctl lines, those carried out here; returns stdout. */
async function runBlock(block: Block, host: number | 'admin', skipped: string[]): Promise<string> {
  const vars: NodeJS.ProcessEnv = typeof host === 'number' && block.where.startsWith('every') ? { N: String(host) } : {};
  const chunks: (string | { verb: string; units: string[] })[] = [];
  let script: string[] = [];
  for (const line of block.body) {
    if (NOT_RUN_MARK.test(line)) {
      skipped.push(line.replace(NOT_RUN_MARK, ''));
      continue;
    }
    const sc = SYSTEMCTL.exec(line.replace(/\$N\b/g, String(host)));
    if (sc) {
      chunks.push(script.join('\n'), { verb: sc[1] ?? '', units: (sc[2] ?? '').split(/\s+/) });
      script = [];
    } else {
      assert.ok(!/^\s*systemctl\b/.test(line), `docs/deploy.md:${block.line}: a systemctl line the test cannot carry out: ${line}`);
      script.push(line);
    }
  }
  chunks.push(script.join('\n'));
  let stdout = '';
  for (const chunk of chunks) {
    if (typeof chunk === 'string') {
      if (!chunk.trim()) continue;
      const r = await bash(localize(chunk, host), vars);
      assert.equal(r.code, 0, `docs/deploy.md:${block.line} (${typeof host === 'number' ? `host${host}` : host}) failed (${r.code}):\n${chunk}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
      stdout += r.stdout;
    } else {
      assert.ok(typeof host === 'number', `docs/deploy.md:${block.line}: systemctl on the admin machine`);
      await systemctl(host, chunk.verb, chunk.units);
    }
  }
  return stdout;
}

before(async () => {
  base = mkdtempSync(path.join(os.tmpdir(), 'quell-deploy-guide-'));
  for (const d of ['admin', 'admin-root', 'bin']) mkdirSync(path.join(base, d));
  // what every Debian host has before the guide starts
  for (const host of [1, 2, 3]) for (const d of ['etc/default', 'etc/systemd/system', 'var/lib', 'var/cache', 'var/backups']) mkdirSync(path.join(hostRoot(host), d), { recursive: true });
  shims = path.join(base, 'bin');
  // `quell` on PATH, as `npm install -g` puts it there
  writeFileSync(path.join(shims, 'quell'), `#!/bin/sh\nexec '${process.execPath}' '${QUELL_MAIN}' "$@"\n`);
  chmodSync(path.join(shims, 'quell'), 0o755);
  [maria, pg, ch] = await Promise.all([
    startMariaDb([
      { name: 'quell', password: 'quell-secret', grants: ['PROCESS, CONNECTION ADMIN ON *.*'] },
      { name: 'etl', password: 'etl-secret', grants: ['ALL ON shop.*'] },
    ]),
    startPostgres(),
    startClickHouse(),
  ]);
  assert.equal(PG_ROLES.quell, 'quell-secret', 'the guide says the test servers use quell-secret');
  assert.equal(CH_USER.password, 'quell-secret', 'the guide says the test servers use quell-secret');
});

after(async () => {
  await Promise.all([...daemons.values()].map((d) => d.stop('SIGTERM', 10_000)));
  await Promise.all([...etcds.values()].map((e) => e.stop('SIGTERM', 10_000)));
  await Promise.all([maria?.destroy(), pg?.destroy(), ch?.destroy()]);
  if (base) rmSync(base, { recursive: true, force: true });
});

test("the guide's etcd grants are common/etcd/etcd-layout.ts's", () => {
  const text = readFileSync(GUIDE, 'utf8');
  const grants = (role: string): string[] =>
    [...text.matchAll(new RegExp(`^\\s*etcdctl role grant-permission ${role.replace(/\$/g, '\\$')} (.*)$`, 'gm'))].map((m) => (m[1] ?? '').replace(/\$node/g, 'db1'));
  const expected = (writes: { keys: readonly string[]; prefixes: readonly string[] }, read: boolean): string[] => [
    ...(read ? ['--prefix=true read /quell/v1/'] : []),
    ...writes.prefixes.map((p) => `--prefix=true readwrite ${p}`),
    ...writes.keys.map((k) => `readwrite ${k}`),
  ];
  assert.deepEqual(grants('quell-agent').sort(), expected(AGENT_SHARED_WRITES, true).sort());
  assert.deepEqual(grants('quell-agent-$node').sort(), expected(agentOwnWrites('db1', ['fleet']), false).sort());
  assert.deepEqual(grants('quell-coordinator').sort(), expected(COORDINATOR_WRITES, true).sort());
  assert.deepEqual(grants('quell-admin'), ['--prefix=true readwrite /quell/v1/']);
});

test('every command of docs/deploy.md runs on three loopback hosts and prints what the guide shows', { timeout: 600_000 }, async () => {
  const blocks = guideBlocks(readFileSync(GUIDE, 'utf8'));
  const skipped: string[] = [];
  for (const block of blocks) {
    await etcdReady();
    const hosts: (number | 'admin')[] = block.where === 'admin' ? ['admin'] : block.where.startsWith('every') ? [1, 2, 3] : [Number(block.where.slice(4))];
    for (const host of hosts) {
      const stdout = await runBlock(block, host, skipped);
      // an every-host block prints what the guide shows on each host
      // runs of spaces count as two: --print-config lines its comments up, and paths here are longer
      const columns = (t: string): string => t.replace(/ {2,}/g, '  ');
      if (block.expected !== undefined) assert.equal(columns(stdout), columns(localize(block.expected, host)), `docs/deploy.md:${block.line} (${host === 'admin' ? host : `host${host}`}): the output differs from the guide's\n${daemonLogs()}`);
    }
  }
  for (const line of skipped) assert.ok(NOT_RUN.includes(line), `a line the test does not run: ${line}`);
  for (const line of NOT_RUN) assert.ok(skipped.includes(line), `NOT_RUN names a line the guide no longer has: ${line}`);
});

test("systemd-analyze verify accepts the guide's units with its drop-ins", async () => {
  const dir = path.join(hostRoot(1), 'etc', 'systemd', 'system');
  assert.ok(existsSync(path.join(dir, 'quell-agent@.service.d', 'credentials.conf')), 'the guide ran first');
  // the instance as a file next to the template's drop-in directory, as verify needs one
  const verifyDir = path.join(base, 'verify');
  cpSync(dir, verifyDir, { recursive: true });
  cpSync(path.join(verifyDir, 'quell-agent@.service'), path.join(verifyDir, 'quell-agent@db1.service'));
  const r = await run('systemd-analyze', ['verify', path.join(verifyDir, 'quell-coordinator.service'), path.join(verifyDir, 'quell-agent@db1.service')], { SYSTEMD_UNIT_PATH: `${verifyDir}:` });
  assert.equal(r.code, 0, r.output);
  assert.equal(r.output, '', 'no warnings either');
});
