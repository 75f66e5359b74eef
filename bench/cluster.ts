import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QuellClient } from '../client/coordinator-client';
import { WorkloadSession } from '../client/workload-client';
import { initCerts, type InitCertsResult, type KeyPair } from '../common/tls/certs';
import { freePort, QUELL_MAIN, spawnChild, startEtcd, type Child, type EtcdServer } from '../common/daemon/child-processes';
import type { TlsOptions } from '../common/tls';
import { tlsArgv } from '../cli/tls-args';
import { sleep } from './system';

/**
 * A benchmark cluster on loopback: a private etcd, a coordinator process, and agents — one
 * `quell agent` process each (with a `quell sim` holding its processes) up to
 * `processAgentsUpTo` agents, or agent-host processes of up to `agentsPerHost` agents each
 * beyond that. Every process it starts is stopped by stop(), also after a failed start.
 * Every gRPC hop is TLS as in production, on a CA made for the cluster in a temporary
 * directory (removed by stop()); etcd stays plaintext on loopback.
 */

export const AGENT_HOST_MAIN = path.join(__dirname, 'agent-host.js');
const HOSTS_STARTING = 2;

/** Clusters that have not been stopped yet, so that an interrupted run can still clean up. */
const running = new Set<BenchCluster>();

/** Stops every cluster still running (SIGINT/SIGTERM of the benchmark). */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop()));
}

export interface AgentRef {
  readonly nodeId: string;
  readonly address: string;
  /** the OS process that serves this agent */
  readonly pid: number | undefined;
}

export interface ClusterSpec {
  readonly cluster: string;
  readonly agents: number;
  readonly processAgentsUpTo: number;
  readonly agentsPerHost: number;
  /** processes per agent, held by workloads that ignore cancels (user 'etl') */
  readonly processesPerAgent: number;
  readonly leaseTtlSeconds?: number;
  /** write V8 CPU profiles of the children here (a subdirectory per cluster and role) */
  readonly profileDir?: string;
}

/**
 * Node ids with a certificate in a cluster's PKI: its agents, and one more for the agent the
 * join measurement adds (`n<agents + 1>`).
 */
export function benchNodeIds(spec: Pick<ClusterSpec, 'agents'>): string[] {
  return Array.from({ length: spec.agents + 1 }, (_, i) => `n${i + 1}`);
}

/** Nodes n<first> … n<first + count - 1>, served by one process. */
export interface HostGroup {
  readonly first: number;
  readonly count: number;
}

/**
 * How a cluster's nodes are spread over processes: one each up to `processAgentsUpTo`, else
 * `agentsPerHost` per process. The floor's servers are packed the same way as the agents.
 */
export function hostGroups(spec: Pick<ClusterSpec, 'agents' | 'processAgentsUpTo' | 'agentsPerHost'>): HostGroup[] {
  const per = spec.agents <= spec.processAgentsUpTo ? 1 : spec.agentsPerHost;
  const groups: HostGroup[] = [];
  for (let first = 1; first <= spec.agents; first += per) groups.push({ first, count: Math.min(per, spec.agents - first + 1) });
  return groups;
}

export class BenchCluster {
  etcd: EtcdServer | undefined;
  coordinator: Child | undefined;
  address = '';
  readonly agents: AgentRef[] = [];
  /** agents, agent hosts, sims and extra agents started by the benchmark */
  private readonly children: Child[] = [];
  private readonly sims: Child[] = [];
  /** the agents' kill logs: one directory per node, removed by stop() */
  private readonly killLogs = mkdtempSync(path.join(os.tmpdir(), 'quell-bench-kill-log-'));
  private pki: InitCertsResult | undefined;

  private constructor(readonly spec: ClusterSpec) {}

  static async start(spec: ClusterSpec): Promise<BenchCluster> {
    const c = new BenchCluster(spec);
    running.add(c);
    try {
      await c.boot();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  get etcdUrl(): string {
    if (!this.etcd) throw new Error('etcd not started');
    return this.etcd.url;
  }

  private get certs(): InitCertsResult {
    if (!this.pki) throw new Error('the PKI is not made yet');
    return this.pki;
  }

  private tls(pair: KeyPair | undefined): TlsOptions {
    return pair ? { ca: this.certs.ca.cert, cert: pair.cert, key: pair.key } : { ca: this.certs.ca.cert };
  }

  /** The cluster's `quell certs init` directory: CA, coordinator, workload and agent-n<i> pairs. */
  get pkiDir(): string {
    return this.certs.dir;
  }

  /** The coordinator's certificate: what the sequential baseline and the floor dial agents with. */
  get coordinatorTls(): TlsOptions {
    return this.tls(this.certs.coordinator);
  }

  agentTls(nodeId: string): TlsOptions {
    const pair = this.certs.agents.get(nodeId);
    if (!pair) throw new Error(`the bench PKI has no certificate for node '${nodeId}' (it has n1..n${this.spec.agents + 1})`);
    return this.tls(pair);
  }

  /** What a client of the coordinator uses: the CA, no certificate (it logs in as `default`). */
  get clientTls(): TlsOptions {
    return this.tls(undefined);
  }

  /** A client of the coordinator: trusts the CA, logs in as `default` without a certificate. */
  client(): QuellClient {
    return new QuellClient(this.address, { tls: this.clientTls });
  }

  /** A workload's Attach session to an agent, with the workload certificate. */
  workloadSession(agentAddress: string): WorkloadSession {
    return new WorkloadSession(agentAddress, this.tls(this.certs.workload));
  }

  /** Spawns a `quell sim` against an agent with the workload certificate; stopped by the caller. */
  spawnSim(agentAddress: string, args: string[]): Child {
    return this.spawnNode('sim', QUELL_MAIN, ['sim', '--agent', agentAddress, ...tlsArgv(this.tls(this.certs.workload)), ...args]);
  }

  get coordinatorPid(): number | undefined {
    return this.coordinator?.proc.pid;
  }

  /**
   * Starts a Node script as a child of the given role: quiet logs, and a V8 CPU profile in
   * <profileDir>/<cluster>/<role>/ when asked (written when the child exits cleanly).
   */
  spawnNode(role: string, script: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
    const flags: string[] = [];
    if (this.spec.profileDir) {
      const dir = path.resolve(this.spec.profileDir, this.spec.cluster, role);
      mkdirSync(dir, { recursive: true });
      flags.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
    }
    return spawnChild(process.execPath, [...flags, script, ...args], { env: { ...process.env, QUELL_LOG_FORMAT: 'json', QUELL_LOG_LEVEL: 'warn', ...env } });
  }

  /** Spawns a helper process of the benchmark (the floor's servers); stop() stops it. */
  spawnHelper(role: string, script: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
    const child = this.spawnNode(role, script, args, env);
    this.children.push(child);
    return child;
  }

  /** Spawns one `quell agent` process; the caller waits for its ready line. */
  spawnAgent(nodeId: string, leaseTtlSeconds = this.spec.leaseTtlSeconds ?? 5): Child {
    return this.spawnHelper('agent', QUELL_MAIN, [
      'agent', '--etcd', this.etcdUrl, '--node-id', nodeId, '--listen', '127.0.0.1:0', '--cluster', this.spec.cluster, '--lease-ttl', String(leaseTtlSeconds),
      '--kill-log-dir', path.join(this.killLogs, nodeId),
      ...tlsArgv(this.agentTls(nodeId)),
    ]);
  }

  private async boot(): Promise<void> {
    const s = this.spec;
    this.pki = await initCerts(mkdtempSync(path.join(os.tmpdir(), 'quell-bench-pki-')), { nodes: benchNodeIds(s), days: 1 });
    this.etcd = await startEtcd();
    this.coordinator = this.spawnNode('coordinator', QUELL_MAIN, [
      'coordinator', '--etcd', this.etcdUrl, '--listen', `127.0.0.1:${await freePort()}`, '--default-cluster', s.cluster, ...tlsArgv(this.coordinatorTls),
    ]);
    this.address = String((await this.coordinator.waitFor((e) => e.event === 'ready')).address);

    const groups = hostGroups(s);
    if (s.agents <= s.processAgentsUpTo) await Promise.all(groups.map((g) => this.startProcessAgent(`n${g.first}`)));
    else {
      // two hosts start at a time (one per core): more at once starve etcd on the same cores
      for (let i = 0; i < groups.length; i += HOSTS_STARTING) await Promise.all(groups.slice(i, i + HOSTS_STARTING).map((g) => this.startHost(g.first, g.count)));
    }
    this.agents.sort((a, b) => Number(a.nodeId.slice(1)) - Number(b.nodeId.slice(1)));
    // bounded by the size: a thousand agents take a while to join
    await this.waitForActive(s.agents, 30_000 + 30 * s.agents);
  }

  private async startProcessAgent(nodeId: string): Promise<void> {
    const agent = this.spawnAgent(nodeId);
    const address = String((await agent.waitFor((e) => e.event === 'ready', 30_000)).address);
    this.agents.push({ nodeId, address, pid: agent.proc.pid });
    const n = this.spec.processesPerAgent;
    if (n > 0) {
      const sim = this.spawnSim(address, ['--queries', String(n), '--user', 'etl', '--ignore-cancel', '--query-id-prefix', `${nodeId}-`]);
      this.sims.push(sim);
      await sim.waitFor(() => sim.events.filter((e) => e.event === 'started').length >= n, 30_000);
    }
  }

  private async startHost(first: number, count: number): Promise<void> {
    const host = this.spawnHelper('agent-host', AGENT_HOST_MAIN, [
      '--etcd', this.etcdUrl, '--cluster', this.spec.cluster, '--first', String(first), '--count', String(count),
      '--processes', String(this.spec.processesPerAgent), '--lease-ttl', String(this.spec.leaseTtlSeconds ?? 5), '--pki', this.certs.dir,
    ], { UV_THREADPOOL_SIZE: String(hostThreadPool(count)) });
    const ready = await host.waitFor((e) => e.event === 'ready', 60_000 + 500 * count);
    for (const a of ready.agents as { node_id: string; address: string }[]) {
      this.agents.push({ nodeId: a.node_id, address: a.address, pid: host.proc.pid });
    }
  }

  /** Polls system.clusters until `n` members of the cluster are active (bounded). */
  async waitForActive(n: number, timeoutMs = 30_000): Promise<void> {
    const client = this.client();
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await client.query(`SELECT node_id FROM system.clusters WHERE cluster = '${this.spec.cluster}' AND is_active = 1`);
        if (r.rows.length === n) return;
        if (Date.now() > deadline) throw new Error(`expected ${n} active nodes in ${this.spec.cluster}, saw ${r.rows.length}`);
        await sleep(50);
      }
    } finally {
      client.close();
    }
  }

  async stop(): Promise<void> {
    running.delete(this);
    await Promise.all(this.sims.splice(0).map((s) => s.stop('SIGTERM', 2_000)));
    await Promise.all(this.children.splice(0).map((c) => c.stop('SIGTERM', 5_000)));
    await this.coordinator?.stop('SIGTERM', 5_000);
    await this.etcd?.stop();
    rmSync(this.killLogs, { recursive: true, force: true });
    if (this.pki) rmSync(this.pki.dir, { recursive: true, force: true });
  }
}

/**
 * libuv threads for a host of `agents` agents. Each agent stands for a machine with its own
 * pool of 4, where its kill-log fdatasync runs; behind one shared pool of 4, a host's fsyncs
 * would queue one after another, which no deployment does.
 */
function hostThreadPool(agents: number): number {
  return Math.min(128, Math.max(4, 4 * agents));
}
