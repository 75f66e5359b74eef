import { fail, UsageError } from './args';
import { enableCompileCache } from '../common/startup/compile-cache';
import { rememberResolutions } from '../common/startup/resolve-cache';
import { COMMAND_SPECS, type CommandSpec } from './flags';
import { commandUsage, mainUsage, versionText } from './help';

export type Command = (argv: string[]) => Promise<number>;
/** Each command by name, loaded on first use. */
export type Commands = Readonly<Record<string, () => Promise<Command>>>;

// grpc-js passes an IP address (https://127.0.0.1:2379) as the TLS server name, and Node
// warns about that once per process (DEP0123) on stderr, where a daemon's one-line errors go.
// The certificate is still verified against the address's IP SAN; only the warning is dropped.
function dropIpServernameWarning(): void {
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const options = args[1];
    const code = typeof options === 'object' && options !== null ? (options as { code?: unknown }).code : args[2];
    if (code !== 'DEP0123') emitWarning(...args);
  }) as typeof process.emitWarning;
}

/** A `quell` process: runs the command named by the first argument, and sets the exit code. */
export async function runMain(commands: Commands): Promise<void> {
  dropIpServernameWarning();
  const [name, ...rest] = process.argv.slice(2);
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(versionText());
    return;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainUsage());
    process.exitCode = name ? 0 : 2;
    return;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`quell: unknown command '${name}'; see quell --help\n`);
    process.exitCode = 2;
    return;
  }
  // --help anywhere before `--`: the command's own usage, without loading the command
  const end = rest.indexOf('--');
  const flags = end < 0 ? rest : rest.slice(0, end);
  if (flags.includes('--help') || flags.includes('-h')) {
    const spec = (COMMAND_SPECS as Readonly<Record<string, CommandSpec>>)[name];
    process.stdout.write(spec ? commandUsage(name, spec) : mainUsage());
    return;
  }
  enableCompileCache(name, { resolutions: rememberResolutions });
  try {
    const code = await (await command())(rest);
    // a daemon that stopped itself for a failure (node-agent/presence/membership.ts) keeps its status
    process.exitCode = code || process.exitCode;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`quell ${name}: ${err.message}${err.seeHelp ? `; see quell ${name} --help` : ''}\n`);
      process.exitCode = 2;
      return;
    }
    process.exitCode = fail(err);
  }
}
