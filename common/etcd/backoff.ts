/**
 * The one retry policy for everything that reconnects to etcd: watch re-lists, lease
 * re-grants and etcd3's own watch-stream reconnects. Exponential from 100 ms, capped at 1 s
 * so that a view catches up within about a second of etcd returning, and jittered so that
 * many agents that lost etcd together do not return in lockstep.
 */
export const BACKOFF_INITIAL_MS = 100;
export const BACKOFF_MAX_MS = 1_000;
/** the share of each delay that is random: delays fall in [(1 - JITTER)·d, d] */
const JITTER = 0.5;

/** The delay before retry number `attempt` (0 = the first retry after a failure). */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_INITIAL_MS * 2 ** Math.min(attempt, 30), BACKOFF_MAX_MS);
  return Math.round(ceiling * (1 - JITTER * random()));
}

/** A retry streak: next() gives each delay in turn, reset() after a success starts over. */
export class Backoff {
  private attempt = 0;

  constructor(private readonly random: () => number = Math.random) {}

  /** consecutive failures since the last reset */
  get failures(): number {
    return this.attempt;
  }

  next(): number {
    return backoffDelay(this.attempt++, this.random);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Waits that a closing owner can cut short. close() clears the pending timer, so a closed
 * daemon leaves no timer behind to keep Node running, and every wait after it ends at once.
 */
export class Sleeper {
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private closed = false;

  /** Resolves true after `ms`, or false as soon as the sleeper is closed. */
  sleep(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    // one sleeper serves one retry loop: a second wait replaces the first, which ends as closed
    this.interrupt();
    return new Promise((resolve) => {
      this.wake = () => resolve(false);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.wake = undefined;
        resolve(true);
      }, ms);
    });
  }

  close(): void {
    this.closed = true;
    this.interrupt();
  }

  private interrupt(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** cockatiel's backoff shape, which etcd3 takes for its watch-stream reconnects */
export interface StreamBackoff {
  readonly duration: number;
  next(): StreamBackoff;
}

/**
 * The same policy in the immutable form etcd3's watch manager uses. Its reconnect timers
 * cannot be cleared from outside, so the cap is what bounds how long a closed client can
 * keep Node running (etcd3's default grows to 30 s).
 */
export function streamBackoff(attempt = 0): StreamBackoff {
  return {
    duration: attempt === 0 ? 0 : backoffDelay(attempt - 1),
    next: () => streamBackoff(attempt + 1),
  };
}

/**
 * One retry loop at a time for a lease that was lost (agent membership, coordinator
 * registration): `attempt` at once, then after each backoff delay, until it succeeds, the owner
 * stops, or `fatal` says a failure must not be retried. One warning per failure streak, then one
 * every ~60 attempts (about a minute).
 */
export class RetryLoop {
  private running = false;
  readonly backoff = new Backoff();
  private readonly sleeper = new Sleeper();

  constructor(
    private readonly o: {
      readonly attempt: () => Promise<void>;
      /** the owner is stopping: no more attempts */
      readonly stopped: () => boolean;
      /** after each failed attempt; true: stop retrying (the owner has handled it) */
      readonly fatal: (err: unknown) => boolean;
      readonly warn: (err: unknown, failedAttempts: number) => void;
    },
  ) {}

  start(): void {
    if (this.o.stopped() || this.running) return;
    this.running = true;
    void (async () => {
      while (!this.o.stopped()) {
        try {
          await this.o.attempt();
          break;
        } catch (err) {
          if (this.o.fatal(err)) break;
          const delayMs = this.backoff.next();
          if (this.backoff.failures === 1 || this.backoff.failures % 60 === 0) this.o.warn(err, this.backoff.failures);
          if (!(await this.sleeper.sleep(delayMs))) break;
        }
      }
      this.running = false;
    })();
  }

  close(): void {
    this.sleeper.close();
  }
}
