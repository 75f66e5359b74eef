import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from '../daemon/logger';
import { errorText } from '../../errors/error-text';
import { QuellError } from '../../errors/quell-error';
import { etcdUnavailable } from './client';
import { NoFreeServerIdError } from './server-id';
import { RetryLoop } from './backoff';
import { followLease } from './lease-events';

export interface LeasedPresenceOptions<E extends Error> {
  readonly ttlSeconds: number;
  /** the owner's whole going live (it calls goLive): what a re-grant tries again after a lost lease */
  readonly regrant: () => Promise<void>;
  /**
   * The error of another live holder of the owner's id: a re-grant that meets it is not retried,
   * the presence stops and the owner is disowned.
   */
  readonly taken: new (...args: never[]) => E;
  /** the error line logged when `taken` ends the re-grants */
  readonly takenMessage: string;
  readonly onDisowned: (err: E) => void;
  /** the etcd endpoints: a failure to reach etcd is logged naming them (etcdUnavailable) */
  readonly hosts: readonly string[];
}

/**
 * A daemon's presence in etcd under a lease (agent membership, coordinator registration): the
 * lease is granted with keep-alives, its keys are written by the owner (`hold`), a lost lease is
 * re-granted after the one backoff (common/etcd/backoff.ts) and held again, and a clean stop
 * revokes it, so the others see the daemon leave at once; a crash leaves it when the lease expires.
 */
export class LeasedPresence<E extends Error> {
  private lease: Lease | undefined;
  private isStopping = false;
  private isLive = false;
  private readonly liveListeners = new Set<(live: boolean) => void>();
  /** consecutive failed re-grants wait longer each time */
  private readonly regrant = new RetryLoop({
    attempt: () => this.o.regrant(),
    stopped: () => this.isStopping,
    fatal: (err) => {
      this.lease?.release();
      this.lease = undefined;
      if (!(err instanceof this.o.taken)) return false;
      this.isStopping = true;
      this.log.error({ err: err.message }, this.o.takenMessage);
      this.o.onDisowned(err);
      return true;
    },
    warn: (err, failedAttempts) => this.log.warn({ err: this.describe(err), failed_attempts: failedAttempts }, 're-grant failed; retrying'),
  });

  constructor(
    private readonly etcd: Etcd3,
    private readonly log: Logger,
    private readonly o: LeasedPresenceOptions<E>,
  ) {}

  /**
   * Whether etcd holds the lease as far as this daemon knows: granted and its last keep-alive
   * answered. A failed keep-alive (etcd unreachable) makes it false until one succeeds.
   */
  get live(): boolean {
    return this.isLive;
  }

  /** leave() was called, or another holder took the id: nothing more is written */
  get stopping(): boolean {
    return this.isStopping;
  }

  onLive(listener: (live: boolean) => void): void {
    this.liveListeners.add(listener);
  }

  private setLive(live: boolean): void {
    if (live === this.isLive) return;
    this.isLive = live;
    for (const l of this.liveListeners) l(live);
  }

  /** An error as the log shows it: ours as it is, anything else as etcd out of reach, naming its hosts. */
  private describe(err: unknown): string {
    return errorText(err instanceof QuellError || err instanceof NoFreeServerIdError ? err : etcdUnavailable(this.o.hosts, err));
  }

  /**
   * A new lease, followed from now on: `hold` grants it and writes what lives under it. Resolves
   * once live, with what `hold` gave; a re-grant after failed ones says how many failed.
   */
  async goLive<T>(hold: (lease: Lease) => Promise<T>): Promise<T> {
    const lease = this.etcd.lease(this.o.ttlSeconds, { autoKeepAlive: true });
    this.lease = lease;
    // a lease that never went live failed its grant: goLive's caller retries that one
    const wentLive = followLease(lease, {
      mine: () => this.lease === lease && !this.isStopping,
      live: (live) => this.setLive(live),
      lost: (err) => {
        this.lease = undefined;
        if (this.regrant.backoff.failures === 0) this.log.warn({ err: err.message }, 'lease lost; re-granting');
        this.regrant.start();
      },
    });
    const held = await hold(lease);
    wentLive();
    this.setLive(!this.isStopping);
    const failedAttempts = this.regrant.backoff.failures;
    if (failedAttempts > 0) this.log.info({ failed_attempts: failedAttempts }, 'lease re-granted');
    this.regrant.backoff.reset();
    return held;
  }

  /** Revokes the lease: the others see this daemon leave at once. A lease still being granted is released. */
  async leave(): Promise<void> {
    this.isStopping = true;
    this.regrant.close();
    this.setLive(false);
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    try {
      await lease.revoke();
    } catch (err) {
      this.log.warn({ err: this.describe(err) }, 'lease revoke failed; it will expire');
    }
  }
}
