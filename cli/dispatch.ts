import { fail, UsageError } from './args';
import { enableCompileCache } from '../common/compile-cache';
import { rememberResolutions } from '../common/resolve-cache';

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

const USAGE = `usage: quell <command> [options]

commands:
  coordinator  --etcd URLS --listen H:P [--users FILE] [--default-cluster NAME] [--max-concurrent-statements N] [--max-result-rows N] [--http-listen H:P]
               [--mysql-listen H:P] [--mysql-max-sessions-per-user N]
  agent        --etcd URLS --node-id ID --listen H:P [--advertise H:P] [--cluster NAME[,NAME...]] [--lease-ttl S]
               [--backend mariadb://|mysql://|postgres://|clickhouse://USER:PASS@HOST:PORT]
               [--kill-log-dir DIR] [--kill-log-max-mb N]
               coordinator and agent: [--metrics-listen H:P] Prometheus metrics at /metrics (HTTPS with the daemon's certificate)
  client       [--coordinator H:P[,H:P...]] [-u USER] [--password P] [-q SQL] [-f FORMAT] [--dialect clickhouse|mariadb]
  sim          --agent H:P [--queries N] [--user U] [--query TEXT] [--query-id-prefix P] ...
               --agent H:P --connections N --user U --host H --db D [--in-transaction] [--critical]
               --agent H:P --mutations N --table T [--database D] [--command TEXT] [--mutation-id-prefix P] [--parts N] [--part-ms MS] [--created-ago S]
  cluster      ls | forget NODE [--cluster C] | kills | drop-kill KILL_ID   (--etcd URLS)
  local        [--nodes N] [-q SQL]
  certs        init DIR [--nodes N1,N2,...] [--users U1,...] [--san HOST|IP,...] [--trust-domain quell] [--days N]
               (--san: the names clients reach the coordinator and agents by, put in their certificates)
  top          [--coordinator H:P[,H:P...]] [-u USER] [--where EXPR] [--cluster C]  (password in QUELL_PASSWORD)

etcd access (coordinator, agent, cluster): --etcd URLS [--etcd-ca FILE] [--etcd-cert FILE --etcd-key FILE]
               [--etcd-user USER]  (its password in QUELL_ETCD_PASSWORD, never a flag)
`;

/** A `quell` process: runs the command named by the first argument, and sets the exit code. */
export async function runMain(commands: Commands): Promise<void> {
  dropIpServernameWarning();
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
  const command = commands[name];
  if (!command) {
    process.stderr.write(`quell: unknown command '${name}'\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  enableCompileCache(name, { resolutions: rememberResolutions });
  try {
    const code = await (await command())(rest);
    // a daemon that stopped itself for a failure (node-agent/membership.ts) keeps its status
    process.exitCode = code || process.exitCode;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`quell ${name}: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.exitCode = fail(err);
  }
}
