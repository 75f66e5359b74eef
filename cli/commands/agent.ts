import { assertAgentOptions, NodeAgent, type AgentOptions } from '../../node-agent/agent';
import { tlsOptionsFromArgs } from '../tls-args';
import { COMMAND_SPECS } from '../flags';
import { TransportSecurity } from '../../common/tls';
import { identities } from '../../common/identity';
import { DEFAULT_LEASE_TTL_SECONDS } from '../../common/etcd-layout';
import { announce, intOption, listOption, parse, untilSignal, UsageError } from '../args';
import { surviveUnhandledRejections } from '../../common/escape-guard';
import { createBackend } from '../../node-agent/backends';
import type { Backend } from '../../node-agent/backends/backend';
import { componentLogger } from '../../common/logger';
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

export async function runAgent(argv: string[]): Promise<number> {
  const { values } = parse(argv, COMMAND_SPECS.agent.flags);
  if (!values['node-id']) throw new UsageError('--node-id is required');
  if (values.advertise !== undefined && !/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):[1-9]\d{0,4}$/.test(values.advertise)) {
    throw new UsageError(`--advertise must be host:port that other hosts can dial, got '${values.advertise}'`);
  }
  if (values['lease-ttl'] !== undefined && !(Number(values['lease-ttl']) >= 1)) throw new UsageError('--lease-ttl must be at least 1 second');
  const maxMb = values['kill-log-max-mb'];
  if (maxMb !== undefined && !(Number(maxMb) > 0)) throw new UsageError(`--kill-log-max-mb must be a positive number of MiB, got '${maxMb}'`);
  let backend: Backend | undefined;
  // QUELL_BACKEND keeps the server's password out of the process list (ps, /proc/*/cmdline)
  const backendUrl = values.backend ?? process.env.QUELL_BACKEND;
  if (backendUrl) {
    try {
      backend = await createBackend(backendUrl, componentLogger('backend', { node_id: values['node-id'] }));
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
  // signal handlers first: a SIGTERM right after the ready line still stops the agent cleanly
  surviveUnhandledRejections(componentLogger('agent'));
  const stopped = untilSignal(() => agent.stop());
  announce({ event: 'ready', role: 'agent', node_id: agent.node.nodeId, address: agent.node.address, metrics: agent.probes.metricsUrl });
  return stopped;
}
