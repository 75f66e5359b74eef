import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { spawnQuell } from '../../common/daemon/child-processes';
import { COMMAND_SPECS, flagEnvName, type CommandSpec } from '../../cli/flags';
import { PROTOCOL_VERSION } from '../../proto/version';
import { DEFAULT_MAX_CONCURRENT_STATEMENTS, DEFAULT_MAX_RESULT_ROWS } from '../../coordinator/statements/statement-runner';
import { DEFAULT_LEASE_TTL_SECONDS } from '../../common/etcd/etcd-layout';
import { DEFAULT_KILL_LOG_MAX_MB } from '../../node-agent/kill/kill-log';

// `quell <command> --help` comes from the table each command parses (cli/flags.ts): every flag
// a command accepts is listed with its default, and a flag it does not is one line and exit 2.
const SPECS = COMMAND_SPECS as Readonly<Record<string, CommandSpec>>;

async function quell(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnQuell(args);
  const code = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

test('quell --help lists every command; quell --version prints the version and the protocol version', async () => {
  const help = await quell(['--help']);
  assert.equal(help.code, 0);
  for (const [name, spec] of Object.entries(SPECS)) assert.match(help.stdout, new RegExp(`^  ${name} +${spec.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  const version = await quell(['--version']);
  assert.equal(version.code, 0);
  const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  assert.match(version.stdout, new RegExp(`^quell ${pkg.version.replace(/\./g, '\\.')} \\(protocol ${PROTOCOL_VERSION}\\b`));
});

for (const [name, spec] of Object.entries(SPECS)) {
  test(`quell ${name} --help lists every flag ${name} parses, each with its default; an unknown flag is one line`, async () => {
    const help = await quell([name, '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.equal(help.stderr, '');
    assert.match(help.stdout, new RegExp(`^usage: quell ${name} `));
    const lines = help.stdout.split('\n');
    for (const [flag, f] of Object.entries(spec.flags)) {
      if (f.commandLine === false) {
        // never a flag (a password): its variable is listed under environment
        assert.match(help.stdout, new RegExp(`^  ${flagEnvName(flag)} +.*\\[default: [^\\]]+\\]$`, 'm'), `${flag} under environment`);
        continue;
      }
      const line = lines.find((l) => new RegExp(`^  ${f.short ? `-${f.short}, ` : '    '}--${flag}\\b`).test(l));
      assert.ok(line, `quell ${name} --help lists --${flag}:\n${help.stdout}`);
      assert.match(line, /\[default: [^\]]+\]$/, `--${flag} shows its default`);
      if (typeof f.default === 'string' && f.default !== '' && f.defaultText === undefined) assert.ok(line.endsWith(`[default: ${f.default}]`), line);
      // every flag shows its variable (flag > environment > file > default)
      if (!f.commandLineOnly) assert.ok(line.includes(`[env ${flagEnvName(flag)}]`), line);
    }
    assert.match(help.stdout.replace(/\s+/g, ' '), /A flag wins over the environment, the environment over the file, the file over the default/);
    assert.match(help.stdout, /--config FILE/);
    if (name === 'coordinator' || name === 'agent') assert.match(help.stdout, /^reload \(SIGHUP; it never stops the daemon\):$/m);
    // -h works as well, anywhere before `--`
    assert.equal((await quell([name, '-x', '-h'])).stdout, help.stdout);

    const unknown = await quell([name, '--no-such-flag', 'v']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stdout, '');
    assert.equal(unknown.stderr, `quell ${name}: unknown flag '--no-such-flag'; see quell ${name} --help\n`);
  });
}

test('a flag without its value and an unknown command are one line each', async () => {
  const missing = await quell(['client', '--coordinator']);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, "quell client: flag '--coordinator' needs a value; see quell client --help\n");
  const command = await quell(['frobnicate']);
  assert.equal(command.code, 2);
  assert.equal(command.stderr, "quell: unknown command 'frobnicate'; see quell --help\n");
});

test('the defaults the table shows are the code defaults', () => {
  assert.equal(COMMAND_SPECS.coordinator.flags['max-concurrent-statements'].default, String(DEFAULT_MAX_CONCURRENT_STATEMENTS));
  assert.equal(COMMAND_SPECS.coordinator.flags['max-result-rows'].default, String(DEFAULT_MAX_RESULT_ROWS));
  assert.equal(COMMAND_SPECS.agent.flags['lease-ttl'].default, String(DEFAULT_LEASE_TTL_SECONDS));
  assert.equal(COMMAND_SPECS.agent.flags['kill-log-max-mb'].default, String(DEFAULT_KILL_LOG_MAX_MB));
});
