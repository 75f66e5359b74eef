import type { Etcd3 } from 'etcd3';
import type { Logger } from '../daemon/logger';
import { Backoff, Sleeper } from './backoff';
import { errorText } from '../../errors/error-text';
import { withinDeadline } from './client';

/**
 * How long a cancel waits for etcd to confirm it. etcd3 waits for the confirmation for good, and
 * an etcd that is down or hangs never sends it; the cancelled watch's late events are ignored
 * anyway, so a close or a re-list goes on without it.
 */
const WATCH_CANCEL_MS = 1_000;

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

export interface Listing {
  readonly revision: number;
  readonly kvs: readonly KeyValue[];
}

/** What one watch reports; `broken` is final (disconnected, cancelled by etcd, ended). */
export interface WatchEvents {
  connected(): void;
  put(kv: KeyValue): void;
  remove(key: string): void;
  broken(reason: string): void;
}

/** The two etcd calls a list-watch makes; etcdWatchSource adapts a client, tests fake it. */
export interface WatchSource {
  list(prefix: string): Promise<Listing>;
  watch(prefix: string, fromRevision: number, events: WatchEvents): { cancel(): Promise<void> };
}

export function etcdWatchSource(etcd: Etcd3): WatchSource {
  return {
    async list(prefix) {
      const res = await etcd.getAll().prefix(prefix).exec();
      return { revision: Number(res.header.revision), kvs: res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() })) };
    },
    watch(prefix, fromRevision, events) {
      // watcher(), not create(): create() resolves only once etcd answers, and a watcher
      // nobody holds yet cannot be cancelled, so a close during an outage would leak it
      const w = etcd.watch().prefix(prefix).startRevision(String(fromRevision)).watcher();
      w.on('connected', () => events.connected());
      w.on('put', (kv) => events.put({ key: kv.key.toString(), value: kv.value.toString() }));
      w.on('delete', (kv) => events.remove(kv.key.toString()));
      // etcd3 would resume on its own, but a resumed watch can have missed compacted deletes
      w.on('disconnected', (err) => events.broken(`disconnected: ${err.message}`));
      w.on('error', (err) => events.broken(`watch error: ${err.message}`));
      w.on('end', () => events.broken('watch ended'));
      return { cancel: () => withinDeadline(WATCH_CANCEL_MS, w.cancel()) };
    },
  };
}

/** How a view follows the prefix. Handler errors are logged, never break the watch. */
export interface ListWatchHandlers {
  /** a complete listing: the view becomes exactly these pairs (`initial` for the first) */
  reset(kvs: readonly KeyValue[], initial: boolean): void;
  put(key: string, value: string): void;
  remove(key: string): void;
}

export type ListWatchState = 'idle' | 'listing' | 'watching' | 'backoff' | 'closed';

/**
 * An in-memory view of one etcd prefix, modelled on etcd3's own watch manager: list, then
 * watch from the listed revision + 1; on a compaction, a watch error or a disconnect, drop
 * the watcher and list again after the one backoff (common/etcd/backoff.ts). One loop runs the
 * lists, so two never overlap, and the old watcher is always cancelled before a new one.
 * close() cancels the watcher and any pending backoff timer.
 *
 *   idle → listing → watching → backoff → listing → … ; any state → closed
 */
export class ListWatch {
  private current: ListWatchState = 'idle';
  private watcher: { cancel(): Promise<void> } | undefined;
  /** ends the current watch with a reason; events of older watches are ignored */
  private endWatch: ((reason: string) => void) | undefined;
  private generation = 0;
  private readonly sleeper = new Sleeper();
  private readonly stateListeners = new Set<(state: ListWatchState) => void>();
  /** the revision of the last complete listing */
  listedRevision = 0;

  constructor(
    private readonly source: WatchSource,
    private readonly prefix: string,
    private readonly handlers: ListWatchHandlers,
    private readonly log: Logger,
    private readonly backoff = new Backoff(),
  ) {}

  get state(): ListWatchState {
    return this.current;
  }

  /** Called after every state change: health and metrics follow whether the view is current. */
  onState(listener: (state: ListWatchState) => void): void {
    this.stateListeners.add(listener);
  }

  private get closed(): boolean {
    return this.current === 'closed';
  }

  /**
   * Lists once and starts watching. A failed first list rejects (and closes): a daemon that
   * cannot read etcd at start refuses to start instead of serving an empty view.
   */
  async start(): Promise<void> {
    if (this.current !== 'idle') throw new Error(`list-watch of ${this.prefix} already started`);
    let first: { ended: Promise<string> };
    try {
      first = await this.listThenWatch(true);
    } catch (err) {
      await this.close();
      throw err;
    }
    void this.supervise(first.ended);
  }

  async close(): Promise<void> {
    if (!this.closed) this.transition('closed');
    this.sleeper.close();
    await this.dropWatcher('closed');
  }

  /** The retry loop: each broken watch leads, after a backoff, to one new list and watch. */
  private async supervise(ended: Promise<string>): Promise<void> {
    let reason = await ended;
    while (!this.closed) {
      await this.dropWatcher(reason);
      if (this.closed) return;
      const failures = this.backoff.failures;
      const delayMs = this.backoff.next();
      // one warning per streak, then one a minute or so: an outage must not flood the log
      const level = failures === 0 || failures % 60 === 0 ? 'warn' : 'debug';
      this.transition('backoff', { reason, delay_ms: delayMs, failures }, level);
      if (!(await this.sleeper.sleep(delayMs))) return;
      try {
        reason = await (await this.listThenWatch(false)).ended;
      } catch (err) {
        reason = `list failed: ${errorText(err)}`;
      }
    }
  }

  /** Returns once watching; `ended` settles when that watch breaks or the view closes. */
  private async listThenWatch(initial: boolean): Promise<{ ended: Promise<string> }> {
    const closed = { ended: Promise.resolve('closed') };
    this.transition('listing', {}, 'debug');
    const listing = await this.source.list(this.prefix);
    if (this.closed) return closed;
    this.listedRevision = listing.revision;
    this.guarded('reset', () => this.handlers.reset(listing.kvs, initial));
    await this.dropWatcher('re-listed');
    if (this.closed) return closed;
    const generation = ++this.generation;
    const live = (): boolean => generation === this.generation && !this.closed;
    const ended = new Promise<string>((resolve) => (this.endWatch = resolve));
    this.watcher = this.source.watch(this.prefix, listing.revision + 1, {
      connected: () => {
        if (live()) this.backoff.reset();
      },
      put: (kv) => {
        if (live()) this.guarded('put', () => this.handlers.put(kv.key, kv.value));
      },
      remove: (key) => {
        if (live()) this.guarded('remove', () => this.handlers.remove(key));
      },
      broken: (reason) => {
        if (live()) this.endWatch?.(reason);
      },
    });
    const recovered = this.backoff.failures > 0;
    this.transition('watching', { revision: listing.revision, keys: listing.kvs.length }, initial || recovered ? 'info' : 'debug');
    return { ended };
  }

  /** Cancels the current watcher (if any) and ends its wait; its late events are ignored. */
  private async dropWatcher(reason: string): Promise<void> {
    const w = this.watcher;
    const end = this.endWatch;
    this.watcher = undefined;
    this.endWatch = undefined;
    this.generation++;
    end?.(reason);
    await w?.cancel().catch((err: unknown) => this.log.debug({ err: errorText(err) }, 'watch cancel failed'));
  }

  private guarded(handler: string, run: () => void): void {
    try {
      run();
    } catch (err) {
      this.log.error({ prefix: this.prefix, handler, err: errorText(err) }, 'list-watch handler failed');
    }
  }

  private transition(next: ListWatchState, detail: Record<string, unknown> = {}, level: 'debug' | 'info' | 'warn' = 'info'): void {
    this.log[level]({ ...detail, prefix: this.prefix, from: this.current, to: next }, `list-watch ${next}`);
    this.current = next;
    for (const l of this.stateListeners) l(next);
  }
}
