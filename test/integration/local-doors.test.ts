import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import { promisify } from 'node:util';
import { QUELL_MAIN } from '../../common/daemon/child-processes';

// `quell local` as a user runs it: the lines it prints are commands that work, pasted as printed,
// and Ctrl-C leaves no door listening and no run directory behind.

const run = promisify(execFile);

/** The stderr of a running `quell local` until `done` holds (or it exits). */
function waitForOutput(child: ReturnType<typeof spawn>, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (done(text)) {
        child.stderr?.off('data', onData);
        resolve(text);
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`quell local exited (${code}) early:\n${text}`)));
  });
}

/** The shell words of the line starting with `label`, quotes removed (the printed commands use only single quotes). */
function commandOf(text: string, label: string): string[] {
  const line = text.split('\n').find((l) => l.startsWith(label));
  assert.ok(line, `no '${label}' line in:\n${text}`);
  return line.slice(label.length).trim().replace(/ \((coordinator|agent)\)$/, '').replace(/'/g, '').split(/\s+/);
}

function refused(address: string): Promise<boolean> {
  const url = new URL(address.includes('://') ? address : `tcp://${address}`);
  return new Promise((resolve) => {
    const s = net.connect(Number(url.port), url.hostname);
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
}

test('quell local prints a working command for every door and Ctrl-C stops them all', async () => {
  const child = spawn(process.execPath, [QUELL_MAIN, 'local', '--nodes', '2'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const text = await waitForOutput(child, (t) => (t.match(/\(agent\)\n/g) ?? []).length === 2);
    const mariadb = commandOf(text, 'mariadb:');
    assert.equal(mariadb[0], 'mariadb');
    const sql = await run(mariadb[0] ?? '', [...mariadb.slice(1), '-N', '-e', "SELECT node_id FROM system.clusters WHERE cluster = 'local' ORDER BY node_id"]);
    assert.equal(sql.stdout, 'n1\nn2\n');

    const curl = commandOf(text, 'http:');
    assert.equal(curl[0], 'curl');
    const http = await run('curl', ['-sS', '--fail', ...curl.slice(1)]);
    assert.equal(http.stdout, '1\n');

    const metricsLines = text.split('\n').filter((l) => /https:\/\/\S+\/metrics/.test(l));
    assert.equal(metricsLines.length, 3, text);
    const metricsUrls = metricsLines.map((l) => /(https:\/\/\S+\/metrics)/.exec(l)?.[1] ?? '');
    const ca = /--cacert (\S+)/.exec(metricsLines[0] ?? '')?.[1] ?? '';
    const coordinatorMetrics = await run('curl', ['-sS', '--fail', '--cacert', ca, metricsUrls[0] ?? '']);
    assert.match(coordinatorMetrics.stdout, /^quell_statements_total\{/m);
    for (const url of metricsUrls.slice(1)) {
      const agent = await run('curl', ['-sS', '--fail', '--cacert', ca, url]);
      assert.match(agent.stdout, /^# TYPE quell_\w+/m);
    }

    const etcdPort = /starting etcd\.\.\. http:\/\/127\.0\.0\.1:(\d+)/.exec(text)?.[1] ?? '';
    const coordinatorPort = /coordinator 127\.0\.0\.1:(\d+)/.exec(text)?.[1] ?? '';
    const doors = [etcdPort, coordinatorPort, /-P(\d+)/.exec(mariadb.join(' '))?.[1] ?? '', new URL(curl.at(-1) ?? '').port, ...metricsUrls.map((u) => new URL(u).port)];
    assert.ok(doors.every((p) => /^\d+$/.test(p)), `ports ${doors.join(',')}`);
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    for (const port of doors) assert.ok(await refused(`127.0.0.1:${port}`), `port ${port} still answers after Ctrl-C`);
    assert.equal(existsSync(ca), false, 'the run directory outlived the run');
  } finally {
    // a failed assertion still stops the run the way Ctrl-C does: SIGKILL would orphan its children
    if (child.exitCode === null) {
      child.kill('SIGINT');
      await exited;
    }
  }
});

test('quell local -q answers and exits', async () => {
  const { stdout, stderr } = await run(process.execPath, [QUELL_MAIN, 'local', '--nodes', '1', '-q', "SELECT node_id FROM system.clusters WHERE cluster = 'local' ORDER BY node_id"]);
  assert.equal(stdout, 'n1\n');
  assert.match(stderr, /^mariadb: {2}mariadb -h127\.0\.0\.1 -P\d+ -udefault --ssl-verify-server-cert --ssl-ca=\S+ca\.pem$/m);
  assert.match(stderr, /^http: {5}curl --cacert \S+ 'https:\/\/127\.0\.0\.1:\d+\/\?query=SELECT\+1'$/m);
  assert.match(stderr, /^metrics: {2}curl --cacert \S+ https:\/\/127\.0\.0\.1:\d+\/metrics \(coordinator\)$/m);
});
