import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QuellClient } from '../client/coordinator-client';
import { freePort, QUELL_MAIN, spawnChild, startEtcd, type Child, type EtcdServer } from '../common/child-processes';
import { sleep } from './system';

/**
 * A benchmark cluster on loopback: a private etcd, a coordinator process, and agents — one
 * `quell agent` process each (with a `quell sim` holding its processes) up to
 * `processAgentsUpTo` agents, or agent-host processes of up to `agentsPerHost` agents each
 * beyond that. Every process it starts is stopped by stop(), also after a failed start.
 */

export const AGENT_HOST_MAIN = path.join(__dirname, 'agent-host.js');

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

  get coordinatorPid(): number | undefined {
    return this.coordinator?.proc.pid;
  }

  /**
   * Starts a Node script as a child of the given role: quiet logs, and a V8 CPU profile in
   * <profileDir>/<cluster>/<role>/ when asked (written when the child exits cleanly).
   */
  spawnNode(role: string, script: string, args: string[]): Child {
    const flags: string[] = [];
    if (this.spec.profileDir) {
      const dir = path.resolve(this.spec.profileDir, this.spec.cluster, role);
      mkdirSync(dir, { recursive: true });
      flags.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
    }
    return spawnChild(process.execPath, [...flags, script, ...args], { env: { ...process.env, QUELL_LOG_FORMAT: 'json', QUELL_LOG_LEVEL: 'warn' } });
  }

  /** Spawns one `quell agent` process; the caller waits for its ready line. */
  spawnAgent(nodeId: string, leaseTtlSeconds = this.spec.leaseTtlSeconds ?? 5): Child {
    const child = this.spawnNode('agent', QUELL_MAIN, [
      'agent', '--etcd', this.etcdUrl, '--node-id', nodeId, '--listen', '127.0.0.1:0', '--cluster', this.spec.cluster, '--lease-ttl', String(leaseTtlSeconds),
      '--kill-log-dir', path.join(this.killLogs, nodeId),
    ]);
    this.children.push(child);
    return child;
  }

  private async boot(): Promise<void> {
    const s = this.spec;
    this.etcd = await startEtcd();
    this.coordinator = this.spawnNode('coordinator', QUELL_MAIN, ['coordinator', '--etcd', this.etcdUrl, '--listen', `127.0.0.1:${await freePort()}`, '--default-cluster', s.cluster]);
    this.address = String((await this.coordinator.waitFor((e) => e.event === 'ready')).address);

    if (s.agents <= s.processAgentsUpTo) {
      await Promise.all(Array.from({ length: s.agents }, (_, i) => this.startProcessAgent(`n${i + 1}`)));
    } else {
      const hosts: Promise<void>[] = [];
      for (let first = 1; first <= s.agents; first += s.agentsPerHost) {
        hosts.push(this.startHost(first, Math.min(s.agentsPerHost, s.agents - first + 1)));
      }
      await Promise.all(hosts);
    }
    this.agents.sort((a, b) => Number(a.nodeId.slice(1)) - Number(b.nodeId.slice(1)));
    await this.waitForActive(s.agents);
  }

  private async startProcessAgent(nodeId: string): Promise<void> {
    const agent = this.spawnAgent(nodeId);
    const address = String((await agent.waitFor((e) => e.event === 'ready', 30_000)).address);
    this.agents.push({ nodeId, address, pid: agent.proc.pid });
    const n = this.spec.processesPerAgent;
    if (n > 0) {
      const sim = this.spawnNode('sim', QUELL_MAIN, ['sim', '--agent', address, '--queries', String(n), '--user', 'etl', '--ignore-cancel', '--query-id-prefix', `${nodeId}-`]);
      this.sims.push(sim);
      await sim.waitFor(() => sim.events.filter((e) => e.event === 'started').length >= n, 30_000);
    }
  }

  private async startHost(first: number, count: number): Promise<void> {
    const host = this.spawnNode('agent-host', AGENT_HOST_MAIN, [
      '--etcd', this.etcdUrl, '--cluster', this.spec.cluster, '--first', String(first), '--count', String(count),
      '--processes', String(this.spec.processesPerAgent), '--lease-ttl', String(this.spec.leaseTtlSeconds ?? 5),
    ]);
    this.children.push(host);
    const ready = await host.waitFor((e) => e.event === 'ready', 60_000);
    for (const a of ready.agents as { node_id: string; address: string }[]) {
      this.agents.push({ nodeId: a.node_id, address: a.address, pid: host.proc.pid });
    }
  }

  /** Polls system.clusters until `n` members of the cluster are active (bounded). */
  async waitForActive(n: number, timeoutMs = 30_000): Promise<void> {
    const client = new QuellClient(this.address);
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
  }
}
