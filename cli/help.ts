import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PROTOCOL_VERSION } from '../proto/version';
import { COMMAND_SPECS, flagEnvName, type CommandSpec, type FlagSpec } from './flags';

/** `quell --help`: every command, one line each. */
export function mainUsage(): string {
  const names = Object.keys(COMMAND_SPECS);
  const width = Math.max(...names.map((n) => n.length));
  const lines = [
    'usage: quell <command> [flags]',
    '       quell <command> --help    that command, every flag it takes and its default',
    '       quell --version',
    '',
    'commands:',
    ...Object.entries(COMMAND_SPECS).map(([name, spec]: [string, CommandSpec]) => `  ${name.padEnd(width)}  ${spec.summary}`),
  ];
  return `${lines.join('\n')}\n`;
}

function flagDefault(flag: FlagSpec): string {
  if (flag.defaultText !== undefined) return flag.defaultText;
  if (flag.type === 'boolean') return flag.default === true ? 'on' : 'off';
  if (flag.default === undefined) return 'none';
  return flag.default === '' ? "''" : String(flag.default);
}

/** `quell <command> --help`, from the same table that command parses (cli/flags.ts). */
export function commandUsage(name: string, spec: CommandSpec): string {
  const entries = Object.entries(spec.flags);
  const flags = entries
    .filter(([, f]) => f.commandLine !== false)
    .map(([flag, f]) => ({
      left: `${f.short ? `-${f.short}, ` : '    '}--${flag}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`,
      right: `${f.help}${f.commandLineOnly ? '' : ` [env ${flagEnvName(flag)}]`} [default: ${flagDefault(f)}]`,
    }));
  flags.push({ left: '-h, --help', right: 'this help' });
  const width = Math.max(...flags.map((f) => f.left.length));
  const lines = [...spec.usage.map((u, i) => `${i === 0 ? 'usage:' : '      '} quell ${name} ${u}`), '', `${spec.summary.charAt(0).toUpperCase()}${spec.summary.slice(1)}.`, '', 'flags:'];
  for (const f of flags) lines.push(`  ${f.left.padEnd(width)}  ${f.right}`);
  // keys that are never flags (a password): the environment or the --config file only
  const env: Record<string, string> = { ...spec.env };
  for (const [flag, f] of entries) if (f.commandLine === false) env[flagEnvName(flag)] = `${f.help} [default: ${flagDefault(f)}]`;
  if (Object.keys(env).length > 0) {
    lines.push('', 'environment:');
    const envWidth = Math.max(...Object.keys(env).map((e) => e.length));
    for (const [variable, what] of Object.entries(env)) lines.push(`  ${variable.padEnd(envWidth)}  ${what}`);
  }
  lines.push('', ...layeredNotes(name, spec));
  if (spec.notes) lines.push('', ...spec.notes);
  return `${lines.join('\n')}\n`;
}

/** What SIGHUP does, by command (the keys come from the table's `reloads`). */
const RELOADS: Readonly<Record<string, string>> = {
  coordinator: 'the users file is read again: new users log in at once, a removed user\'s next statement fails, kill policies are checked against it again',
  agent: 'the --backend-file (or the --config file\'s backend) is read again: new credentials for the same server',
};

/** Words to lines of at most `width` characters, each indented. */
function wrap(text: string, indent = '  ', width = 100): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(`${indent}${line}`);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(`${indent}${line}`);
  return lines;
}

/** How a command takes its settings (flag > environment > file > default), and what SIGHUP re-reads. */
function layeredNotes(name: string, spec: CommandSpec): string[] {
  const entries = Object.entries(spec.flags);
  const secrets = entries.filter(([, f]) => f.secret).map(([flag, f]) => (f.commandLine === false ? flagEnvName(flag) : `--${flag}`));
  const reloads = entries.filter(([, f]) => f.reloads).map(([flag]) => `--${flag}`);
  const notes = [
    'settings:',
    ...wrap(
      'Every flag is also the environment variable shown with it (QUELL_<FLAG>) and a key of the YAML file --config FILE (the flag without --). ' +
        `A flag wins over the environment, the environment over the file, the file over the default; quell ${name} --print-config shows each setting and where it came from, secrets redacted.`,
    ),
  ];
  if (secrets.length > 0) notes.push(...wrap(`Secrets (${secrets.join(', ')}) never need a command line: each has a file form, --<name>-file FILE (QUELL_<NAME>_FILE), that holds it.`));
  if (reloads.length > 0) {
    notes.push('', 'reload (SIGHUP; it never stops the daemon):');
    notes.push(...wrap(`The --config file is read again and ${reloads.join(', ')} applied: ${RELOADS[name] ?? 'see the README'}. Other settings take a restart (the log names them).`));
  }
  return notes;
}

/** The package's version: package.json is two levels up from dist/cli/ (and from cli/). */
export function packageVersion(): string {
  for (const dir of [path.join(__dirname, '..', '..'), path.join(__dirname, '..')]) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'quell' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not this directory
    }
  }
  return 'unknown';
}

/** `quell --version`: the package's version and the gRPC protocol it speaks. */
export function versionText(): string {
  return `quell ${packageVersion()} (protocol ${PROTOCOL_VERSION}, node ${process.version})\n`;
}
