import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PROTOCOL_VERSION } from '../proto/version';
import { COMMAND_SPECS, type CommandSpec, type FlagSpec } from './flags';

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
  const flags = Object.entries(spec.flags).map(([flag, f]) => ({
    left: `${f.short ? `-${f.short}, ` : '    '}--${flag}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`,
    right: `${f.help} [default: ${flagDefault(f)}]`,
  }));
  flags.push({ left: '-h, --help', right: 'this help' });
  const width = Math.max(...flags.map((f) => f.left.length));
  const lines = [...spec.usage.map((u, i) => `${i === 0 ? 'usage:' : '      '} quell ${name} ${u}`), '', `${spec.summary.charAt(0).toUpperCase()}${spec.summary.slice(1)}.`, '', 'flags:'];
  for (const f of flags) lines.push(`  ${f.left.padEnd(width)}  ${f.right}`);
  if (spec.env) {
    lines.push('', 'environment:');
    const envWidth = Math.max(...Object.keys(spec.env).map((e) => e.length));
    for (const [variable, what] of Object.entries(spec.env)) lines.push(`  ${variable.padEnd(envWidth)}  ${what}`);
  }
  if (spec.notes) lines.push('', ...spec.notes);
  return `${lines.join('\n')}\n`;
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
