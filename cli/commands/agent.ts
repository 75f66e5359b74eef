import { assertAgentOptions, NodeAgent, type AgentOptions } from '../../node-agent/agent';
import { tlsOptionsFromArgs } from '../tls-args';
import { COMMAND_SPECS } from '../flags';
import { TransportSecurity } from '../../common/tls';
import { identities } from '../../common/tls/identity';
import { DEFAULT_LEASE_TTL_SECONDS } from '../../common/etcd/etcd-layout';
import { announce, holdHangups, intOption, listOption, untilSignal, UsageError } from '../args';
import { commandConfig } from '../config';
import { reloader } from '../reload';
import { surviveUnhandledRejections } from '../../common/daemon/escape-guard';
import { createBackend } from '../../node-agent/backends';
import { SwappableBackend } from '../../node-agent/backends/swappable';
import { componentLogger, configureLogging, setLogLevel } from '../../common/daemon/logger';
import { errorText } from '../../errors/error-text';
import { etcdFromFlags } from '../etcd-flags';
import { startUnlessStopped } from '../start-stop';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Where a node keeps its kill log when --kill-log-dir is not given: the user's state directory
 * (XDG), which survives reboots (a log under /tmp would not), one directory per node id.
 */
export function defaultKillLogDir(nodeId: string, env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'quell', 'kill-log', nodeId);
}

/** The backend URL, parsed; a bad one is an error that never echoes the password (node-agent/backends). */
function backendUrl(raw: string): URL {
  try {
    return new URL(raw);
  } catch {
    throw new Error('--backend must be a URL such as mariadb://user:password@host:3306');
  }
}

export async function runAgent(argv: string[]): Promise<number> {
  holdHangups();
  const table = COMMAND_SPECS.agent.flags;
  const config = commandConfig('agent', table, argv);
  if (!config) return 0;
  const values = config.values;
  if (!values['node-id']) throw new UsageError('--node-id is required');
  if (values.advertise !== undefined && !/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):[1-9]\d{0,4}$/.test(values.advertise)) {
    throw new UsageError(`--advertise must be host:port that other hosts can dial, got '${values.advertise}'`);
  }
  configureLogging({ level: values['log-level'], format: values['log-format'] });
  const maxMb = values['kill-log-max-mb'];
  const backendLog = componentLogger('backend', { node_id: values['node-id'] });
  let backend: SwappableBackend | undefined;
  // --backend-file or QUELL_BACKEND keep the server's password out of the process list (ps, /proc/*/cmdline)
  if (values.backend) {
    try {
      const url = backendUrl(values.backend);
      backend = new SwappableBackend(await createBackend(values.backend, backendLog), url);
    } catch (err) {
      throw new UsageError(errorText(err));
    }
  }
  const etcd = etcdFromFlags(values);
  // rotations of the certificate files are logged: accepted with the new expiry, or rejected with why
  const security = TransportSecurity.from(tlsOptionsFromArgs(values), componentLogger('agent', { node_id: values['node-id'], service: 'tls' }));
  const opts: AgentOptions = {
    etcd: etcd.endpoints,
    etcdSecurity: etcd.security,
    nodeId: values['node-id'],
    listen: values.listen,
    advertise: values.advertise,
    clusters: listOption(values.cluster, ['default']),
    leaseTtlSeconds: intOption(values['lease-ttl'], 'lease-ttl', DEFAULT_LEASE_TTL_SECONDS),
    backend,
    security,
    workloadSocket: values['workload-socket'],
    killLogDir: values['kill-log-dir'] ?? defaultKillLogDir(values['node-id']),
    killLogMaxMb: maxMb === undefined ? undefined : Number(maxMb),
    metricsListen: values['metrics-listen'],
  };
  try {
    assertAgentOptions(opts);
  } catch (err) {
    throw new UsageError(errorText(err));
  }
  // an agent given another node's certificate would fail every coordinator's identity check
  security.requireOwnIdentity(identities.agent(opts.nodeId, security.trustDomain));
  const agent = await startUnlessStopped((stop) => NodeAgent.create({ ...opts, stopWhileStarting: stop }));
  if (!agent) return 0;
  const log = componentLogger('agent');
  // SIGHUP: the backend's credentials (--backend-file read again: the same server only) and
  // the log level; the rest takes a restart
  const reload = reloader({
    command: 'agent',
    table,
    argv,
    running: config,
    log,
    apply: async (next) => {
      const applied = ['log-level'];
      const raw = next.values.backend;
      if (backend && raw !== undefined) {
        const url = backendUrl(raw);
        if (!backend.same(url)) {
          backend.assertSameServer(url);
          backend.replace(await createBackend(raw, backendLog), url);
          log.info({ backend: backend.description }, 'backend credentials read again');
        }
        applied.push('backend', 'backend-file');
      } else if ((raw === undefined) !== (backend === undefined)) {
        throw new Error(backend ? 'the backend URL is gone from the configuration: an agent without its server takes a restart' : 'a backend URL appeared in the configuration: an agent that starts serving a server takes a restart');
      }
      setLogLevel(next.values['log-level']);
      return applied;
    },
  });
  // signal handlers first: a SIGTERM right after the ready line still stops the agent cleanly
  surviveUnhandledRejections(log);
  const stopped = untilSignal(() => agent.stop(), reload);
  announce({ event: 'ready', role: 'agent', node_id: agent.node.nodeId, address: agent.node.address, metrics: agent.probes.metricsUrl });
  return stopped;
}
