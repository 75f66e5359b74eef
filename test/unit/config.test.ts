import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../../cli/args';
import { changedKeys, printConfig, redact, resolveConfig, secretFileKey, sourceText } from '../../cli/config';
import { COMMAND_SPECS, flagEnvName, type CommandSpec } from '../../cli/flags';

// cli/config.ts: flag > QUELL_<FLAG> > --config file > default, key by key, from the flag table.

const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string, mode = 0o600): string {
  const f = path.join(dir, `f${++n}`);
  writeFileSync(f, text);
  chmodSync(f, mode);
  return f;
}

const COORD = COMMAND_SPECS.coordinator.flags;
const AGENT = COMMAND_SPECS.agent.flags;
const CLIENT = COMMAND_SPECS.client.flags;

function usageError(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, String(err));
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

test('flag > environment > file > default, key by key, each with its source', () => {
  const cfg = file('listen: 127.0.0.1:1\ndefault-cluster: fromfile\nmax-result-rows: 50\nusers: /u.yaml\n');
  const env = { QUELL_LISTEN: '127.0.0.1:2', QUELL_DEFAULT_CLUSTER: 'fromenv' };
  const c = resolveConfig('coordinator', COORD, ['--config', cfg, '--listen', '127.0.0.1:3'], { env });
  assert.equal(c.values.listen, '127.0.0.1:3');
  assert.equal(sourceText(c.settings.listen!.source), 'flag');
  assert.equal(c.values['default-cluster'], 'fromenv');
  assert.equal(sourceText(c.settings['default-cluster']!.source), 'env QUELL_DEFAULT_CLUSTER');
  assert.equal(c.values['max-result-rows'], '50', 'a YAML number for a numeric flag');
  assert.equal(sourceText(c.settings['max-result-rows']!.source), `file:${cfg}`);
  assert.equal(c.values.users, '/u.yaml');
  assert.equal(c.values['max-concurrent-statements'], '100');
  assert.equal(sourceText(c.settings['max-concurrent-statements']!.source), 'default');
  assert.equal(c.values['mysql-listen'], undefined);
  // QUELL_CONFIG names the file when --config does not; an empty variable is unset
  const viaEnv = resolveConfig('coordinator', COORD, [], { env: { QUELL_CONFIG: cfg, QUELL_LISTEN: '' } });
  assert.equal(viaEnv.values.listen, '127.0.0.1:1');
  assert.equal(viaEnv.file, cfg);
  // booleans: a flag, a variable, a YAML boolean
  assert.equal(resolveConfig('client', CLIENT, [], { env: { QUELL_INSECURE: 'true' } }).values.insecure, true);
  assert.equal(resolveConfig('client', CLIENT, ['--config', file('insecure: true\n')], { env: {} }).values.insecure, true);
  assert.equal(resolveConfig('client', CLIENT, [], { env: {} }).values.insecure, false);
  // short flags are flags too
  assert.equal(resolveConfig('client', CLIENT, ['-u', 'bob'], { env: { QUELL_USER: 'alice' } }).values.user, 'bob');
});

test('the environment variable of a flag: QUELL_ and the name in upper case, - as _', () => {
  assert.equal(flagEnvName('etcd-ca'), 'QUELL_ETCD_CA');
  assert.equal(flagEnvName('max-result-rows'), 'QUELL_MAX_RESULT_ROWS');
  assert.equal(flagEnvName('listen'), 'QUELL_LISTEN');
  assert.equal(secretFileKey('backend'), 'backend-file');
  // every key of a layered table is read from its variable
  for (const [name, spec] of Object.entries(COMMAND_SPECS as Readonly<Record<string, CommandSpec>>)) {
    for (const [key, f] of Object.entries(spec.flags)) {
      // a secret's file is read: the _FILE test below
      if (f.commandLineOnly || f.type === 'boolean' || key === 'config' || spec.flags[key.replace(/-file$/, '')]?.secret) continue;
      const value = f.choices?.[0] ?? (f.kind ? '7' : `v-${key}`);
      const c = resolveConfig(name, spec.flags, [], { env: { [flagEnvName(key)]: value } });
      assert.equal(c.settings[key]?.value, value, `${name} ${key}`);
      assert.equal(sourceText(c.settings[key]!.source), `env ${flagEnvName(key)}`);
    }
  }
});

test('every command takes --config and --print-config; every secret has its -file companion in the same table', () => {
  for (const [name, spec] of Object.entries(COMMAND_SPECS as Readonly<Record<string, CommandSpec>>)) {
    assert.ok(spec.flags.config && spec.flags['print-config'], name);
    for (const [key, f] of Object.entries(spec.flags)) {
      if (f.secret) assert.ok(spec.flags[secretFileKey(key)], `${name}: ${key} has ${secretFileKey(key)}`);
    }
  }
  assert.ok(COMMAND_SPECS.agent.flags.backend.secret);
  assert.ok(COMMAND_SPECS.client.flags.password.secret);
  assert.ok(COMMAND_SPECS.coordinator.flags['etcd-password'].secret);
  assert.equal(COMMAND_SPECS.coordinator.flags['etcd-password'].commandLine, false, 'the etcd password is never a flag');
});

test('a file that does not parse, an unknown key, a wrong type: one line naming the file and the key', () => {
  const run = (text: string) => () => resolveConfig('coordinator', COORD, ['--config', file(text)], { env: {} });
  const bad = file('listen: [unclosed\n');
  usageError(() => resolveConfig('coordinator', COORD, ['--config', bad], { env: {} }), new RegExp(`^${bad}: not valid YAML: `));
  usageError(() => resolveConfig('coordinator', COORD, ['--config', path.join(dir, 'nope.yaml')], { env: {} }), `${path.join(dir, 'nope.yaml')}: cannot read the config file: ENOENT`);
  usageError(run('lisen: 127.0.0.1:1\n'), /: unknown key 'lisen' \(did you mean 'listen'\?\); the keys are the flags of quell coordinator --help, without --$/);
  usageError(run('node-id: n1\n'), /: unknown key 'node-id'/);
  usageError(run('listen: [a, b]\n'), /: key 'listen' must be a string \(H:P\), got a list$/);
  usageError(run('listen:\n'), /: key 'listen' must be a string \(H:P\), got nothing \(null\)$/);
  usageError(run('insecure: yes please\n'), /: key 'insecure' must be true or false, got 'yes please'$/);
  usageError(run('max-result-rows: -5\n'), /: key 'max-result-rows' must be a non-negative integer, got '-5'$/);
  usageError(run('max-result-rows: many\n'), /: key 'max-result-rows' must be a non-negative integer, got 'many'$/);
  usageError(run('log-level: loud\n'), /: key 'log-level' must be one of fatal, error, warn, info, debug, trace, silent, got 'loud'$/);
  usageError(run('print-config: true\n'), /: key 'print-config' belongs on the command line, not in a config file$/);
  usageError(run('- listen\n'), /: must be a map of flag names to values, got a list$/);
  // an empty file is no settings
  assert.equal(run('')().values.listen, '127.0.0.1:9700');
  const lease = () => resolveConfig('agent', AGENT, ['--config', file('lease-ttl: 0\n')], { env: {} });
  usageError(lease, /: key 'lease-ttl' must be an integer of at least 1, got '0'$/);
});

test('an environment variable or a flag with a bad value: one line naming it', () => {
  usageError(() => resolveConfig('coordinator', COORD, [], { env: { QUELL_MAX_RESULT_ROWS: 'lots' } }), "QUELL_MAX_RESULT_ROWS must be a non-negative integer, got 'lots'");
  usageError(() => resolveConfig('client', CLIENT, [], { env: { QUELL_INSECURE: 'maybe' } }), "QUELL_INSECURE must be true or false, got 'maybe'");
  usageError(() => resolveConfig('agent', AGENT, [], { env: { QUELL_KILL_LOG_MAX_MB: '0' } }), "QUELL_KILL_LOG_MAX_MB must be a number above 0, got '0'");
  usageError(() => resolveConfig('coordinator', COORD, ['--max-result-rows', 'x'], { env: {} }), "--max-result-rows must be a non-negative integer, got 'x'");
  usageError(() => resolveConfig('coordinator', COORD, ['--no-such'], { env: {} }), "unknown flag '--no-such'");
  // the etcd password is never a flag
  usageError(() => resolveConfig('coordinator', COORD, ['--etcd-password', 'x'], { env: {} }), "unknown flag '--etcd-password'");
  // a bad value in a lower layer is still an error: what a file says is checked whether or not it is used
  usageError(() => resolveConfig('coordinator', COORD, ['--max-result-rows', '5'], { env: { QUELL_MAX_RESULT_ROWS: '-1' } }), /^QUELL_MAX_RESULT_ROWS must be/);
});

test('_FILE: a secret from a file (trailing newline dropped), the higher layer wins, the same layer twice is a mistake', () => {
  const pw = file('s3cret\n');
  const c = resolveConfig('client', CLIENT, ['--password-file', pw], { env: {} });
  assert.equal(c.values.password, 's3cret');
  assert.equal(c.settings.password!.via, 'password-file');
  assert.deepEqual(c.warnings, []);
  assert.equal(resolveConfig('client', CLIENT, [], { env: { QUELL_PASSWORD_FILE: pw } }).values.password, 's3cret');
  assert.equal(resolveConfig('coordinator', COORD, [], { env: { QUELL_ETCD_PASSWORD_FILE: pw } }).values['etcd-password'], 's3cret');
  assert.equal(resolveConfig('coordinator', COORD, [], { env: { QUELL_ETCD_PASSWORD: 'direct' } }).values['etcd-password'], 'direct');
  const url = file('mariadb://quell:pw@127.0.0.1:3306\n');
  assert.equal(resolveConfig('agent', AGENT, ['--config', file(`backend-file: ${url}\n`)], { env: {} }).values.backend, 'mariadb://quell:pw@127.0.0.1:3306');
  // a flag's file over the environment's value, the environment's value over a file's file
  const flagFile = resolveConfig('client', CLIENT, ['--password-file', pw], { env: { QUELL_PASSWORD: 'envpw' } });
  assert.equal(flagFile.values.password, 's3cret');
  assert.match(flagFile.settings.password!.over ?? '', /QUELL_PASSWORD/);
  const envWins = resolveConfig('client', CLIENT, ['--config', file(`password-file: ${pw}\n`)], { env: { QUELL_PASSWORD: 'envpw' } });
  assert.equal(envWins.values.password, 'envpw');
  assert.match(envWins.settings['password-file']!.unused ?? '', /QUELL_PASSWORD wins/);
  usageError(() => resolveConfig('client', CLIENT, ['--password', 'a', '--password-file', pw], { env: {} }), '--password and --password-file are both given: keep one');
  usageError(() => resolveConfig('agent', AGENT, [], { env: { QUELL_BACKEND: 'x', QUELL_BACKEND_FILE: url } }), 'QUELL_BACKEND and QUELL_BACKEND_FILE are both given: keep one');
  // missing: one line naming where it was named; world-readable: a warning, and used
  const missing = path.join(dir, 'missing');
  usageError(() => resolveConfig('client', CLIENT, [], { env: { QUELL_PASSWORD_FILE: missing } }), `QUELL_PASSWORD_FILE: cannot read ${missing}: ENOENT`);
  usageError(() => resolveConfig('coordinator', COORD, ['--etcd-password-file', missing], { env: {} }), `--etcd-password-file: cannot read ${missing}: ENOENT`);
  const open = file('opensesame\n', 0o644);
  const w = resolveConfig('client', CLIENT, ['--password-file', open], { env: {} });
  assert.equal(w.values.password, 'opensesame');
  assert.deepEqual(w.warnings, [`warning: ${open} (--password-file) holds a secret and every user can read it; chmod o-r it`]);
  // a world-readable config file that holds a secret itself
  const cfg = file('password: inline\n', 0o644);
  assert.deepEqual(resolveConfig('client', CLIENT, ['--config', cfg], { env: {} }).warnings, [`warning: ${cfg} holds a secret and every user can read it; chmod o-r it`]);
  // every command: `quell top` and `quell cluster` read their passwords the same way
  assert.equal(resolveConfig('top', COMMAND_SPECS.top.flags, [], { env: { QUELL_PASSWORD_FILE: pw } }).values.password, 's3cret');
  assert.equal(resolveConfig('cluster', COMMAND_SPECS.cluster.flags, ['ls'], { env: { QUELL_ETCD_PASSWORD: 'x' }, positionals: true }).values['etcd-password'], 'x');
  assert.deepEqual(resolveConfig('cluster', COMMAND_SPECS.cluster.flags, ['forget', 'n9', '--cluster', 'c'], { env: {}, positionals: true }).positionals, ['forget', 'n9']);
});

test('--print-config: every key with its source, secrets redacted, readable back as a config file', () => {
  const pw = file('etcdpw\n');
  const cfg = file(`etcd-user: quell\nbackend: mariadb://quell:hunter2@db:3306/x?ssl=1\nnode-id: n1\n`);
  const c = resolveConfig('agent', AGENT, ['--config', cfg, '--listen', '0.0.0.0:9701'], { env: { QUELL_ETCD_PASSWORD_FILE: pw, QUELL_CLUSTER: 'a,b' } });
  const out = printConfig(c, AGENT);
  assert.ok(!out.includes('hunter2') && !out.includes('etcdpw'), out);
  assert.match(out, /^backend: mariadb:\/\/quell:<redacted>@db:3306\/x\?<redacted> +# file:/m);
  assert.match(out, /^etcd-password: <redacted> +# env QUELL_ETCD_PASSWORD_FILE, read from --etcd-password-file$/m);
  assert.match(out, /^listen: 0\.0\.0\.0:9701 +# flag$/m);
  assert.match(out, /^cluster: a,b +# env QUELL_CLUSTER$/m);
  assert.match(out, new RegExp(`^node-id: n1 +# file:${cfg}$`, 'm'));
  assert.match(out, /^lease-ttl: "5" +# default$/m);
  assert.match(out, /^# advertise: +# default, unset \(the --listen address\)$/m);
  assert.ok(!/^print-config|^config:/m.test(out));
  assert.equal(redact('mariadb://u:p@h:1', true), 'mariadb://u:<redacted>@h:1');
  assert.equal(redact('plain password', false), '<redacted>');
  assert.equal(redact('not a url', true), '<redacted>');
  // the output, secrets aside, reads back as the same settings
  const back = file(out.replace(/^(backend|etcd-password):.*$/gm, ''));
  const again = resolveConfig('agent', AGENT, ['--config', back], { env: {} });
  for (const key of ['listen', 'cluster', 'node-id', 'lease-ttl', 'etcd-user']) assert.equal(again.values[key as keyof typeof again.values], c.values[key as keyof typeof c.values], key);
});

test('changedKeys: what a reload would see', () => {
  const a = resolveConfig('coordinator', COORD, ['--config', file('users: /a.yaml\n')], { env: {} });
  const b = resolveConfig('coordinator', COORD, ['--config', file('users: /b.yaml\nlisten: 1.2.3.4:5\n')], { env: {} });
  assert.deepEqual(changedKeys(a, b).sort(), ['config', 'listen', 'users']);
});
