import * as grpc from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { CHANNEL_OPTIONS } from '../common/grpc/channel-options';
import { componentLogger } from '../common/daemon/logger';
import { Lifecycle, StartStopped } from '../common/daemon/lifecycle';
import { systemdNotifier } from '../common/daemon/systemd-notify';
import { connectEtcd, etcdUnavailable, untilEtcdAnswers, type EtcdSecurity } from '../common/etcd/client';
import { AgentPool } from './cluster/agent-pool';
import { ClusterMembership } from './cluster/membership';
import { CoordinatorService } from './doors/grpc/coordinator-service';
import { StatementRunner } from './statements/statement-runner';
import { Users } from './auth/users';
import { KillQueue } from './statements/kill/kill-queue';
import { PolicyStore } from './policies/policy-store';
import { PolicyGuard } from './policies/policy-guard';
import { PeerPolicy, type TransportSecurity } from '../common/tls';
import { SessionRegistry } from './doors/sessions';
import { MysqlDoor } from './doors/mysql/door';
import { DaemonProbes } from '../common/daemon/daemon-probes';
import { ServerCallMetrics } from '../common/grpc/rpc-metrics';
import { CoordinatorMetrics } from './metrics';
import { HttpDoor } from './doors/http/http-door';
import { ClockOffsets, infoClock } from './cluster/clock-offsets';
import { CoordinatorRegistration, defaultCoordinatorId } from './cluster/registration';
import type { CoordinatorSelf } from './context';
import { NoFreeServerIdError } from '../common/etcd/server-id';
import { etcdWatchSource } from '../common/etcd/list-watch';
import { QuellError } from '../errors/quell-error';

export interface CoordinatorOptions {
  readonly etcd: string[];
  readonly etcdSecurity?: EtcdSecurity;
  readonly listen: string;
  /** TLS for the client API (client certificates asked for, not required) and for agent channels */
  readonly security: TransportSecurity;
  readonly users?: Users;
  readonly defaultCluster?: string;
  readonly shutdownDeadlineMs?: number;
  /** statements running at once (0: no limit; default 100) */
  readonly maxConcurrentStatements?: number;
  /** rows a read may return: the default and ceiling of max_result_rows (0: none) */
  readonly maxResultRows?: number;
  /** `--mysql-listen H:P`: the MySQL protocol front door */
  readonly mysqlListen?: string;
  /** `--mysql-max-sessions-per-user N`: MySQL sessions one user may have open (0: no limit; default 64) */
  readonly mysqlMaxSessionsPerUser?: number;
  /** host:port of ClickHouse's HTTP interface (coordinator/doors/http/http-door.ts); none when unset */
  readonly httpListen?: string;
  /** host:port for Prometheus metrics at /metrics (`--metrics-listen`) */
  readonly metricsListen?: string;
  /** `--coordinator-id`: its key in etcd (default: defaultCoordinatorId of the bound address) */
  readonly coordinatorId?: string;
  /** the package version, for system.coordinators */
  readonly version?: string;
  /** the etcd lease TTL of its registration (default 5 s) */
  readonly leaseTtlSeconds?: number;
  /** fires on SIGTERM while starting: waiting for etcd ends, and create() rejects with StartStopped */
  readonly stopWhileStarting?: AbortSignal;
}

/** Statements up to this size reach the parser, which answers with its own error past 256 KiB. */
const MAX_REQUEST_BYTES = 64 * 1024 * 1024;

/**
 * The coordinator daemon: membership view, agent channels, the client API. Built whole by
 * create(): a Coordinator that exists has listed etcd and is serving.
 */
export class Coordinator {
  private constructor(
    private readonly opts: CoordinatorOptions,
    private readonly lifecycle: Lifecycle,
    private readonly server: grpc.Server,
    private readonly etcd: Etcd3,
    private readonly membership: ClusterMembership,
    private readonly guard: PolicyGuard,
    private readonly pool: AgentPool,
    private readonly runner: StatementRunner,
    private readonly service: CoordinatorService,
    /** gRPC health and reflection, metrics */
    readonly probes: DaemonProbes,
    /** the bound host:port */
    readonly address: string,
    private readonly mysql: MysqlDoor | undefined,
    private readonly http: HttpDoor | undefined,
    private readonly clocks: ClockOffsets,
    private readonly registration: CoordinatorRegistration,
  ) {}

  /** Its id in etcd (system.coordinators). */
  get id(): string {
    return this.registration.id;
  }

  /** The MySQL door's bound host:port, when it has one. */
  get mysqlAddress(): string | undefined {
    return this.mysql?.address;
  }

  /** The HTTP interface's bound host:port, when it listens. */
  get httpAddress(): string | undefined {
    return this.http?.address;
  }

  /**
   * Waits for etcd (a warning per try), lists it, then binds and serves: nothing listens until
   * then, so a probe sees a refused connection, not a port that answers without a view. On
   * failure, or a stop while waiting, leaves nothing running.
   */
  static async create(opts: CoordinatorOptions): Promise<Coordinator> {
    const log = componentLogger('coordinator');
    const lifecycle = new Lifecycle(log, 'coordinator');
    // READY=1 when serving, STOPPING=1 when the drain starts, under systemd (deploy/systemd/)
    lifecycle.onChange(systemdNotifier().followLifecycle());
    const etcd = connectEtcd({ ...opts.etcdSecurity, endpoints: opts.etcd });
    // per-RPC counts by status code (grpc_server_handled_total): the interceptor goes in with the server
    const calls = new ServerCallMetrics();
    const server = new grpc.Server({ ...CHANNEL_OPTIONS, 'grpc.max_receive_message_length': MAX_REQUEST_BYTES, interceptors: [calls.interceptor] });
    const pool = new AgentPool(opts.security);
    const membership = new ClusterMembership(etcdWatchSource(etcd), log.child({ service: 'membership' }));
    const users = opts.users ?? Users.defaults();
    // kill policies and queued kills are signed with this coordinator's TLS key (docs/security.md)
    const signer = opts.security.recordSigner();
    const verifier = opts.security.recordVerifier();
    const guard = new PolicyGuard(etcd, users, membership, log.child({ service: 'policy-guard' }), signer, verifier);
    let mysql: MysqlDoor | undefined;
    const probes = new DaemonProbes(['quell.v1.CoordinatorService'], lifecycle, { ok: () => membership.viewState === 'watching', onChange: (l) => membership.onViewState(l) });
    const clocks = new ClockOffsets(membership, infoClock(pool), log.child({ service: 'clocks' }));
    const metrics = opts.metricsListen === undefined ? undefined : new CoordinatorMetrics(membership, () => probes.serving, clocks, calls, () => opts.security.ownCertificate());
    let registration: CoordinatorRegistration | undefined;
    try {
      return await lifecycle.start(async () => {
        membership.onChange(() => pool.sync(membership.clusters().flatMap((cluster) => membership.nodes(cluster))));
        // the first list is a change too: policies are checked against the users file at start
        membership.onChange(() => guard.check());
        await untilEtcdAnswers(etcd, opts.etcd, log, opts.stopWhileStarting);
        try {
          await membership.start();
        } catch (err) {
          throw etcdUnavailable(opts.etcd, err);
        }
        clocks.start();
        // session ids carry the server id the registration holds (common/thread-id.ts)
        const sessions = new SessionRegistry(() => registration?.held);
        const runner = new StatementRunner({
          sessions,
          users,
          membership,
          pool,
          defaultCluster: opts.defaultCluster ?? 'default',
          killQueue: new KillQueue(etcd, opts.etcd, signer, verifier),
          policies: new PolicyStore(etcd, opts.etcd, signer, verifier),
          log: log.child({ service: 'execute' }),
          maxConcurrentStatements: opts.maxConcurrentStatements,
          maxResultRows: opts.maxResultRows,
          metrics,
          clocks,
          // query ids the coordinator makes carry its server id, as its session ids do
          serverId: () => registration?.held?.serverId,
          self: (): CoordinatorSelf | undefined => registration && { id: registration.id, address: registration.address, live: registration.live, statementsRunning: runner.running },
        });
        const service = new CoordinatorService(runner, PeerPolicy.of(opts.security), sessions, () => registration?.id ?? '');
        service.addToServer(server);
        probes.addToServer(server);
        const port = await new Promise<number>((resolve, reject) =>
          server.bindAsync(opts.listen, opts.security.serverCredentials(opts.listen, 'request'), (err, p) => (err ? reject(err) : resolve(p))),
        );
        const address = opts.listen.replace(/:\d+$/, `:${port}`);
        // before the doors: their session ids carry its server id; a second coordinator with this id stops here
        registration = new CoordinatorRegistration(
          etcd,
          { id: opts.coordinatorId ?? defaultCoordinatorId(address), address, version: opts.version ?? 'unknown', leaseTtlSeconds: opts.leaseTtlSeconds, etcdHosts: opts.etcd, running: () => runner.running },
          log.child({ service: 'registration' }),
        );
        try {
          await registration.start();
        } catch (err) {
          throw err instanceof QuellError || err instanceof NoFreeServerIdError ? err : etcdUnavailable(opts.etcd, err);
        }
        if (metrics && opts.metricsListen !== undefined) await probes.serveMetrics(opts.metricsListen, metrics.registry, opts.security, log);
        // the MySQL door before the HTTP one: the catch below destroys it if the HTTP door cannot bind
        if (opts.mysqlListen) mysql = await MysqlDoor.start({ listen: opts.mysqlListen, security: opts.security, runner, sessions, maxSessionsPerUser: opts.mysqlMaxSessionsPerUser, log });
        // last: a door that cannot bind leaves only what the catch below releases
        const http = opts.httpListen ? await HttpDoor.start({ listen: opts.httpListen, security: opts.security, runner, log: log.child({ service: 'http' }) }) : undefined;
        await registration.setDoors({ mysql: mysql?.address, http: http?.address });
        log.info({ address, default_cluster: opts.defaultCluster ?? 'default', coordinator_id: registration.id, server_id: registration.held?.serverId }, 'serving');
        return new Coordinator(opts, lifecycle, server, etcd, membership, guard, pool, runner, service, probes, address, mysql, http, clocks, registration);
      });
    } catch (err) {
      clocks.close();
      await registration?.leave();
      await membership.close();
      await guard.close();
      await probes.close();
      mysql?.destroy();
      release(server, pool, etcd, opts.security);
      if (err instanceof StartStopped) lifecycle.transition('stopped');
      throw err;
    }
  }

  /**
   * Checks the kill policies' creators again (a SIGHUP put a new users file in the Users this
   * coordinator was given: cli/commands/coordinator.ts).
   */
  recheckPolicies(): void {
    this.guard.check();
  }

  /** Stops serving, then closes the membership view, the agent channels and etcd. */
  async stop(): Promise<void> {
    // running statements finish within their own deadlines; the hard stop waits that long
    const graceMs = this.opts.shutdownDeadlineMs ?? 5_000;
    const deadlineMs = Math.max(graceMs, this.runner.latestEndBy() - Date.now() + graceMs);
    await this.lifecycle.stop(
      async () => {
        this.mysql?.stopAccepting();
        // statements finish, then the clients' Session streams end
        await this.service.drain();
        this.mysql?.close();
        await this.http?.close();
        await this.probes.close();
        await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
        // revoked: the other coordinators see this one leave at once
        await this.registration.leave();
        this.clocks.close();
        await this.membership.close();
        await this.guard.close();
        this.pool.close();
        this.etcd.close();
        this.opts.security.close();
      },
      () => {
        this.clocks.close();
        this.mysql?.destroy();
        this.http?.forceClose();
        void this.probes.close();
        release(this.server, this.pool, this.etcd, this.opts.security);
      },
      deadlineMs,
    );
  }
}

/** The hard stop: drops every connection at once. */
function release(server: grpc.Server, pool: AgentPool, etcd: Etcd3, security: TransportSecurity): void {
  server.forceShutdown();
  pool.close();
  etcd.close();
  security.close();
}
