import * as grpc from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { CHANNEL_OPTIONS } from '../proto/load';
import { componentLogger, type Logger } from '../common/logger';
import { Lifecycle } from '../common/lifecycle';
import { connectEtcd, etcdUnavailable } from '../common/etcd';
import { AgentPool } from './agent-pool';
import { ClusterMembership } from './membership';
import { CoordinatorService } from './coordinator-service';
import { Users } from './users';
import { KillQueue } from './kill-queue';

export interface CoordinatorOptions {
  readonly etcd: string[];
  readonly listen: string;
  readonly users?: Users;
  readonly defaultCluster?: string;
  readonly shutdownDeadlineMs?: number;
  /** statements running at once (0: no limit; default 100) */
  readonly maxConcurrentStatements?: number;
  /** rows a read may return: the default and ceiling of max_result_rows (0: none) */
  readonly maxResultRows?: number;
}

/** Statements up to this size reach the parser, which answers with its own error past 256 KiB. */
const MAX_REQUEST_BYTES = 64 * 1024 * 1024;

/** The coordinator daemon: membership view, agent channels, the client API. */
export class Coordinator {
  private readonly log: Logger;
  private readonly lifecycle: Lifecycle;
  private readonly server = new grpc.Server({ ...CHANNEL_OPTIONS, 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  private readonly pool = new AgentPool();
  private etcd: Etcd3 | undefined;
  private membership: ClusterMembership | undefined;
  private service: CoordinatorService | undefined;
  /** the bound host:port */
  address = '';

  constructor(private readonly opts: CoordinatorOptions) {
    this.log = componentLogger('coordinator');
    this.lifecycle = new Lifecycle(this.log, 'coordinator');
  }

  async start(): Promise<void> {
    await this.lifecycle.start(async () => {
      this.etcd = connectEtcd(this.opts.etcd);
      const membership = new ClusterMembership(this.etcd, this.log.child({ service: 'membership' }));
      this.membership = membership;
      membership.onChange(() => this.pool.sync(membership.clusters().flatMap((cluster) => membership.nodes(cluster))));
      try {
        await membership.start();
      } catch (err) {
        throw etcdUnavailable(this.opts.etcd, err);
      }
      this.service = new CoordinatorService({
        users: this.opts.users ?? Users.defaults(),
        membership,
        pool: this.pool,
        defaultCluster: this.opts.defaultCluster ?? 'default',
        killQueue: new KillQueue(this.etcd, this.opts.etcd),
        log: this.log.child({ service: 'execute' }),
        maxConcurrentStatements: this.opts.maxConcurrentStatements,
        maxResultRows: this.opts.maxResultRows,
      });
      this.service.addToServer(this.server);
      const port = await new Promise<number>((resolve, reject) =>
        this.server.bindAsync(this.opts.listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
      );
      this.address = this.opts.listen.replace(/:\d+$/, `:${port}`);
      this.log.info({ address: this.address, default_cluster: this.opts.defaultCluster ?? 'default' }, 'serving');
    });
  }

  async stop(): Promise<void> {
    await this.lifecycle.stop(
      async () => {
        await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
        await this.membership?.close();
        this.pool.close();
        this.etcd?.close();
      },
      () => {
        this.server.forceShutdown();
        this.pool.close();
        this.etcd?.close();
      },
      this.opts.shutdownDeadlineMs ?? 5_000,
    );
  }
}
