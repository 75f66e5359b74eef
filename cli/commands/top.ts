import { QuellClient } from '../../client/coordinator-client';
import { UsageError } from '../args';
import { tlsOptionsFromArgs } from '../tls-args';
import { COMMAND_SPECS } from '../flags';
import { commandConfig } from '../config';
import { TopModel } from '../top/model';
import { TopApp } from '../top/app';

/**
 * `quell top`: a full-screen, self-refreshing view of a cluster's processes (cli/top/). The
 * password comes from QUELL_PASSWORD (or the file QUELL_PASSWORD_FILE names), never a flag; a user certificate needs none.
 */
export async function runTop(argv: string[]): Promise<number> {
  const config = commandConfig('top', COMMAND_SPECS.top.flags, argv);
  if (!config) return 0;
  const { values } = config;
  if (!process.stdin.isTTY || !process.stdout.isTTY) throw new UsageError('needs a terminal: run it with stdin and stdout on a TTY (use `quell client -q` for scripts)');
  const client = new QuellClient(values.coordinator, { user: values.user, password: values.password ?? '', tls: tlsOptionsFromArgs(values) });
  // the terminal module is loaded only here: it sizes itself on the terminal when loaded
  const { TopScreen } = await import('../top/screen');
  const app = new TopApp(client, new TopModel(values.cluster, values.where), new TopScreen());
  // a signal still leaves the terminal as it was found
  const onSignal = (sig: NodeJS.Signals): void => void app.quit(sig === 'SIGINT' ? 130 : sig === 'SIGHUP' ? 129 : 143);
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT'];
  for (const s of signals) process.on(s, onSignal);
  try {
    return await app.run();
  } finally {
    for (const s of signals) process.off(s, onSignal);
    client.close();
  }
}
