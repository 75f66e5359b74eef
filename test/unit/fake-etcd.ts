import type { Listing, WatchEvents, WatchSource } from '../../common/etcd/list-watch';

interface FakeWatch {
  readonly from: number;
  readonly events: WatchEvents;
  cancelled: boolean;
}

/** An etcd of one prefix that a test can take down, break watches of and write to. */
export class FakeEtcd implements WatchSource {
  readonly kvs = new Map<string, string>();
  revision = 1;
  down = false;
  lists = 0;
  private listing = 0;
  maxConcurrentLists = 0;
  readonly watches: FakeWatch[] = [];
  /** at most this many watchers were uncancelled at once */
  maxLiveWatches = 0;
  /** a list waits for this before answering, when set */
  gate: Promise<void> | undefined;

  async list(): Promise<Listing> {
    this.lists++;
    this.listing++;
    this.maxConcurrentLists = Math.max(this.maxConcurrentLists, this.listing);
    try {
      await (this.gate ?? Promise.resolve());
      await new Promise((r) => setImmediate(r));
      if (this.down) throw new Error('connect ECONNREFUSED');
      return { revision: this.revision, kvs: [...this.kvs].map(([key, value]) => ({ key, value })) };
    } finally {
      this.listing--;
    }
  }

  watch(_prefix: string, from: number, events: WatchEvents): { cancel(): Promise<void> } {
    const w: FakeWatch = { from, events, cancelled: false };
    this.watches.push(w);
    this.maxLiveWatches = Math.max(this.maxLiveWatches, this.live().length);
    if (!this.down) setImmediate(() => w.cancelled || events.connected());
    return {
      cancel: async () => {
        w.cancelled = true;
      },
    };
  }

  live(): FakeWatch[] {
    return this.watches.filter((w) => !w.cancelled);
  }

  put(key: string, value: string): void {
    this.revision++;
    this.kvs.set(key, value);
    if (!this.down) for (const w of this.live()) w.events.put({ key, value });
  }

  remove(key: string): void {
    this.revision++;
    this.kvs.delete(key);
    if (!this.down) for (const w of this.live()) w.events.remove(key);
  }

  breakWatches(reason: string): void {
    for (const w of this.live()) w.events.broken(reason);
  }
}
