/** Something that gathers messages during a turn and sends them in one write. */
export interface Flushable {
  flush(): void;
}

/**
 * Flushes everything that gathered messages during this event-loop turn, once, right after the
 * turn's I/O callbacks: what became ready together leaves together. One immediate serves every
 * target, so a statement that reaches 100 agents schedules one, not 100.
 */
export class TurnFlusher {
  private readonly dirty = new Set<Flushable>();
  private scheduled: NodeJS.Immediate | undefined;

  schedule(target: Flushable): void {
    this.dirty.add(target);
    this.scheduled ??= setImmediate(() => this.flushAll());
  }

  /** Flushes now (a target that gathered enough need not wait for the turn to end). */
  flushAll(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const targets = [...this.dirty];
    this.dirty.clear();
    for (const t of targets) t.flush();
  }
}
