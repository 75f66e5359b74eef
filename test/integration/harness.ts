import { after, before } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QuellClient, type QueryResult } from '../../client/coordinator-client';
import { identities } from '../../common/tls/identity';
import { TransportSecurity, type TlsOptions } from '../../common/tls';
import { quellProto } from '../../proto/load';
import { CHANNEL_OPTIONS } from '../../common/grpc/channel-options';
import type { NodeAgentServiceClient } from '../../proto/generated/quell/v1/NodeAgentService';
import type * as grpc from '@grpc/grpc-js';
import type { ExecuteRequest } from '../../proto/generated/quell/v1/ExecuteRequest';
import type { ExecuteResponse__Output } from '../../proto/generated/quell/v1/ExecuteResponse';
import { freePort, spawnQuell, startEtcd, type Child, type EtcdServer } from '../../common/daemon/child-processes';
import { testPki, type TestPki } from './tls-fixture';
import { connectEtcd } from '../../common/etcd/client';
import { nodeOwnerKey } from '../../common/etcd/etcd-layout';

// An agent a test starts without --kill-log-dir keeps its kill log under $XDG_STATE_HOME: make
// that a directory of this test process, not the user's home, and remove it at exit.
const stateHome = mkdtempSync(path.join(os.tmpdir(), 'quell-test-state-'));
process.env.XDG_STATE_HOME = stateHome;
process.once('exit', () => rmSync(stateHome, { recursive: true, force: true }));

export interface AgentHandle {
  readonly nodeId: string;
  readonly address: string;
  readonly child: Child;
}

export interface ClusterOptions {
  readonly cluster?: string;
  readonly nodes?: number;
  /** YAML users file content */
  readonly users?: string;
  readonly leaseTtlSeconds?: number;
  /** extra `quell coordinator` arguments, e.g. ['--max-result-rows', '50'] */
  readonly coordinatorArgs?: string[];
  /** extra `quell agent` arguments per node, e.g. ['--backend', url] */
  readonly agentArgs?: (nodeId: string, index: number) => string[];
  /** extra environment per agent process, e.g. libfaketime's for a clock that is off */
  readonly agentEnv?: (nodeId: string, index: number) => NodeJS.ProcessEnv;
  /** another build's dist/cli/quell.js for the coordinator (mixed versions); default this build's */
  readonly coordinatorMain?: string;
  /** another build's dist/cli/quell.js per agent; undefined: this build's */
  readonly agentMain?: (nodeId: string, index: number) => string | undefined;
}

/**
 * A real cluster for one test file: etcd, a coordinator and agents as separate processes on
 * loopback ports, plus the sims the test starts. stop() leaves nothing running.
 */
export class TestCluster {
  readonly agents = new Map<string, AgentHandle>();
  private readonly sims: Child[] = [];
  private readonly clients: QuellClient[] = [];
  private readonly stubs: NodeAgentServiceClient[] = [];
  private readonly securities: TransportSecurity[] = [];

  private constructor(
    readonly etcd: EtcdServer,
    readonly coordinator: Child,
    readonly address: string,
    readonly cluster: string,
    private readonly leaseTtl: number,
    private readonly tmp: string,
    /** the test process's CA and certificates: every daemon, sim and client here speaks TLS */
    readonly pki: TestPki,
  ) {}

  static async start(o: ClusterOptions = {}): Promise<TestCluster> {
    const cluster = o.cluster ?? 'c3';
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'quell-test-'));
    const pki = await testPki();
    const etcd = await startEtcd();
    const args = ['coordinator', '--etcd', etcd.url, '--listen', `127.0.0.1:${await freePort()}`, '--default-cluster', cluster, ...pki.argv(pki.coordinator()), ...(o.coordinatorArgs ?? [])];
    if (o.users) {
      const file = path.join(tmp, 'users.yaml');
      writeFileSync(file, o.users);
      args.push('--users', file);
    }
    const coordinator = spawnQuell(args, {}, o.coordinatorMain);
    let ready: Record<string, unknown>;
    try {
      ready = await coordinator.waitFor((e) => e.event === 'ready');
    } catch (err) {
      await etcd.stop();
      throw err;
    }
    const c = new TestCluster(etcd, coordinator, String(ready.address), cluster, o.leaseTtlSeconds ?? 5, tmp, pki);
    for (let i = 1; i <= (o.nodes ?? 3); i++) await c.addAgent(`n${i}`, cluster, o.agentArgs?.(`n${i}`, i) ?? [], o.agentEnv?.(`n${i}`, i), o.agentMain?.(`n${i}`, i));
    await c.waitForActive(o.nodes ?? 3);
    return c;
  }

  /** The kill log directory of a node in this cluster (an agent restarted with the same node id finds its log again). */
  killLogDir(nodeId: string): string {
    return path.join(this.tmp, 'kill-log', nodeId);
  }

  async addAgent(nodeId: string, clusters = this.cluster, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}, main?: string): Promise<AgentHandle> {
    const killLog = extraArgs.includes('--kill-log-dir') ? [] : ['--kill-log-dir', this.killLogDir(nodeId)];
    const child = spawnQuell([
      'agent', '--etcd', this.etcd.url, '--node-id', nodeId, '--listen', '127.0.0.1:0',
      '--cluster', clusters, '--lease-ttl', String(this.leaseTtl), ...this.pki.argv(this.pki.agent(nodeId)), ...killLog, ...extraArgs,
    ], env, main);
    const ready = await child.waitFor((e) => e.event === 'ready');
    const handle = { nodeId, address: String(ready.address), child };
    this.agents.set(nodeId, handle);
    return handle;
  }

  /**
   * Ends a crashed agent's lease now instead of after its TTL (what etcd does when the TTL
   * runs out), so the same node id can start again at once.
   */
  async expireLease(nodeId: string): Promise<void> {
    const etcd = connectEtcd({ endpoints: [this.etcd.url] });
    try {
      const res = await etcd.get(nodeOwnerKey(nodeId)).exec();
      const lease = res.kvs[0]?.lease;
      if (lease && lease !== '0') await etcd.leaseClient.leaseRevoke({ ID: lease });
    } finally {
      etcd.close();
    }
  }

  agent(nodeId: string): AgentHandle {
    const a = this.agents.get(nodeId);
    if (!a) throw new Error(`no agent ${nodeId}`);
    return a;
  }

  /** Starts a sim against an agent and waits until all its processes are registered. */
  async sim(nodeId: string, args: string[], expectStarted = 1): Promise<Child> {
    const child = spawnQuell(['sim', '--agent', this.agent(nodeId).address, ...this.pki.argv(this.pki.workload()), ...args]);
    this.sims.push(child);
    // the predicate runs after each event is recorded, so counting the recorded ones is exact
    await child.waitFor(() => eventsOf(child, 'started').length >= expectStarted);
    return child;
  }

  client(user = 'default', password = ''): QuellClient {
    const c = new QuellClient(this.address, { user, password, tls: this.pki.anonymous() });
    this.clients.push(c);
    return c;
  }

  /**
   * A raw NodeAgent stub dialing agent `nodeId` directly, presenting `as` (default the
   * coordinator's certificate, which the agent requires for Scan/Kill/Info) and checking the
   * server is `agent/<nodeId>`; closed by stop().
   */
  agentStub(nodeId: string, as: TlsOptions = this.pki.coordinator(), address = this.agent(nodeId).address): NodeAgentServiceClient {
    const security = TransportSecurity.from(as);
    this.securities.push(security);
    const stub = new (quellProto().agent.quell.v1.NodeAgentService)(address, security.channelCredentials(address, identities.agent(nodeId)), { ...CHANNEL_OPTIONS });
    this.stubs.push(stub);
    return stub;
  }

  query(sql: string, user = 'default', password = ''): Promise<QueryResult> {
    return this.client(user, password).query(sql);
  }

  /** Runs a query (as default) every 100 ms until `ready` holds for its rows; throws with the last rows after the timeout. */
  async waitForRows(sql: string, ready: (rows: Record<string, unknown>[]) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = records(await this.query(sql));
      if (ready(rows)) return rows;
      if (Date.now() > deadline) throw new Error(`${sql}: ${JSON.stringify(rows)}`);
      await sleep(100);
    }
  }

  /** Polls system.clusters until `n` nodes of the cluster are active. */
  async waitForActive(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const client = this.client();
    for (;;) {
      const r = await client.query(`SELECT node_id FROM system.clusters WHERE cluster = '${this.cluster}' AND is_active = 1`);
      if (r.rows.length === n) return;
      if (Date.now() > deadline) throw new Error(`expected ${n} active nodes, saw ${r.rows.length}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  async stopSims(): Promise<void> {
    await Promise.all(this.sims.splice(0).map((s) => s.stop('SIGTERM', 2_000)));
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    for (const s of this.stubs) s.close();
    for (const s of this.securities) s.close();
    await this.stopSims();
    await Promise.all([...this.agents.values()].map((a) => a.child.stop('SIGTERM', 3_000)));
    await this.coordinator.stop('SIGTERM', 3_000);
    await this.etcd.stop();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** Rows as objects keyed by column name, for readable assertions. */
export function records(r: QueryResult): Record<string, unknown>[] {
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]])));
}

/** `quell client` argv for this cluster's coordinator over TLS (a password login), before the statement's own flags. */
export function clientArgv(c: TestCluster): string[] {
  return ['client', '--coordinator', c.address, ...c.pki.argv(c.pki.anonymous())];
}

/** A raw Execute call's messages, and its status when not OK. */
export interface RawOutcome {
  messages: ExecuteResponse__Output[];
  status: grpc.ServiceError | undefined;
}

/** One statement on a plain grpc-js client of the Coordinator service (default 4 MB receive limit, no QuellClient), without a certificate. */
export function rawExecute(c: TestCluster, req: Partial<ExecuteRequest>, deadlineMs = 20_000): Promise<RawOutcome> {
  const Ctor = quellProto().coordinator.quell.v1.CoordinatorService;
  const client = new Ctor(c.address, TransportSecurity.from(c.pki.anonymous()).channelCredentials(c.address, 'coordinator'), { ...CHANNEL_OPTIONS });
  return new Promise((resolve) => {
    const messages: ExecuteResponse__Output[] = [];
    const call = client.Execute(req, { deadline: Date.now() + deadlineMs });
    call.on('data', (m: ExecuteResponse__Output) => messages.push(m));
    call.on('error', (status: grpc.ServiceError) => {
      client.close();
      resolve({ messages, status });
    });
    call.on('end', () => {
      client.close();
      resolve({ messages, status: undefined });
    });
  });
}

export function eventsOf(child: Child, event: string): Record<string, unknown>[] {
  return child.events.filter((e) => e.event === event);
}

/**
 * Polls `find` every `everyMs` until it gives a value (a check gives `true`) and returns it;
 * throws `timed out waiting for <what>` after `timeoutMs`. The one wait of the integration tests.
 */
export async function until<T>(what: string, find: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found !== undefined && found !== false) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Writes to `file` until the file system is full. */
export function fillFileSystem(file: string): void {
  const chunk = Buffer.alloc(4096, 120);
  let data = Buffer.alloc(0);
  for (;;) {
    data = Buffer.concat([data, chunk]);
    try {
      writeFileSync(file, data);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOSPC') return;
      throw err;
    }
  }
}

/**
 * A cluster for one test file: started before its first test, stopped after its last. `set`
 * hands it to the file's tests (`let c: TestCluster; useCluster(o, (started) => (c = started));`).
 */
export function useCluster(o: ClusterOptions, set: (c: TestCluster) => void): void {
  let started: TestCluster | undefined;
  before(async () => {
    started = await TestCluster.start(o);
    set(started);
  });
  after(async () => {
    await started?.stop();
  });
}
