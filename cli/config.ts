import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { argumentError, UsageError } from './args';
import { flagEnvName, type FlagSpec, type FlagTable } from './flags';

/**
 * A command's settings in layers, driven by its flag table (cli/flags.ts): every flag is also
 * the environment variable QUELL_<FLAG> and the key <flag> of the YAML file `--config FILE`
 * (or QUELL_CONFIG). One rule decides, key by key: **flag > environment > file > default**
 * (etcd reads the same three, but a config file there makes it ignore its flags and
 * environment; here nothing is ever ignored). A secret (`secret` in the table: passwords, the
 * backend URL) has a `<name>-file` companion that names a file holding it, so no secret needs to
 * be on a command line; a secret and its file given at once: the higher layer wins, and in the
 * same layer that is a mistake. Every mistake is one line naming where it is: the file and the
 * key, the variable, or the flag.
 */

export type Source =
  | { readonly kind: 'flag' }
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'default' };

type Value = string | boolean;

export interface Setting {
  readonly value: Value | undefined;
  readonly source: Source;
  /** a secret read from its companion file: the companion's key (`backend-file`) */
  readonly via?: string;
  /** a companion file that a higher layer's secret overrode: which one won */
  readonly unused?: string;
  /** a secret read from its companion file over a lower layer's value: that one */
  readonly over?: string;
}

type Values<O extends FlagTable> = {
  [K in keyof O]: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { default: string } ? string : string | undefined;
};

export interface Config<O extends FlagTable> {
  readonly command: string;
  readonly values: Values<O>;
  /** the arguments besides the flags */
  readonly positionals: readonly string[];
  readonly settings: Readonly<Record<string, Setting>>;
  /** the --config file, when there is one */
  readonly file: string | undefined;
  /** one line each: a world-readable secret file (still used) */
  readonly warnings: readonly string[];
}

/** The ranks of the layers: a higher one wins. */
const RANK: Record<Source['kind'], number> = { default: 0, file: 1, env: 2, flag: 3 };

/** How a source is named in --print-config and in errors. */
export function sourceText(s: Source): string {
  switch (s.kind) {
    case 'flag':
      return 'flag';
    case 'env':
      return `env ${s.name}`;
    case 'file':
      return `file:${s.path}`;
    case 'default':
      return 'default';
  }
}

/** Where a value was given, as a one-line error starts: `--x`, `QUELL_X`, `FILE: key x`. */
function where(key: string, s: Source): string {
  if (s.kind === 'flag') return `--${key}`;
  if (s.kind === 'env') return s.name;
  if (s.kind === 'file') return `${s.path}: key '${key}'`;
  return `the default of --${key}`;
}

export function isWorldReadable(mode: number): boolean {
  return (mode & 0o004) !== 0;
}

/** The companion of a secret: `backend` → `backend-file`. */
export function secretFileKey(key: string): string {
  return `${key}-file`;
}

const NUMBER_RULES: Record<NonNullable<FlagSpec['kind']>, { ok: (n: number) => boolean; text: string }> = {
  uint: { ok: (n) => Number.isInteger(n) && n >= 0, text: 'a non-negative integer' },
  count: { ok: (n) => Number.isInteger(n) && n >= 1, text: 'an integer of at least 1' },
  positive: { ok: (n) => Number.isFinite(n) && n > 0, text: 'a number above 0' },
};

function describe(v: unknown): string {
  if (v === null) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `'${v}'`;
  return `${typeof v} ${String(v)}`;
}

/** A string value's number check (`kind`): the message names where the value came from. */
function checkKind(key: string, spec: FlagSpec, value: string, source: Source): void {
  if (spec.choices && !spec.choices.includes(value)) throw new UsageError(`${where(key, source)} must be one of ${spec.choices.join(', ')}, got '${value}'`);
  if (!spec.kind) return;
  const rule = NUMBER_RULES[spec.kind];
  if (value.trim() === '' || !rule.ok(Number(value))) throw new UsageError(`${where(key, source)} must be ${rule.text}, got '${value}'`);
}

/** A value of the --config file, checked against the flag's type. */
function fromFile(key: string, spec: FlagSpec, raw: unknown, source: Source): Value {
  if (spec.type === 'boolean') {
    if (typeof raw !== 'boolean') throw new UsageError(`${where(key, source)} must be true or false, got ${describe(raw)}`);
    return raw;
  }
  if (spec.kind && typeof raw === 'number') {
    const text = String(raw);
    checkKind(key, spec, text, source);
    return text;
  }
  if (typeof raw !== 'string') throw new UsageError(`${where(key, source)} must be ${spec.kind ? NUMBER_RULES[spec.kind].text : `a string${spec.value ? ` (${spec.value})` : ''}`}, got ${describe(raw)}`);
  checkKind(key, spec, raw, source);
  return raw;
}

const BOOLEANS: Record<string, boolean> = { true: true, '1': true, yes: true, on: true, false: false, '0': false, no: false, off: false };

/** A QUELL_<FLAG> value; empty is the same as unset (an EnvironmentFile's `QUELL_X=`). */
function fromEnv(key: string, spec: FlagSpec, raw: string, source: Source): Value {
  if (spec.type === 'boolean') {
    const b = BOOLEANS[raw.trim().toLowerCase()];
    if (b === undefined) throw new UsageError(`${where(key, source)} must be true or false, got '${raw}'`);
    return b;
  }
  checkKind(key, spec, raw, source);
  return raw;
}

function parseYaml(text: string): unknown {
  // loaded only when there is a file: `quell client`'s start (one bundled file) does not pay for it
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const YAML = require('yaml') as typeof import('yaml');
  return YAML.parse(text);
}

/** The --config file: a YAML map of flag names to values, every key known and of the right type. */
function readConfigFile(file: string, table: FlagTable, command: string): Map<string, Value> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${file}: cannot read the config file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let root: unknown;
  try {
    root = parseYaml(text);
  } catch (err) {
    throw new UsageError(`${file}: not valid YAML: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
  }
  const out = new Map<string, Value>();
  if (root === null || root === undefined) return out;
  if (typeof root !== 'object' || Array.isArray(root)) throw new UsageError(`${file}: must be a map of flag names to values, got ${describe(root)}`);
  for (const [key, raw] of Object.entries(root as Record<string, unknown>)) {
    const spec = table[key];
    if (!spec) throw new UsageError(`${file}: unknown key '${key}'${suggest(key, table)}; the keys are the flags of quell ${command} --help, without --`);
    if (spec.commandLineOnly || key === 'config') throw new UsageError(`${file}: key '${key}' belongs on the command line, not in a config file`);
    out.set(key, fromFile(key, spec, raw, { kind: 'file', path: file }));
  }
  return out;
}

/** ` (did you mean 'listen'?)` for a key one edit away from a real one. */
function suggest(key: string, table: FlagTable): string {
  const near = Object.keys(table).find((k) => editDistanceAtMostOne(k, key));
  return near ? ` (did you mean '${near}'?)` : '';
}

function editDistanceAtMostOne(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1 || a === b) return false;
  let i = 0;
  let j = 0;
  let edits = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
      continue;
    }
    if (++edits > 1) return false;
    if (a.length > b.length) i++;
    else if (b.length > a.length) j++;
    else {
      i++;
      j++;
    }
  }
  return edits + (a.length - i) + (b.length - j) <= 1;
}

/** The flags given on the command line, and no defaults: which keys the flag layer sets. */
function commandLine(argv: string[], table: FlagTable, allowPositionals: boolean): { flags: Map<string, Value>; positionals: string[] } {
  const options = Object.fromEntries(
    Object.entries(table)
      .filter(([, o]) => o.commandLine !== false)
      .map(([name, o]) => [name, { type: o.type, ...(o.short === undefined ? {} : { short: o.short }) }]),
  );
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options, allowPositionals, strict: true }));
  } catch (err) {
    throw new UsageError(argumentError(err), true);
  }
  const out = new Map<string, Value>();
  for (const [key, v] of Object.entries(values)) {
    const spec = table[key];
    if (!spec || (typeof v !== 'string' && typeof v !== 'boolean')) continue;
    if (typeof v === 'string') checkKind(key, spec, v, { kind: 'flag' });
    out.set(key, v);
  }
  return { flags: out, positionals };
}

/** Reads a secret's file: its content without the trailing newline; missing is an error, world-readable a warning. */
function readSecretFile(fileKey: string, file: string, source: Source, warnings: string[]): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${where(fileKey, source)}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    if (isWorldReadable(statSync(file).mode)) warnings.push(`warning: ${file} (${where(fileKey, source)}) holds a secret and every user can read it; chmod o-r it`);
  } catch {
    // read a moment ago: a file that is gone now is still what was read
  }
  let end = text.length;
  while (end > 0 && (text[end - 1] === '\n' || text[end - 1] === '\r')) end--;
  return text.slice(0, end);
}

export interface ResolveOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** the command takes arguments besides its flags (`quell cluster forget NODE`) */
  readonly positionals?: boolean;
}

/**
 * The effective settings of `quell <command> argv`: the flag table's keys, each from the
 * highest layer that sets it, every value checked; throws a UsageError of one line.
 */
export function resolveConfig<O extends FlagTable>(command: string, table: O, argv: string[], opts: ResolveOptions = {}): Config<O> {
  const env = opts.env ?? process.env;
  const { flags, positionals } = commandLine(argv, table, opts.positionals === true);
  const configEnv = env[flagEnvName('config')];
  const file = (flags.get('config') as string | undefined) ?? (configEnv ? configEnv : undefined);
  const fileValues = file === undefined ? new Map<string, Value>() : readConfigFile(file, table, command);
  const settings: Record<string, Setting> = {};
  for (const [key, spec] of Object.entries(table)) {
    const name = flagEnvName(key);
    const rawEnv = spec.commandLineOnly ? undefined : env[name];
    // checked even when a flag overrides it, as every key of the file is: a bad value is never left lying in wait
    const envValue = rawEnv !== undefined && rawEnv !== '' ? fromEnv(key, spec, rawEnv, { kind: 'env', name }) : undefined;
    let setting: Setting;
    if (flags.has(key)) setting = { value: flags.get(key), source: { kind: 'flag' } };
    else if (envValue !== undefined) setting = { value: envValue, source: { kind: 'env', name } };
    else if (file !== undefined && fileValues.has(key)) setting = { value: fileValues.get(key), source: { kind: 'file', path: file } };
    else setting = { value: spec.default, source: { kind: 'default' } };
    settings[key] = setting;
  }
  // a world-readable config file that holds a secret is a warning, as a secret file is
  const warnings: string[] = [];
  if (file !== undefined && [...fileValues.keys()].some((k) => table[k]?.secret)) {
    try {
      if (isWorldReadable(statSync(file).mode)) warnings.push(`warning: ${file} holds a secret and every user can read it; chmod o-r it`);
    } catch {
      // read a moment ago
    }
  }
  for (const [key, spec] of Object.entries(table)) {
    if (!spec.secret) continue;
    const fileKey = secretFileKey(key);
    const direct = settings[key];
    const viaFile = settings[fileKey];
    if (!direct || !viaFile) throw new Error(`flag table of ${command}: the secret ${key} has no ${fileKey}`);
    const hasDirect = direct.value !== undefined && direct.source.kind !== 'default';
    const hasFile = viaFile.value !== undefined && viaFile.source.kind !== 'default';
    if (!hasFile) continue;
    if (hasDirect) {
      const d = RANK[direct.source.kind];
      const f = RANK[viaFile.source.kind];
      if (d === f) throw new UsageError(`${where(key, direct.source)} and ${where(fileKey, viaFile.source)} are both given: keep one`);
      if (d > f) {
        settings[fileKey] = { ...viaFile, unused: `${where(key, direct.source)} wins` };
        continue;
      }
    }
    const value = readSecretFile(fileKey, String(viaFile.value), viaFile.source, warnings);
    settings[key] = { value, source: viaFile.source, via: fileKey, ...(hasDirect ? { over: where(key, direct.source) } : {}) };
  }
  const values = Object.fromEntries(Object.entries(settings).map(([k, s]) => [k, s.value])) as Values<O>;
  return { command, values, positionals, settings, file, warnings };
}

/** A secret as --print-config shows it: a URL (`--backend`) keeps its scheme, user and host; nothing else shows. */
export function redact(value: string, isUrl: boolean): string {
  if (isUrl) {
    try {
      const url = new URL(value);
      if (url.host) return `${url.protocol}//${url.username ? `${url.username}${url.password ? ':<redacted>' : ''}@` : ''}${url.host}${url.pathname}${url.search ? '?<redacted>' : ''}`;
    } catch {
      // not a URL: all of it is secret
    }
  }
  return '<redacted>';
}

function quote(v: Value): string {
  if (typeof v === 'boolean') return String(v);
  return /^[\w./:@,[\]-]+$/.test(v) && !/^(true|false|yes|no|on|off|null|~|\d[\d.e+-]*)$/i.test(v) ? v : JSON.stringify(v);
}

/**
 * `quell <command> --print-config`: one line per key, `key: value  # source`, a file that
 * --config could read back (unset keys are comments); secrets redacted.
 */
export function printConfig<O extends FlagTable>(config: Config<O>, table: O): string {
  const rows = Object.entries(table)
    .filter(([key, spec]) => !spec.commandLineOnly && key !== 'config')
    .map(([key, spec]) => {
      const s = config.settings[key] ?? { value: undefined, source: { kind: 'default' } as const };
      const shown = s.value === undefined ? undefined : spec.secret && typeof s.value === 'string' ? redact(s.value, spec.value === 'URL') : quote(s.value);
      const left = shown === undefined ? `# ${key}:` : `${key}: ${shown}`;
      const notes = [sourceText(s.source)];
      if (s.via) notes.push(`read from --${s.via}`);
      if (s.over) notes.push(`over ${s.over}`);
      if (s.unused) notes.push(`unused: ${s.unused}`);
      if (shown === undefined) notes.push(`unset${spec.defaultText ? ` (${spec.defaultText})` : ''}`);
      return { left, right: notes.join(', ') };
    });
  const width = Math.max(...rows.map((r) => r.left.length));
  const head = [
    `# quell ${config.command}: effective configuration (flag > environment > file > default)`,
    `# config file: ${config.file ?? 'none'}`,
  ];
  return `${[...head, ...rows.map((r) => `${r.left.padEnd(width)}  # ${r.right}`)].join('\n')}\n`;
}

/**
 * A command's settings, with its warnings on stderr; with --print-config, prints them and
 * returns undefined (the command then exits 0).
 */
export function commandConfig<O extends FlagTable>(command: string, table: O, argv: string[], opts: ResolveOptions = {}): Config<O> | undefined {
  const config = resolveConfig(command, table, argv, opts);
  for (const w of config.warnings) process.stderr.write(`quell ${command}: ${w}\n`);
  if (config.settings['print-config']?.value === true) {
    process.stdout.write(printConfig(config, table));
    return undefined;
  }
  return config;
}

/** The keys whose values differ between two configurations of one table. */
export function changedKeys<O extends FlagTable>(before: Config<O>, after: Config<O>): string[] {
  return Object.keys(after.settings).filter((k) => before.settings[k]?.value !== after.settings[k]?.value);
}
