import * as grpc from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { CHANNEL_OPTIONS } from '../proto/load';
import { componentLogger, type Logger } from '../common/logger';
import { Lifecycle } from '../common/lifecycle';
import { assertKeySegment, DEFAULT_LEASE_TTL_SECONDS, splitAddress } from '../common/etcd-layout';
import { connectEtcd, etcdUnavailable, type EtcdSecurity } from '../common/etcd';
import { ProcessTable } from './process-table';
import { MutationTable } from './mutation-table';
import type { LiveEntry } from './live-table';
import type { MutationRow } from './rows';
import { WorkloadService } from './workload-service';
import { processResolver } from './process-columns';
import { mutationResolver } from './mutation-columns';
import { tableSource } from './table-source';
import { KillIntents } from './kill-intents';
import type { KillIntent } from '../common/etcd-layout';
import type { EvalContext } from '../sql/compile';
import { NodeAgentService } from './agent-service';
import { serve, withoutSync } from './served-table';
import { connectionSubject, mutationSubject, querySubject } from './kill-subjects';
import { backendSubjects } from './backends/backend-subjects';
import type { Backend } from './backends/backend';
import { AgentMembership } from './membership';
import type { NodeIdentity } from './node-identity';
import { ServerId } from './server-id';
import { IdSequence } from './id-sequence';
import { ConnectionTable } from './connection-table';
import { connectionResolver } from './connection-columns';
import { WorkloadConnections } from './workload-connections';
import { errorText } from '../errors/error-text';

/** how often a backend agent looks for server mutations that a pending durable kill names */
const BACKEND_INTENT_POLL_MS = 2_000;

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
}

/** A node agent daemon: gRPC server (agent + workload APIs), process table, etcd presence. */
export class NodeAgent {
  readonly table = new ProcessTable();
  readonly mutations = new MutationTable();
  private serverId: ServerId | undefined;
  // thread ids and query ids: two counters over the same held server id and incarnation
  readonly connections = new ConnectionTable(new IdSequence(() => this.serverId?.held), new IdSequence(() => this.serverId?.held));
  private intents: KillIntents | undefined;
  private backendIntentTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly lifecycle: Lifecycle;
  private readonly server = new grpc.Server({ ...CHANNEL_OPTIONS });
  private workloads: WorkloadService | undefined;
  private etcd: Etcd3 | undefined;
  private membership: AgentMembership | undefined;
  private identity: NodeIdentity | undefined;

  constructor(private readonly opts: AgentOptions) {
    assertKeySegment('node id', opts.nodeId);
    for (const c of opts.clusters) assertKeySegment('cluster', c);
    this.log = componentLogger('agent', { node_id: opts.nodeId });
    this.lifecycle = new Lifecycle(this.log, 'agent');
  }

  get node(): NodeIdentity {
    if (!this.identity) throw new Error('agent not started');
    return this.identity;
  }

  async start(): Promise<void> {
    await this.lifecycle.start(async () => {
      const port = await new Promise<number>((resolve, reject) =>
        this.server.bindAsync(this.opts.listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
      );
      const bound = splitAddress(this.opts.listen);
      // a wildcard listen address is not one others can dial: the operator must say which is
      if (!this.opts.advertise && ['0.0.0.0', '::', ''].includes(bound.host)) {
        throw new Error(`listening on ${this.opts.listen} needs --advertise host:port (the address other hosts use to reach this agent)`);
      }
      const address = this.opts.advertise ?? `${bound.host}:${port}`;
      const adv = splitAddress(address);
      this.identity = { nodeId: this.opts.nodeId, host: adv.host, port: adv.port, address, clusters: this.opts.clusters };
      const ctx: EvalContext = { hostName: this.identity.nodeId, now: () => Math.floor(Date.now() / 1000) };
      const sources = {
        processes: tableSource(processResolver(this.identity), ctx),
        mutations: tableSource(mutationResolver(this.identity), ctx),
        connections: tableSource(connectionResolver(this.identity), ctx),
      };
      this.etcd = connectEtcd({ ...this.opts.etcdSecurity, endpoints: this.opts.etcd });
      const serverId = new ServerId(this.etcd, this.identity.nodeId, this.log.child({ service: 'server-id' }));
      this.serverId = serverId;
      const intents = new KillIntents(
        this.etcd,
        this.identity.nodeId,
        this.identity.clusters,
        (where) => sources.mutations.filters.get(where),
        this.log.child({ service: 'kill-intents' }),
        (intent) => {
          for (const rec of this.mutations.values()) void this.applyIntents(rec, [intent]);
          if (this.opts.backend) void this.applyIntentsToBackend(this.opts.backend);
        },
      );
      this.intents = intents;
      // Mutation registrations wait for the pending durable kills (loaded after joining).
      let intentsLoaded: () => void = () => undefined;
      const ready = new Promise<void>((resolve) => (intentsLoaded = resolve));
      this.workloads = new WorkloadService(
        this.table,
        this.mutations,
        { ready, registered: (rec) => void this.applyIntents(rec, intents.matching(rec.row)) },
        new WorkloadConnections(this.connections, serverId.ready, this.log.child({ service: 'connections' })),
        this.log.child({ service: 'workload' }),
      );
      // a backend's tables are the server's, read fresh per statement; otherwise the workloads'
      const backend = this.opts.backend;
      if (!backend) this.workloads.addToServer(this.server);
      const subjects = backend
        ? backendSubjects(backend, () => serverId.value)
        : { processes: querySubject(this.table), mutations: mutationSubject(this.mutations), connections: connectionSubject(this.connections) };
      new NodeAgentService(
        {
          processes: serve(sources.processes, subjects.processes),
          mutations: serve(sources.mutations, subjects.mutations),
          connections: withoutSync(serve(sources.connections, subjects.connections)),
        },
        () => this.table.size,
        this.identity,
        () => serverId.value,
        this.log.child({ service: 'node-agent' }),
      ).addToServer(this.server);
      this.membership = new AgentMembership(
        this.etcd,
        this.opts.etcd,
        this.identity,
        this.opts.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS,
        serverId,
        this.log.child({ service: 'membership' }),
      );
      await Promise.all([
        this.membership.join(),
        intents.start().catch((err: unknown) => {
          throw etcdUnavailable(this.opts.etcd, err);
        }),
      ]);
      intentsLoaded();
      const backendForIntents = this.opts.backend;
      if (backendForIntents) {
        // a server's mutations are not registered with the agent: look for matches now and then
        void this.applyIntentsToBackend(backendForIntents);
        this.backendIntentTimer = setInterval(() => void this.applyIntentsToBackend(backendForIntents), BACKEND_INTENT_POLL_MS);
        this.backendIntentTimer.unref();
      }
      this.log.info({ address, listen: this.opts.listen, backend: backend?.description ?? 'workloads' }, 'serving');
      // a wrong password or host should show in the agent's log now, not first in an incident's result
      backend?.queries().then(
        () => undefined,
        (err: unknown) => this.log.warn({ backend: backend.description, err: errorText(err) }, 'backend server does not answer yet; statements will show node_error until it does'),
      );
    });
  }

  /** Kills a mutation for each durable kill that names it and has not killed it here before. */
  private async applyIntents(rec: LiveEntry<MutationRow>, intents: readonly KillIntent[]): Promise<void> {
    for (const intent of intents) {
      if (this.mutations.get(rec.key) !== rec) return;
      try {
        if (!(await this.intents?.claim(intent, rec.row))) continue;
      } catch (err) {
        this.log.warn({ kill_id: intent.id, err: errorText(err) }, 'could not record a durable kill; not applied');
        continue;
      }
      this.log.info({ kill_id: intent.id, mutation_id: rec.row.mutation_id }, 'durable mutation kill applied');
      this.mutations.cancel(rec);
      return;
    }
  }

  /** Durable kills on a server: its matching mutations are killed once per intent, as registered ones are. */
  private async applyIntentsToBackend(backend: Backend): Promise<void> {
    const intents = this.intents;
    if (!intents || intents.size === 0) return;
    let mutations;
    try {
      mutations = await backend.mutations();
    } catch {
      return; // the server is down: the next round tries again
    }
    for (const m of mutations) {
      for (const intent of intents.matching(m.row)) {
        try {
          if (!(await intents.claim(intent, m.row))) continue;
          const result = await m.kill();
          this.log.info({ kill_id: intent.id, mutation_id: m.row.mutation_id, status: result.status }, 'durable mutation kill applied to the server');
        } catch (err) {
          this.log.warn({ kill_id: intent.id, err: errorText(err) }, 'durable kill on the server failed');
        }
        break;
      }
    }
  }

  /** Leaves etcd first (the coordinator stops routing here), then drains the gRPC server. */
  async stop(): Promise<void> {
    await this.lifecycle.stop(
      async () => {
        if (this.backendIntentTimer) clearInterval(this.backendIntentTimer);
        await this.intents?.close();
        await this.membership?.leave();
        this.workloads?.closeAll();
        await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
        await this.opts.backend?.close().catch(() => undefined);
        this.etcd?.close();
      },
      () => {
        this.server.forceShutdown();
        this.etcd?.close();
      },
      this.opts.shutdownDeadlineMs ?? 5_000,
    );
  }
}
