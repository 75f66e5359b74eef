/**
 * Every command's flags, in one table that is the source both of parsing (cli/args.ts parse())
 * and of `quell <command> --help` (cli/help.ts): a flag that parses is a flag that the help
 * lists, with its default. Nothing here loads a command's code (`--help` stays fast, and the
 * client bundle, scripts/bundle-cli.js, carries the table at no cost).
 */

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** The value parse() gives when the flag is absent (parseArgs' default). */
  readonly default?: string | boolean;
  /** The value's placeholder in the help (`--listen H:P`); string flags only. */
  readonly value?: string;
  readonly help: string;
  /** The default as the help says it, when the code computes it (or there is none: `none`). */
  readonly defaultText?: string;
  /**
   * A number, checked wherever the value comes from (flag, QUELL_<FLAG>, --config file):
   * `uint` a non-negative integer, `count` an integer of at least 1, `positive` a number above 0.
   */
  readonly kind?: 'uint' | 'count' | 'positive';
  /** The values a string flag takes, checked wherever the value comes from. */
  readonly choices?: readonly string[];
  /**
   * A secret: redacted by --print-config, and it has a `<name>-file` companion (QUELL_<NAME>_FILE)
   * so that it never needs to be on a command line (cli/config.ts).
   */
  readonly secret?: boolean;
  /** Not a command-line flag: only QUELL_<NAME> or the --config file (a password that must never show in ps). */
  readonly commandLine?: false;
  /** Only on the command line: neither QUELL_<NAME> nor a --config key (--config, --print-config). */
  readonly commandLineOnly?: true;
  /** SIGHUP applies a new value without a restart (cli/reload.ts). */
  readonly reloads?: true;
}

export type FlagTable = Readonly<Record<string, FlagSpec>>;

export interface CommandSpec {
  /** One line for `quell --help`. */
  readonly summary: string;
  /** What follows `quell <command>` in the usage line(s): positionals and required flags. */
  readonly usage: readonly string[];
  readonly flags: FlagTable;
  /** Environment variables the command reads, with what for. */
  readonly env?: Readonly<Record<string, string>>;
  /** Lines after the flags: sub-commands, where to read more. */
  readonly notes?: readonly string[];
}

/** The environment variable a flag could be read from (`--etcd-ca` → `QUELL_ETCD_CA`). */
export function flagEnvName(flag: string): string {
  return `QUELL_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Transport security: every daemon and client (docs/security.md). */
export const TLS_FLAGS = {
  'tls-ca': { type: 'string', value: 'FILE', help: 'CA bundle (PEM) that peers are verified against', defaultText: 'none: TLS needs it unless --insecure' },
  'tls-cert': { type: 'string', value: 'FILE', help: "this process's certificate (PEM, follows rotations)", defaultText: 'none' },
  'tls-key': { type: 'string', value: 'FILE', help: 'the private key of --tls-cert (PEM)', defaultText: 'none' },
  insecure: { type: 'boolean', default: false, help: 'plaintext gRPC, no TLS at all (tests and throw-away clusters only)' },
  'trust-domain': { type: 'string', default: 'quell', value: 'TD', help: 'SPIFFE trust domain of the identities in certificates' },
} as const satisfies FlagTable;

/** etcd access: every command that talks to etcd; the password is never a flag. */
export const ETCD_FLAGS = {
  etcd: { type: 'string', default: 'http://127.0.0.1:2379', value: 'URLS', help: 'etcd endpoints, comma-separated (https:// for TLS)' },
  'etcd-ca': { type: 'string', value: 'FILE', help: "CA that etcd's certificate is verified against", defaultText: 'the system CAs' },
  'etcd-cert': { type: 'string', value: 'FILE', help: 'client certificate for etcd (PEM)', defaultText: 'none' },
  'etcd-key': { type: 'string', value: 'FILE', help: 'the private key of --etcd-cert', defaultText: 'none' },
  'etcd-user': { type: 'string', value: 'USER', help: 'etcd user (its password from QUELL_ETCD_PASSWORD or --etcd-password-file)', defaultText: 'none: no authentication' },
  'etcd-password': { type: 'string', secret: true, commandLine: false, help: 'the password of --etcd-user (never a flag: no process list shows it)', defaultText: 'none' },
  'etcd-password-file': { type: 'string', value: 'FILE', help: 'file holding the password of --etcd-user', defaultText: 'none' },
} as const satisfies FlagTable;

/** `--config FILE` and `--print-config`: every command's (cli/config.ts). */
const CONFIG_FLAGS = {
  config: { type: 'string', value: 'FILE', help: 'YAML file of settings, keys are the flag names (flag > QUELL_<FLAG> > file > default)', defaultText: 'none' },
  'print-config': { type: 'boolean', default: false, commandLineOnly: true, help: 'print the effective settings, where each came from (secrets redacted), and exit' },
} as const satisfies FlagTable;

/** The daemons' logging (common/daemon/logger.ts). */
const LOG_FLAGS = {
  'log-level': {
    type: 'string',
    default: 'info',
    value: 'LEVEL',
    reloads: true,
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    help: 'fatal|error|warn|info|debug|trace|silent',
  },
  'log-format': { type: 'string', value: 'json|pretty', choices: ['json', 'pretty'], help: 'json: JSON log lines even on a terminal', defaultText: 'pretty on a terminal, else json' },
} as const satisfies FlagTable;

const METRICS_LISTEN = {
  type: 'string',
  value: 'H:P',
  help: 'serve Prometheus metrics at /metrics (HTTPS with the daemon certificate)',
  defaultText: 'none: no metrics endpoint',
} as const satisfies FlagSpec;

const COORDINATOR_FLAGS = {
  ...CONFIG_FLAGS,
  ...ETCD_FLAGS,
  ...TLS_FLAGS,
  listen: { type: 'string', default: '127.0.0.1:9700', value: 'H:P', help: 'gRPC address for clients' },
  users: { type: 'string', value: 'FILE', reloads: true, help: 'users file (YAML): users, passwords, rights', defaultText: 'none: one user `default`, no password' },
  'default-cluster': { type: 'string', default: 'default', value: 'NAME', help: 'cluster of a statement without ON CLUSTER' },
  'max-concurrent-statements': { type: 'string', default: '100', value: 'N', kind: 'uint', help: 'statements running at once; more are refused' },
  'max-result-rows': { type: 'string', default: '1000000', value: 'N', kind: 'uint', help: "rows a statement's result may hold" },
  'mysql-listen': { type: 'string', value: 'H:P', help: 'MySQL protocol front door', defaultText: 'none: door closed' },
  'mysql-max-sessions-per-user': { type: 'string', default: '64', value: 'N', kind: 'uint', help: "MySQL sessions one user may have open at once (0: no limit; MariaDB's max_user_connections)" },
  'http-listen': { type: 'string', value: 'H:P', help: "ClickHouse's HTTP interface front door", defaultText: 'none: door closed' },
  'metrics-listen': METRICS_LISTEN,
  ...LOG_FLAGS,
  'coordinator-id': { type: 'string', value: 'ID', help: "this coordinator's id in etcd (one live coordinator per id)", defaultText: 'HOST-PORT of --listen' },
  'lease-ttl': { type: 'string', default: '5', value: 'S', kind: 'count', help: 'TTL in seconds of its registration lease in etcd (how long a dead coordinator stays listed)' },
} as const satisfies FlagTable;

const AGENT_FLAGS = {
  ...CONFIG_FLAGS,
  ...ETCD_FLAGS,
  ...TLS_FLAGS,
  'node-id': { type: 'string', value: 'ID', help: "this node's id (required; one live agent per id)", defaultText: 'none' },
  listen: { type: 'string', default: '127.0.0.1:9701', value: 'H:P', help: 'gRPC address for the coordinator and workloads' },
  advertise: { type: 'string', value: 'H:P', help: 'address the coordinator dials', defaultText: 'the --listen address' },
  cluster: { type: 'string', default: 'default', value: 'NAME[,NAME…]', help: 'clusters this node is a member of' },
  'lease-ttl': { type: 'string', default: '5', value: 'S', kind: 'count', help: 'TTL in seconds of the liveness lease in etcd' },
  backend: {
    type: 'string',
    value: 'URL',
    secret: true,
    help: 'database server whose processes the agent serves: mariadb://|mysql://|postgres://|clickhouse://USER:PASS@HOST:PORT (prefer --backend-file: a flag shows in ps)',
    defaultText: 'none: workloads attach over gRPC',
  },
  'backend-file': {
    type: 'string',
    value: 'FILE',
    reloads: true,
    help: 'file holding the --backend URL; SIGHUP re-reads it (new credentials for the same server)',
    defaultText: 'none',
  },
  'workload-socket': { type: 'string', value: 'PATH', help: 'unix socket where local workloads attach without a certificate', defaultText: 'none' },
  'kill-log-dir': { type: 'string', value: 'DIR', help: 'where the kill log is kept (must survive reboots)', defaultText: '$XDG_STATE_HOME/quell/kill-log/<node-id>' },
  'kill-log-max-mb': { type: 'string', default: '64', value: 'N', kind: 'positive', help: 'size in MiB at which the current kill-log file rotates' },
  'metrics-listen': METRICS_LISTEN,
  ...LOG_FLAGS,
} as const satisfies FlagTable;

const CLIENT_FLAGS = {
  ...CONFIG_FLAGS,
  coordinator: { type: 'string', default: '127.0.0.1:9700', value: 'H:P[,H:P…]', help: 'coordinator address(es)' },
  user: { type: 'string', short: 'u', default: 'default', value: 'USER', help: 'user the statements run as' },
  password: { type: 'string', value: 'P', secret: true, help: 'password of --user (prefer QUELL_PASSWORD or --password-file: a flag shows in ps)', defaultText: 'empty' },
  'password-file': { type: 'string', value: 'FILE', help: 'file holding the password of --user', defaultText: 'none' },
  query: { type: 'string', short: 'q', value: 'SQL', help: 'statements to run (;-separated), then exit', defaultText: 'none: stdin, or a shell on a TTY' },
  format: { type: 'string', short: 'f', value: 'FORMAT', help: 'output format', defaultText: 'PrettyCompact on a TTY, else TabSeparated' },
  dialect: { type: 'string', default: 'clickhouse', value: 'clickhouse|mariadb', choices: ['clickhouse', 'mariadb'], help: 'session dialect (decides a bare SHOW PROCESSLIST)' },
  ...TLS_FLAGS,
} as const satisfies FlagTable;

const SIM_FLAGS = {
  ...CONFIG_FLAGS,
  agent: { type: 'string', default: '127.0.0.1:9701', value: 'H:P|unix:PATH', help: 'agent to attach to' },
  queries: { type: 'string', default: '1', value: 'N', help: 'queries to register' },
  user: { type: 'string', default: 'default', value: 'U', help: 'user of the processes' },
  query: { type: 'string', default: 'SELECT sleep(3600)', value: 'TEXT', help: 'query text of the processes' },
  'query-id-prefix': { type: 'string', value: 'P', help: 'query ids are P1, P2, …', defaultText: 'sim-<pid>-' },
  'initial-query-id': { type: 'string', default: '', value: 'ID', help: 'initial_query_id of the processes' },
  'ignore-cancel': { type: 'boolean', default: false, help: 'never acknowledge a cancel (a kill that escalates still ends them)' },
  'ignore-terminate': { type: 'boolean', default: false, help: "ignore a kill's escalated terminate as well as its cancel" },
  'cancel-delay-ms': { type: 'string', default: '0', value: 'MS', help: 'wait this long before acknowledging a cancel' },
  uncancellable: { type: 'boolean', default: false, help: 'register the processes as uncancellable' },
  'memory-mb': { type: 'string', value: 'N', help: 'memory each query reports holding (system.processes memory_usage), in MiB', defaultText: '4' },
  mutations: { type: 'string', value: 'N', help: 'register N mutations instead of queries (needs --table)', defaultText: 'none' },
  database: { type: 'string', default: 'default', value: 'D', help: 'database of the mutations' },
  table: { type: 'string', value: 'T', help: 'table of the mutations', defaultText: 'none' },
  command: { type: 'string', default: 'DELETE WHERE 1', value: 'TEXT', help: 'command text of the mutations' },
  'mutation-id-prefix': { type: 'string', value: 'P', help: 'mutation ids are P1, P2, …', defaultText: 'mutation_<pid>_' },
  parts: { type: 'string', default: '100', value: 'N', help: 'parts each mutation works through' },
  'part-ms': { type: 'string', default: '200', value: 'MS', help: 'time per part' },
  'created-ago': { type: 'string', default: '0', value: 'S', help: 'mutations say they were created this long ago' },
  connections: { type: 'string', value: 'N', help: 'register N connections instead of queries', defaultText: 'none' },
  host: { type: 'string', default: 'localhost', value: 'H', help: 'client host of the connections' },
  db: { type: 'string', default: '', value: 'D', help: 'current database of the connections' },
  'in-transaction': { type: 'boolean', default: false, help: 'the connections hold an open transaction' },
  critical: { type: 'boolean', default: false, help: 'the connections are in a critical section' },
  'critical-ms': { type: 'string', default: '1500', value: 'MS', help: 'how long a critical section lasts' },
  statement: { type: 'string', default: 'SELECT SLEEP(100)', value: 'TEXT', help: 'statement the connections run' },
  ...TLS_FLAGS,
} as const satisfies FlagTable;

const HEALTH_FLAGS = {
  ...CONFIG_FLAGS,
  service: { type: 'string', default: '', value: 'NAME', help: "service whose health is asked ('' is the whole daemon)" },
  timeout: { type: 'string', default: '5', value: 'S', help: 'deadline in seconds for the whole check' },
  ...TLS_FLAGS,
} as const satisfies FlagTable;

/** Every command: what `quell --help` lists and what each command parses. */
export const COMMAND_SPECS = {
  coordinator: {
    summary: 'run the coordinator daemon',
    usage: ['[--etcd URLS] [--listen H:P] [flags]'],
    flags: COORDINATOR_FLAGS,
  },
  agent: {
    summary: 'run a node agent daemon',
    usage: ['--node-id ID [--etcd URLS] [--listen H:P] [flags]'],
    flags: AGENT_FLAGS,
  },
  client: {
    summary: 'run statements, or an interactive shell',
    usage: ['[--coordinator H:P] [-u USER] [-q SQL] [flags]'],
    flags: CLIENT_FLAGS,
  },
  sim: {
    summary: 'a workload: processes, mutations or connections that live until cancelled',
    usage: ['--agent H:P [--queries N] [flags]', '--agent H:P --mutations N --table T [flags]', '--agent H:P --connections N [flags]'],
    flags: SIM_FLAGS,
  },
  cluster: {
    summary: 'membership and queued kills, straight in etcd',
    usage: ['ls [--cluster C]', 'forget NODE [--cluster C]', 'kills', 'drop-kill KILL_ID'],
    flags: { ...CONFIG_FLAGS, ...ETCD_FLAGS, cluster: { type: 'string', value: 'C', help: 'only this cluster', defaultText: 'every cluster' } },
  },
  local: {
    summary: 'a whole cluster on this machine (etcd from PATH), then the client',
    usage: ['[--nodes N] [-q SQL]'],
    flags: {
      ...CONFIG_FLAGS,
      nodes: { type: 'string', default: '3', value: 'N', help: 'agents to start' },
      query: { type: 'string', short: 'q', value: 'SQL', help: 'run these statements, print the results and stop', defaultText: 'none: interactive client' },
    },
  },
  certs: {
    summary: 'make a CA and certificates for a cluster, or one more certificate from that CA (needs openssl)',
    usage: ['init DIR [--nodes N1,N2,…] [--users U1,…] [--san HOST|IP,…]', 'issue DIR coordinator|agent NODE_ID|workload|user NAME [--san HOST|IP,…] [--days N]'],
    flags: {
      ...CONFIG_FLAGS,
      nodes: { type: 'string', value: 'N1,N2,…', help: 'node ids to make agent certificates for', defaultText: 'none' },
      users: { type: 'string', value: 'U1,…', help: 'users to make client certificates for', defaultText: 'none' },
      san: { type: 'string', value: 'HOST|IP,…', help: 'names clients reach the coordinator and agents by (DNS/IP SANs, for mariadb --ssl-verify-server-cert); issue keeps those of the certificate it replaces', defaultText: 'none: localhost and 127.0.0.1 only' },
      'trust-domain': { type: 'string', default: 'quell', value: 'TD', help: 'SPIFFE trust domain of the identities' },
      days: { type: 'string', default: '365', value: 'N', help: 'validity of the certificates in days' },
    },
  },
  top: {
    summary: "a full-screen, self-refreshing view of a cluster's processes",
    usage: ['[--coordinator H:P] [-u USER] [--where EXPR] [--cluster C]'],
    flags: {
      ...CONFIG_FLAGS,
      coordinator: { type: 'string', default: '127.0.0.1:9700', value: 'H:P[,H:P…]', help: 'coordinator address(es)' },
      user: { type: 'string', short: 'u', default: 'default', value: 'USER', help: 'user the view runs as' },
      password: { type: 'string', secret: true, commandLine: false, help: 'password of --user (never a flag: no process list shows it)', defaultText: 'empty' },
      'password-file': { type: 'string', value: 'FILE', help: 'file holding the password of --user', defaultText: 'none' },
      where: { type: 'string', default: '', value: 'EXPR', help: 'only processes this WHERE expression matches' },
      cluster: { type: 'string', value: 'C', help: 'only this cluster', defaultText: "the coordinator's default cluster" },
      ...TLS_FLAGS,
    },
  },
  health: {
    summary: 'gRPC health check of a coordinator or agent; exit 0 when SERVING',
    usage: ['ADDRESS [--service NAME] [--timeout S] [TLS flags]'],
    flags: HEALTH_FLAGS,
  },
} as const satisfies Readonly<Record<string, CommandSpec>>;

export type CommandName = keyof typeof COMMAND_SPECS;
