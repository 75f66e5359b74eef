/**
 * SYNC on a database server: the server does not tell us when a statement stops, so the agent
 * asks. One poll loop serves every waiter of a table; it starts at 1 ms and backs off by half
 * again each round to 20 ms (so a statement that stops at once is seen within a few ms, and a
 * slow one costs at most 50 reads a second), and stops when nobody waits.
 */
export class GonePoller {
  private readonly waiters = new Map<string, Array<() => void>>();
  private running = false;

  constructor(
    /** the keys the server runs now */
    private readonly present: () => Promise<Set<string>>,
    private readonly firstDelayMs = 1,
    private readonly maxDelayMs = 20,
  ) {}

  /** Resolves when the server no longer runs `key`, or (without waiting further) when `stop` aborts. */
  whenGone(key: string, stop: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (stop.aborted) return resolve();
      const list = this.waiters.get(key);
      if (list) list.push(resolve);
      else this.waiters.set(key, [resolve]);
      stop.addEventListener(
        'abort',
        () => {
          const rest = this.waiters.get(key)?.filter((w) => w !== resolve);
          if (rest && rest.length > 0) this.waiters.set(key, rest);
          else this.waiters.delete(key);
          resolve();
        },
        { once: true },
      );
      if (!this.running) void this.loop();
    });
  }

  private async loop(): Promise<void> {
    this.running = true;
    let delay = this.firstDelayMs;
    while (this.waiters.size > 0) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(this.maxDelayMs, Math.ceil(delay * 1.5));
      let keys: Set<string>;
      try {
        keys = await this.present();
      } catch {
        // the server is unreachable for now: keep waiting; the kill's own deadline ends the wait
        continue;
      }
      for (const [key, wake] of [...this.waiters]) {
        if (keys.has(key)) continue;
        this.waiters.delete(key);
        for (const w of wake) w();
      }
    }
    this.running = false;
  }
}
