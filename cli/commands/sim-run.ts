import type { WorkloadSession } from '../../client/workload-client';
import { announce } from '../args';

/**
 * The life of a sim: the things it runs (queries, mutations or connections), one `ended` line
 * for each, `detached` for all of them when the agent's stream drops, SIGTERM/SIGINT ending
 * them normally, and the exit status once none is left.
 */
export class SimRun<T> {
  private readonly live = new Set<T>();
  private detached = false;
  private resolveDone: () => void = () => undefined;
  private readonly done = new Promise<void>((r) => (this.resolveDone = r));

  constructor(
    private readonly session: WorkloadSession,
    /** the identifying fields of a thing in every line about it */
    private readonly describe: (t: T) => Record<string, unknown>,
  ) {
    session.onClose((err) => {
      if (this.live.size === 0) return;
      this.detached = true;
      for (const t of this.live) announce({ event: 'ended', ...describe(t), outcome: 'detached', error: err?.message ?? 'agent closed the stream' });
      this.live.clear();
      this.resolveDone();
    });
  }

  add(t: T): void {
    this.live.add(t);
  }

  items(): T[] {
    return [...this.live];
  }

  /** Prints its `ended` line (with `extra` fields after the outcome); false when it had already ended. */
  end(t: T, outcome: string, extra: Record<string, unknown> = {}): boolean {
    if (!this.live.delete(t)) return false;
    announce({ event: 'ended', ...this.describe(t), outcome, ...extra });
    if (this.live.size === 0) this.resolveDone();
    return true;
  }

  /** Runs until nothing is left: `tick` every `tickMs`, `onTerm` on SIGTERM/SIGINT. */
  async run(tickMs: number, tick: () => void, onTerm: () => void, attempted: number): Promise<number> {
    if (this.live.size === 0) {
      this.session.close();
      return attempted === 0 ? 0 : 1;
    }
    const ticker = setInterval(tick, tickMs);
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onTerm);
    await this.done;
    clearInterval(ticker);
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onTerm);
    this.session.close();
    return this.detached ? 1 : 0;
  }
}
