import { QuellClient } from '../../client/coordinator-client';
import { canonicalFormatName } from '../../sql/formats';
import { terminalSafe } from '../../sql/formats/terminal-safe';
import { errorText } from '../../errors/error-text';
import { chError, renderError, QuellError, type Dialect } from '../../errors/quell-error';
import { fail, UsageError } from '../args';
import { commandConfig } from '../config';
import { batchStatements, splitStatements } from '../statements';
import { runAndRender, type StatementRunner } from '../render';
import { tlsOptionsFromArgs } from '../tls-args';
import { COMMAND_SPECS } from '../flags';
import { exitWhenWritten } from '../exit-when-written';
import type { TlsOptions } from '../../common/tls';

export interface ClientSettings {
  readonly coordinator: string;
  readonly user: string;
  readonly password: string;
  readonly format: string | undefined;
  readonly dialect?: Dialect;
  readonly tls: TlsOptions;
}

export async function runClient(argv: string[]): Promise<number> {
  const config = commandConfig('client', COMMAND_SPECS.client.flags, argv);
  if (!config) return 0;
  const values = config.values;
  if (values.dialect !== 'clickhouse' && values.dialect !== 'mariadb') throw new UsageError("--dialect must be 'clickhouse' or 'mariadb'");
  // the password: --password, QUELL_PASSWORD, --password-file or QUELL_PASSWORD_FILE, the --config file
  const code = await clientMain({ coordinator: values.coordinator, user: values.user, password: values.password ?? '', format: values.format, dialect: values.dialect, tls: tlsOptionsFromArgs(values) }, values.query);
  return exitWhenWritten(code);
}

/** `quell client`: -q runs statements; without it, stdin statements or the interactive shell. */
export async function clientMain(s: ClientSettings, query: string | undefined): Promise<number> {
  if (s.format !== undefined && !canonicalFormatName(s.format)) return fail(chError('UNKNOWN_FORMAT', `Unknown format ${s.format}`));
  const client = new QuellClient(s.coordinator, { user: s.user, password: s.password, tls: s.tls });
  try {
    if (query === undefined && process.stdin.isTTY) return await interactive(client, s);
    return await runBatch(client, s, batchStatements(query ?? (await readAll(process.stdin))));
  } finally {
    client.close();
  }
}

const out = (t: string): void => {
  process.stdout.write(t);
};
const err = (t: string): void => {
  process.stderr.write(t);
};

async function runBatch(client: StatementRunner, s: ClientSettings, statements: string[]): Promise<number> {
  const defaultFormat = s.format ?? (process.stdout.isTTY ? 'PrettyCompact' : 'TabSeparated');
  for (const sql of statements) {
    try {
      await runAndRender(client, sql, { defaultFormat, formatChosen: s.format !== undefined, dialect: s.dialect ?? 'clickhouse', out, err });
    } catch (e) {
      return fail(e);
    }
  }
  return 0;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** The interactive shell: statements end with `;`, Ctrl-C cancels a running one, Ctrl-D exits. */
export async function interactive(client: QuellClient, s: ClientSettings, onExit?: () => void): Promise<number> {
  const defaultFormat = s.format ?? 'PrettyCompact';
  // loaded here: `quell client -q` never needs it
  const readline = await import('node:readline');
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: 'quell :) ', historySize: 1000 });
  process.stdout.write(`Connected to quell coordinator ${s.coordinator} as ${s.user}. End statements with ';'; Ctrl-D exits.\n\n`);
  let buffer = '';
  let running: AbortController | undefined;
  let chain = Promise.resolve();
  rl.on('SIGINT', () => {
    if (running) running.abort();
    else if (onExit) onExit();
    else {
      // like clickhouse-client: Ctrl-C drops what was typed, statement and line alike
      buffer = '';
      rl.write(null, { ctrl: true, name: 'e' });
      rl.write(null, { ctrl: true, name: 'u' });
      process.stdout.write('^C\n');
      rl.setPrompt('quell :) ');
      rl.prompt();
    }
  });
  rl.prompt();
  await new Promise<void>((resolve) => {
    rl.on('line', (line) => {
      buffer += `${line}\n`;
      const { statements, rest } = splitStatements(buffer);
      buffer = rest.trim() === '' ? '' : rest;
      chain = chain.then(async () => {
        for (const sql of statements) {
          if (/^(exit|quit)$/i.test(sql)) {
            rl.close();
            return;
          }
          running = new AbortController();
          try {
            const r = await runAndRender(client, sql, { defaultFormat, formatChosen: s.format !== undefined, dialect: s.dialect ?? 'clickhouse', out, err, signal: running.signal });
            out(r.summarized ? '\n' : `\n${r.rows} rows in set. Elapsed: ${r.elapsedSeconds.toFixed(3)} sec.\n\n`);
          } catch (e) {
            err(`${terminalSafe(e instanceof QuellError ? renderError(e) : errorText(e))}\n\n`);
          } finally {
            running = undefined;
          }
        }
        rl.setPrompt(buffer ? ':-] ' : 'quell :) ');
        rl.prompt();
      });
    });
    rl.on('close', () => resolve());
  });
  await chain;
  process.stdout.write('Bye.\n');
  return 0;
}
