import type { Logger } from '../../common/daemon/logger';
import { chError, QuellError } from '../../errors/quell-error';

export interface LoginThrottleOptions {
  /** failed logins within the window (per user and address, or per address) before delays start */
  readonly threshold?: number;
  readonly windowMs?: number;
  /** the first delay; each further failure doubles it, up to maxDelayMs */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** attempts queued further out than this are refused unchecked, so a flood holds no memory */
  readonly maxQueueMs?: number;
  /** users and addresses remembered at most (a spray of invented names must not grow memory) */
  readonly maxKeys?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: Logger;
}

/** What one attempt must wait before its password is checked. */
export interface LoginDelay {
  readonly delayMs: number;
  /** failures within the window of the user at this address or of the address, whichever has more */
  readonly failures: number;
  /** queued beyond maxQueueMs: refuse without checking */
  readonly refused: boolean;
}

interface Entry {
  /** times of the failures within the window, oldest first */
  failures: number[];
  /** when the next delayed attempt may be checked: parallel attempts queue behind each other */
  nextSlot: number;
  lastRefusalLog: number;
}

/**
 * Slows password guessing (docs/security.md): after `threshold` failed logins within a
 * minute for one user from one client address, or for one client address whatever the user,
 * each later attempt from that address waits before its password is checked, twice as long per
 * further failure, capped. The wait comes before the check and applies to right passwords too,
 * so its length says nothing about the password. Attempts that arrive together queue one step
 * apart instead of all waiting the same step, so parallel guessing gains nothing over
 * sequential guessing.
 *
 * Failures never count per user alone: that would let anyone who can reach a door lock a named
 * user (the admin during an incident) out of every door by guessing from elsewhere. So an
 * address that has not failed is never delayed, whatever other addresses do; a spread attack
 * is bounded by the number of addresses it has, each slowed on its own.
 */
export class LoginThrottle {
  private readonly threshold: number;
  private readonly windowMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxQueueMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly o: LoginThrottleOptions = {}) {
    this.threshold = o.threshold ?? 5;
    this.windowMs = o.windowMs ?? 60_000;
    this.baseDelayMs = o.baseDelayMs ?? 250;
    this.maxDelayMs = o.maxDelayMs ?? 5_000;
    this.maxQueueMs = o.maxQueueMs ?? 30_000;
    this.maxKeys = o.maxKeys ?? 10_000;
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Runs `check` (which throws AUTHENTICATION_FAILED for a bad login) after this attempt's delay, and records its outcome. */
  async attempt<T>(user: string, client: string, check: () => T): Promise<T> {
    const d = this.reserve(user, client);
    if (d.refused) {
      this.logRefusal(user, client, d.failures);
      throw chError('AUTHENTICATION_FAILED', `${user}: Authentication failed: too many failed logins; try again later.`);
    }
    if (d.delayMs > 0) {
      this.o.log?.warn({ user, client, failures: d.failures, delay_ms: d.delayMs }, 'repeated failed logins: attempt delayed');
      await this.sleep(d.delayMs);
    }
    try {
      const result = check();
      this.succeeded(user, client);
      return result;
    } catch (err) {
      if (err instanceof QuellError && err.errorName === 'AUTHENTICATION_FAILED') this.failed(user, client);
      throw err;
    }
  }

  /** The delay of an attempt arriving now, taking its place in the queue of its user and address. */
  reserve(user: string, client: string): LoginDelay {
    const now = this.now();
    const keys = [pairKey(user, client), addressKey(client)];
    const entries = keys.map((k) => this.entries.get(k));
    const failures = Math.max(0, ...entries.map((e) => (e ? this.recent(e, now) : 0)));
    if (failures < this.threshold) return { delayMs: 0, failures, refused: false };
    const step = Math.min(this.baseDelayMs * 2 ** (failures - this.threshold), this.maxDelayMs);
    const start = Math.max(now, ...entries.map((e) => e?.nextSlot ?? 0));
    const delayMs = start + step - now;
    if (delayMs > this.maxQueueMs) return { delayMs, failures, refused: true };
    for (const k of keys) this.touch(k).nextSlot = start + step;
    return { delayMs, failures, refused: false };
  }

  failed(user: string, client: string): void {
    const now = this.now();
    for (const k of [pairKey(user, client), addressKey(client)]) {
      const e = this.touch(k);
      e.failures.push(now);
      // past this many the delay is at its cap anyway
      if (e.failures.length > this.threshold + 32) e.failures.shift();
    }
  }

  /** A right password clears its user's failures at that address; the address keeps its own (one valid account must not unlock guessing others). */
  succeeded(user: string, client: string): void {
    this.entries.delete(pairKey(user, client));
  }

  /** Users and addresses remembered now (for tests of the memory bound). */
  get size(): number {
    return this.entries.size;
  }

  private recent(e: Entry, now: number): number {
    while (e.failures.length > 0 && (e.failures[0] ?? now) <= now - this.windowMs) e.failures.shift();
    return e.failures.length;
  }

  /** The entry of a key, moved to the young end so that eviction drops the longest idle. */
  private touch(key: string): Entry {
    const e = this.entries.get(key) ?? { failures: [], nextSlot: 0, lastRefusalLog: 0 };
    this.entries.delete(key);
    this.entries.set(key, e);
    for (const k of this.entries.keys()) {
      if (this.entries.size <= this.maxKeys) break;
      this.entries.delete(k);
    }
    return e;
  }

  private logRefusal(user: string, client: string, failures: number): void {
    const e = this.touch(addressKey(client));
    const now = this.now();
    // a flood must not become a flood of log lines: one a second per address
    if (now - e.lastRefusalLog < 1_000) return;
    e.lastRefusalLog = now;
    this.o.log?.warn({ user, client, failures }, 'repeated failed logins: attempts refused unchecked until the queue drains');
  }
}

function pairKey(user: string, client: string): string {
  // NUL cannot be in an address, so no user name can make two pairs collide
  return `p:${client}\0${user}`;
}

function addressKey(client: string): string {
  return `a:${client}`;
}

/** A gRPC peer ("ipv4:127.0.0.1:5000", "[::1]:5000") as the address whose attempts count together: the host, not the port. */
export function clientAddress(peer: string): string {
  const bare = peer.replace(/^(ipv4|ipv6|unix):/, '');
  const m = /^\[?([^\]]*?)\]?:\d+$/.exec(bare);
  return m?.[1] ?? bare;
}
