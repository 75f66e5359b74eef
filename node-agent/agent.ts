import * as grpc from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { CHANNEL_OPTIONS } from '../common/grpc/channel-options';
import { componentLogger, type Logger } from '../common/daemon/logger';
import { Lifecycle } from '../common/daemon/lifecycle';
import { systemdNotifier } from '../common/daemon/systemd-notify';
import { assertKeySegment, DEFAULT_LEASE_TTL_SECONDS, splitAddress } from '../common/etcd/etcd-layout';
import { connectEtcd, etcdUnavailable, untilEtcdAnswers, type EtcdSecurity } from '../common/etcd/client';
import { ProcessTable } from './tables/process-table';
import { MutationTable } from './tables/mutation-table';
import { WorkloadService } from './service/workload-service';
import { processResolver } from './tables/process-columns';
import { mutationResolver } from './tables/mutation-columns';
import { tableSource } from './tables/table-source';
import { BACKEND_POLL_MS, DurableKills } from './durable/durable-kills';
import type { EvalContext } from '../sql/compile';
import { NodeAgentService } from './service/agent-service';
import { serve, withoutSync } from './tables/served-table';
import { connectionSubject, mutationSubject, querySubject } from './kill/kill-subjects';
import { backendSubjects } from './backends/backend-subjects';
import type { Backend } from './backends/backend';
import { AgentMembership } from './presence/membership';
import type { NodeIdentity } from './presence/node-identity';
import { ServerId } from '../common/etcd/server-id';
import { IdSequence } from './tables/id-sequence';
import { ConnectionTable } from './tables/connection-table';
import { connectionResolver } from './tables/connection-columns';
import { WorkloadConnections } from './service/workload-connections';
import { errorText } from '../errors/error-text';
import { chError } from '../errors/quell-error';
import { PeerPolicy, type TransportSecurity } from '../common/tls';
import { bindWorkloadSocket } from './service/workload-socket';
import { KillLog } from './kill/kill-log';
import { KillLogHeadPublisher } from './kill/kill-log-head';
import { killLogTable } from './tables/kill-log-table';
import { KillPolicies } from './policies/kill-policies';
import { DaemonProbes } from '../common/daemon/daemon-probes';
import type { AgentMetrics, TableSizes } from './metrics';
import { evalContext } from '../sql/compile';
import { BackendHealth } from './backends/backend-health';

/** The gRPC health name of the server an agent fronts: NOT_SERVING while it does not answer. */
export const BACKEND_HEALTH_SERVICE = 'quell.backend';

export interface AgentOptions {
  readonly etcd: string[];
  readonly etcdSecurity?: EtcdSecurity;
  readonly nodeId: string;
  /** host:port to bind; port 0 picks a free one */
  readonly listen: string;
  /** host:port others use to reach this agent; defaults to the bound address */
  readonly advertise?: string;
  readonly clusters: string[];
  readonly leaseTtlSeconds?: number;
  readonly shutdownDeadlineMs?: number;
  /** a database server this agent fronts (`--backend URL`); its tables replace the workloads' */
  readonly backend?: Backend;
  /** TLS for the agent API (coordinator certificates only) and for workloads (workload certificates) */
  readonly security: TransportSecurity;
  /** a Unix socket (mode 0660) where local workloads attach without a certificate */
  readonly workloadSocket?: string;
  /** the directory of this node's kill log (`--kill-log-dir`); created if missing */
  readonly killLogDir: string;
  /** the kill log's current file is rotated at this size (`--kill-log-max-mb`, MiB); default 64 */
  readonly killLogMaxMb?: number;
  /** how often the kill log's chain head is published to etcd when it moved; default 5000 */
  readonly killLogHeadIntervalMs?: number;
  /** host:port for Prometheus metrics at /metrics (`--metrics-listen`) */
  readonly metricsListen?: string;
  /** fires on SIGTERM while starting: waiting for etcd ends, and create() rejects with StartStopped */
  readonly stopWhileStarting?: AbortSignal;
}

/** Checks what an agent will use as etcd key segments; throws one line naming the bad option. */
export function assertAgentOptions(opts: AgentOptions): void {
  assertKeySegment('node id', opts.nodeId);
  for (const c of opts.clusters) assertKeySegment('cluster', c);
  if (opts.backend && opts.workloadSocket) throw new Error('--workload-socket has no use with --backend: an agent in front of a server takes no workloads');
  if (opts.killLogDir === '') throw new Error('--kill-log-dir must name a directory');
  if (opts.killLogMaxMb !== undefined && !(opts.killLogMaxMb > 0)) throw new Error(`--kill-log-max-mb must be a positive number of MiB, got ${opts.killLogMaxMb}`);
}

interface AgentParts {
  readonly node: NodeIdentity;
  readonly server: grpc.Server;
  /** the workload socket's server, when there is one */
  readonly socketServer: grpc.Server | undefined;
  readonly etcd: Etcd3;
  readonly workloads: WorkloadService;
  readonly durableKills: DurableKills;
  readonly killPolicies: KillPolicies;
  readonly membership: AgentMembership;
  readonly killLog: KillLog;
  /** publishes the kill log's chain head to etcd */
  readonly killLogHead: KillLogHeadPublisher;
  readonly agentService: NodeAgentService;
  /** gRPC health and reflection, the metrics endpoint */
  readonly probes: DaemonProbes;
  /** present with --metrics-listen */
  readonly metrics: AgentMetrics | undefined;
  /** with --backend: whether the server answers */
  readonly backendHealth: BackendHealth | undefined;
}

/**
 * A node agent daemon: gRPC server (agent + workload APIs), process table, etcd presence.
 * Built whole by create(): a NodeAgent that exists is serving and live in etcd.
 */
export class NodeAgent {
  readonly node: NodeIdentity;
  readonly probes: DaemonProbes;

  private constructor(
    private readonly parts: AgentParts,
    private readonly opts: AgentOptions,
    private readonly lifecycle: Lifecycle,
    private readonly log: Logger,
  ) {
    this.node = parts.node;
    this.probes = parts.probes;
  }

  /**
   * Binds (health NOT_SERVING), waits for etcd (a warning per try), joins it and loads the
   * pending durable kills; on failure, or a stop while waiting, leaves nothing running.
   */
  static async create(opts: AgentOptions): Promise<NodeAgent> {
    assertAgentOptions(opts);
    const log = componentLogger('agent', { node_id: opts.nodeId });
    const lifecycle = new Lifecycle(log, 'agent');
    // READY=1 when serving, STOPPING=1 when the drain starts, under systemd (deploy/systemd/)
    lifecycle.onChange(systemdNotifier().followLifecycle());
    let built: NodeAgent | undefined;
    let killLog: KillLog | undefined;
    /** bound before the agent is built: a failure in between (unusable etcd options) must not leave them serving */
    const servers: grpc.Server[] = [];
    try {
      return await lifecycle.start(async () => {
        // a node that cannot log its kills must not take any: the log opens before anything serves
        killLog = await KillLog.open({
          dir: opts.killLogDir,
          maxBytes: opts.killLogMaxMb === undefined ? undefined : opts.killLogMaxMb * 1024 * 1024,
          log: log.child({ service: 'kill-log' }),
        }).catch((err: unknown) => {
          throw chError('CANNOT_OPEN_FILE', `node ${opts.nodeId} cannot start without its kill log: ${errorText(err)}`);
        });
        const { server, node } = await bindServer(opts);
        servers.push(server);
        const socketServer = opts.workloadSocket ? await bindWorkloadSocket(opts.workloadSocket).catch((err: unknown) => {
          server.forceShutdown();
          throw err;
        }) : undefined;
        if (socketServer) servers.push(socketServer);
        // prom-client loads only with --metrics-listen
        const Metrics = opts.metricsListen === undefined ? undefined : (await import('./metrics')).AgentMetrics;
        const agent = new NodeAgent(wire(opts, node, server, socketServer, killLog, log, lifecycle, Metrics), opts, lifecycle, log);
        built = agent;
        await agent.goLive();
        return agent;
      });
    } catch (err) {
      // the agent owns the backend it was given: close it whether or not the agent was built
      if (built) await built.stop();
      else {
        for (const server of servers) server.forceShutdown();
        await opts.backend?.close().catch(() => undefined);
        await killLog?.close().catch(() => undefined);
      }
      throw err;
    }
  }

  private async goLive(): Promise<void> {
    // its first check logs a wrong password or host now, not first in an incident's result
    this.parts.backendHealth?.start();
    // bound already, health NOT_SERVING: an agent started before etcd waits here, warning per try
    await untilEtcdAnswers(this.parts.etcd, this.opts.etcd, this.log, this.opts.stopWhileStarting);
    // before anything can append: a log found behind its published head goes on from that head
    await this.parts.killLogHead.start();
    await Promise.all([
      this.parts.membership.join(),
      this.parts.durableKills.start().catch((err: unknown) => {
        throw etcdUnavailable(this.opts.etcd, err);
      }),
      this.parts.killPolicies.start().catch((err: unknown) => {
        throw etcdUnavailable(this.opts.etcd, err);
      }),
    ]);
    const { metrics, probes } = this.parts;
    if (metrics && this.opts.metricsListen !== undefined) await probes.serveMetrics(this.opts.metricsListen, metrics.registry, this.opts.security, this.log);
    this.log.info({ address: this.node.address, listen: this.opts.listen, backend: this.opts.backend?.description ?? 'workloads', kill_log: this.parts.killLog.dir }, 'serving');
  }

  /** Leaves etcd first (the coordinator stops routing here), then drains the gRPC server. */
  async stop(): Promise<void> {
    await this.lifecycle.stop(
      async () => {
        const { durableKills, killPolicies, membership, workloads, server, socketServer, etcd, killLog, killLogHead, agentService, backendHealth } = this.parts;
        backendHealth?.close();
        await Promise.all([durableKills.close(), killPolicies.close()]);
        await membership.leave();
        workloads.closeAll();
        await this.parts.probes.close();
        // coordinators' session streams end once their calls are done: the server can drain
        agentService.drain();
        const drain = (s: grpc.Server): Promise<void> => new Promise((resolve) => s.tryShutdown(() => resolve()));
        await Promise.all([drain(server), socketServer ? drain(socketServer) : undefined]);
        // after the drain: the last kills' entries are committed
        await killLog.close();
        // the final head, so that the next start can check the log against it
        await killLogHead.close();
        await this.opts.backend?.close().catch(() => undefined);
        etcd.close();
        this.opts.security.close();
      },
      () => {
        this.parts.backendHealth?.close();
        void this.parts.probes.close();
        this.parts.server.forceShutdown();
        this.parts.socketServer?.forceShutdown();
        this.parts.killLogHead.halt();
        this.parts.etcd.close();
        this.opts.security.close();
        // what was synced is on disk; a commit still running finishes or fails on its own
        void this.parts.killLog.close().catch(() => undefined);
      },
      this.opts.shutdownDeadlineMs ?? 5_000,
    );
  }
}

/** The gRPC server bound to `listen`, and the identity others reach it by. */
async function bindServer(opts: AgentOptions): Promise<{ server: grpc.Server; node: NodeIdentity }> {
  const bound = splitAddress(opts.listen);
  // a wildcard listen address is not one others can dial: the operator must say which is
  if (!opts.advertise && ['0.0.0.0', '::', ''].includes(bound.host)) {
    throw new Error(`listening on ${opts.listen} needs --advertise host:port (the address other hosts use to reach this agent)`);
  }
  const server = new grpc.Server({ ...CHANNEL_OPTIONS });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      // client certificates asked for, not required: a caller without one gets a readable refusal
      server.bindAsync(opts.listen, opts.security.serverCredentials(opts.listen, 'request'), (err, p) => (err ? reject(err) : resolve(p))),
    );
  } catch (err) {
    server.forceShutdown();
    throw err;
  }
  const address = opts.advertise ?? `${bound.host}:${port}`;
  const adv = splitAddress(address);
  return { server, node: { nodeId: opts.nodeId, host: adv.host, port: adv.port, address, clusters: opts.clusters } };
}

/** Everything an agent is made of, connected: tables, services on the server, etcd parts. */
function wire(
  opts: AgentOptions,
  node: NodeIdentity,
  server: grpc.Server,
  socketServer: grpc.Server | undefined,
  killLog: KillLog,
  log: Logger,
  lifecycle: Lifecycle,
  Metrics: typeof AgentMetrics | undefined,
): AgentParts {
  const peers = PeerPolicy.of(opts.security);
  const etcd = connectEtcd({ ...opts.etcdSecurity, endpoints: opts.etcd });
  const serverId = new ServerId(etcd, node.nodeId, log.child({ service: 'server-id' }));
  const table = new ProcessTable();
  const mutations = new MutationTable();
  // thread ids and query ids: two counters over the same held server id and incarnation
  const connections = new ConnectionTable(new IdSequence(() => serverId.held), new IdSequence(() => serverId.held));
  const ctx: EvalContext = evalContext(node.nodeId);
  const sources = {
    processes: tableSource(processResolver(node), ctx),
    mutations: tableSource(mutationResolver(node), ctx),
    connections: tableSource(connectionResolver(node), ctx),
  };
  const backend = opts.backend;
  // queued kills and policies count only when a coordinator of our CA signed them (docs/security.md)
  const verifier = opts.security.recordVerifier();
  const subjects = backend
    ? backendSubjects(backend, () => serverId.value)
    : { processes: querySubject(table), mutations: mutationSubject(mutations), connections: connectionSubject(connections) };
  const served = {
    processes: serve(sources.processes, subjects.processes),
    mutations: serve(sources.mutations, subjects.mutations),
    connections: withoutSync(serve(sources.connections, subjects.connections)),
  };
  // queued mutation kills take the kill path of KILL MUTATION; a server's mutations are polled, since nobody registers them
  const durableKills = new DurableKills({
    verifier,
    etcd,
    node,
    mutations: served.mutations,
    filterFor: (where) => sources.mutations.filters.get(where),
    pollMs: backend ? BACKEND_POLL_MS : undefined,
    recorder: killLog,
    history: () => killLog.read(),
    log: log.child({ service: 'durable-kills' }),
  });
  const workloads = new WorkloadService(
    table,
    mutations,
    durableKills,
    new WorkloadConnections(connections, serverId.ready, log.child({ service: 'connections' })),
    log.child({ service: 'workload' }),
  );
  // a backend's tables are the server's, read fresh per statement; otherwise the workloads'
  if (!backend) workloads.addToServer(server, peers);
  // the socket's file mode decides who may attach there
  if (socketServer) workloads.addToServer(socketServer, PeerPolicy.open());
  // policies act on the same tables, through the same kill path, as KILL statements
  const killPolicies = new KillPolicies({ etcd, node, tables: served, recorder: killLog, verifier, log: log.child({ service: 'kill-policies' }) });
  const agentService = new NodeAgentService(
    { ...served, killLog: killLogTable(killLog, node, ctx) },
    () => table.size,
    node,
    () => serverId.value,
    log.child({ service: 'node-agent' }),
    peers,
    killLog,
  );
  agentService.addToServer(server);
  const membership = new AgentMembership(
    etcd,
    opts.etcd,
    node,
    opts.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS,
    serverId,
    log.child({ service: 'membership' }),
  );
  const backendHealth = backend && new BackendHealth(backend, log.child({ service: 'backend' }));
  // SERVING while running with the lease live; a backend agent serves no Workload API, and its
  // server's state has a name of its own: a server that is down never takes the agent's status
  // down, since the agent still answers every statement (with node_error rows)
  const probes = new DaemonProbes(
    backend ? ['quell.v1.NodeAgentService'] : ['quell.v1.NodeAgentService', 'quell.v1.WorkloadService'],
    lifecycle,
    { ok: () => membership.live, onChange: (l) => membership.onLive(l) },
    backendHealth ? [{ name: BACKEND_HEALTH_SERVICE, ok: () => backendHealth.up, onChange: (l) => backendHealth.onChange(() => l()) }] : [],
  );
  probes.addToServer(server);
  const tables: TableSizes = backend ? {} : { processes: () => table.size, mutations: () => mutations.size, connections: () => connections.size };
  const metrics = Metrics && new Metrics(tables, membership, () => probes.serving, () => killLog.stats(), backend && backendHealth && { description: backend.description, up: () => backendHealth.up }, () => opts.security.ownCertificate());
  const killLogHead = new KillLogHeadPublisher({ etcd, nodeId: node.nodeId, killLog, log: log.child({ service: 'kill-log' }), intervalMs: opts.killLogHeadIntervalMs });
  return { node, server, socketServer, etcd, workloads, durableKills, killPolicies, membership, killLog, killLogHead, agentService, probes, metrics, backendHealth };
}
