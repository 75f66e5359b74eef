import { hostname } from 'node:os';
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../common/daemon/logger';
import { assertKeySegment, coordinatorKey, DEFAULT_LEASE_TTL_SECONDS, type CoordinatorRecord } from '../../common/etcd/etcd-layout';
import { coordinatorHolder, ServerId, type ServerIdHold } from '../../common/etcd/server-id';
import { SoleHolder } from '../../common/etcd/sole-holder';
import { LeasedPresence } from '../../common/etcd/leased-presence';
import { errorText } from '../../errors/error-text';
import { ErrorCode, QuellError } from '../../errors/quell-error';

/** Another live coordinator holds this coordinator id: this one must not serve. */
export class CoordinatorIdTakenError extends QuellError {
  constructor(
    readonly coordinatorId: string,
    readonly holder: Partial<CoordinatorRecord>,
  ) {
    super(
      ErrorCode.BAD_ARGUMENTS,
      'BAD_ARGUMENTS',
      `coordinator id '${coordinatorId}' is already held by a live coordinator at ${holder.address || 'an unknown address'}` +
        `${holder.pid ? ` (pid ${holder.pid})` : ''}; stop that coordinator or choose another --coordinator-id`,
    );
  }
}

/**
 * `--coordinator-id`'s default: the host name and the --listen port, so the same coordinator
 * keeps its id across restarts, and two on one host differ by port.
 */
export function defaultCoordinatorId(listen: string): string {
  const port = /:(\d+)$/.exec(listen)?.[1] ?? '0';
  const host = hostname().replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100) || 'coordinator';
  return `${host}-${port}`;
}

/** How often a changed count of running statements is written to the record at most. */
const PUBLISH_MS = 2_000;

export interface RegistrationOptions {
  readonly id: string;
  /** the bound gRPC address */
  readonly address: string;
  readonly version: string;
  readonly leaseTtlSeconds?: number;
  /** the etcd endpoints, named when etcd cannot be reached */
  readonly etcdHosts: readonly string[];
  /** statements running now, published with the record */
  readonly running: () => number;
}

/**
 * The coordinator in etcd (docs/etcd-layout.md): /quell/v1/coordinators/<id> under its lease,
 * taken create-if-absent before the doors open (one live coordinator per id, common/etcd/sole-holder.ts),
 * and a server id from the agents' space (common/etcd/server-id.ts) under the same lease: the prefix
 * of its door sessions' connection ids. A lost lease is re-granted and both are taken again
 * (the same server id, so open sessions keep their ids); a clean stop revokes it, so the others
 * see the coordinator leave at once, and a crash leaves it when the lease expires.
 */
export class CoordinatorRegistration {
  private leaseId = '';
  private readonly presence: LeasedPresence<CoordinatorIdTakenError>;
  private readonly holder: SoleHolder<CoordinatorRecord>;
  private readonly serverIds: ServerId;
  private doors = { mysql_address: '', http_address: '' };
  private published = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = new Date().toISOString();

  constructor(
    etcd: Etcd3,
    private readonly opts: RegistrationOptions,
    private readonly log: Logger,
    /** another coordinator took the id while this one's lease was gone: it must stop serving */
    onDisowned: (err: CoordinatorIdTakenError) => void = stopThisProcess,
  ) {
    assertKeySegment('coordinator id', opts.id);
    this.presence = new LeasedPresence(etcd, log, {
      ttlSeconds: opts.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS,
      regrant: () => this.goLive(),
      taken: CoordinatorIdTakenError,
      takenMessage: 'coordinator id taken by another coordinator while this one was not live; stopping',
      onDisowned,
      hosts: opts.etcdHosts,
    });
    this.holder = new SoleHolder<CoordinatorRecord>(etcd, coordinatorKey(opts.id), (instance) => this.record(instance), (h) => new CoordinatorIdTakenError(opts.id, h), log);
    this.serverIds = new ServerId(etcd, coordinatorHolder(opts.id), log);
  }

  get id(): string {
    return this.opts.id;
  }

  /** The gRPC address it registered. */
  get address(): string {
    return this.opts.address;
  }

  /** The server id held now, for session ids; undefined before start(). */
  get held(): ServerIdHold | undefined {
    return this.serverIds.held;
  }

  /** Whether etcd holds this coordinator's lease as far as it knows. */
  get live(): boolean {
    return this.presence.live;
  }

  /** Takes the id and a server id; rejects with CoordinatorIdTakenError, NoFreeServerIdError or etcd's error. */
  async start(): Promise<void> {
    await this.goLive();
    this.timer = setInterval(() => {
      const running = this.opts.running();
      if (running !== this.published && this.presence.live) void this.publish();
    }, PUBLISH_MS);
    this.timer.unref();
  }

  /** The doors' bound addresses, once they listen. */
  async setDoors(doors: { mysql?: string; http?: string }): Promise<void> {
    this.doors = { mysql_address: doors.mysql ?? '', http_address: doors.http ?? '' };
    await this.publish();
  }

  private record(instance: string): CoordinatorRecord {
    this.published = this.opts.running();
    return {
      id: this.opts.id,
      address: this.opts.address,
      ...this.doors,
      version: this.opts.version,
      started_at: this.startedAt,
      pid: process.pid,
      instance,
      server_id: this.serverIds.value,
      statements_running: this.published,
    };
  }

  private async publish(): Promise<void> {
    if (!this.leaseId || this.presence.stopping) return;
    try {
      await this.holder.update(this.leaseId);
    } catch (err) {
      this.log.warn({ err: errorText(err) }, 'coordinator record not updated');
    }
  }

  private async goLive(): Promise<void> {
    await this.presence.goLive(async (lease) => {
      const leaseId = await lease.grant();
      await this.holder.take(leaseId);
      // the record first says server id 0; it names the server id once it is held
      await this.serverIds.claim(leaseId);
      this.leaseId = leaseId;
      await this.holder.update(leaseId);
    });
    this.log.info({ coordinator_id: this.opts.id, server_id: this.serverIds.value, lease_ttl_s: this.opts.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS }, 'registered in etcd');
  }

  /** Revokes the lease: the coordinator leaves system.coordinators at once. A lease still being granted is released. */
  async leave(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.presence.leave();
  }
}

/** The coordinator's process stops as on SIGTERM (drains, leaves etcd), and exits non-zero. */
function stopThisProcess(): void {
  process.exitCode = 1;
  process.kill(process.pid, 'SIGTERM');
}
