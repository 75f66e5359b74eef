import type { Logger } from './logger';
import { errorText } from '../../errors/error-text';

export type LifecycleState = 'created' | 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/** A stop asked for (SIGTERM) while the daemon was still starting, e.g. waiting for etcd: not a failure. */
export class StartStopped extends Error {
  constructor() {
    super('stopped before it was ready');
    this.name = 'StartStopped';
  }
}

/**
 * Explicit daemon states, each transition logged. stop() runs the drain step and escalates to
 * the hard step when draining does not finish within the deadline.
 */
export class Lifecycle {
  private current: LifecycleState = 'created';
  private stopping: Promise<void> | undefined;
  private readonly listeners = new Set<(state: LifecycleState) => void>();

  constructor(
    private readonly log: Logger,
    private readonly name: string,
  ) {}

  get state(): LifecycleState {
    return this.current;
  }

  transition(next: LifecycleState, detail: Record<string, unknown> = {}, level: 'info' | 'error' = 'info'): void {
    this.log[level]({ ...detail, from: this.current, to: next }, `${this.name} ${next}`);
    this.current = next;
    for (const l of this.listeners) l(next);
  }

  /** Called after every transition (health follows the state from here). */
  onChange(listener: (state: LifecycleState) => void): void {
    this.listeners.add(listener);
  }

  /**
   * Runs the start-up and returns what it built (a daemon built whole). A failure is logged
   * once, at error level, as one line. A stop asked for meanwhile (StartStopped) is no failure:
   * the daemon releases what it holds and stops (stop(), or transition('stopped')).
   */
  async start<T>(run: () => Promise<T>): Promise<T> {
    this.transition('starting');
    let built: T;
    try {
      built = await run();
    } catch (err) {
      if (err instanceof StartStopped) this.log.info(`${this.name} stopping before it was ready`);
      else this.transition('failed', { err: errorText(err) }, 'error');
      throw err;
    }
    this.transition('running');
    return built;
  }

  /** Idempotent: concurrent callers share one shutdown. */
  stop(drain: () => Promise<void>, force: () => void, deadlineMs: number): Promise<void> {
    this.stopping ??= (async () => {
      if (this.current === 'stopped') return;
      this.transition('draining');
      let timer: NodeJS.Timeout | undefined;
      const escalate = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), deadlineMs);
        timer.unref();
      });
      const outcome = await Promise.race([drain().then(() => 'drained' as const), escalate]).catch((err: unknown) => {
        this.log.error({ err }, `${this.name} drain failed`);
        return 'failed' as const;
      });
      if (timer) clearTimeout(timer);
      if (outcome !== 'drained') {
        this.log.warn({ deadline_ms: deadlineMs, outcome }, `${this.name} drain did not finish; forcing shutdown`);
        force();
      }
      this.transition('stopped');
    })();
    return this.stopping;
  }
}
