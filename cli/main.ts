#!/usr/bin/env node
import { fail, UsageError } from './args';

type Command = (argv: string[]) => Promise<number>;

// Each command loads only its own modules: an agent's start-up (and so its join) does not pay
// for the coordinator's code, and the other way round.
const COMMANDS: Record<string, () => Promise<Command>> = {
  coordinator: async () => (await import('./commands/coordinator')).runCoordinator,
  agent: async () => (await import('./commands/agent')).runAgent,
  client: async () => (await import('./commands/client')).runClient,
  sim: async () => (await import('./commands/sim')).runSim,
  cluster: async () => (await import('./commands/cluster')).runCluster,
  local: async () => (await import('./commands/local')).runLocal,
};

const USAGE = `usage: quell <command> [options]

commands:
  coordinator  --etcd URLS --listen H:P [--users FILE] [--default-cluster NAME] [--max-concurrent-statements N] [--max-result-rows N]
  agent        --etcd URLS --node-id ID --listen H:P [--advertise H:P] [--cluster NAME[,NAME...]] [--lease-ttl S]
               [--backend mariadb://|mysql://|postgres://|clickhouse://USER:PASS@HOST:PORT]
  client       [--coordinator H:P[,H:P...]] [-u USER] [--password P] [-q SQL] [-f FORMAT] [--dialect clickhouse|mariadb]
  sim          --agent H:P [--queries N] [--user U] [--query TEXT] [--query-id-prefix P] ...
               --agent H:P --connections N --user U --host H --db D [--in-transaction] [--critical]
               --agent H:P --mutations N --table T [--database D] [--command TEXT] [--mutation-id-prefix P] [--parts N] [--part-ms MS]
  cluster      ls | forget NODE [--cluster C] | kills | drop-kill KILL_ID   (--etcd URLS)
  local        [--nodes N] [-q SQL]
`;

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    process.exitCode = name ? 0 : 2;
    return;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`quell: unknown command '${name}'\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  try {
    process.exitCode = await (await command())(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`quell ${name}: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.exitCode = fail(err);
  }
}

void main();
