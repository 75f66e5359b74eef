import type { Etcd3, Watcher } from 'etcd3';
import type { Logger } from '../common/logger';
import { KILL_INTENTS_PREFIX, killAppliedKey, parseKillIntentKey, type KillIntent } from '../common/etcd-layout';
import type { MutationRow } from './rows';
import { errorText } from '../errors/error-text';

/**
 * The durable mutation kills that name this node: listed before the agent accepts mutation
 * registrations, then watched. A matching mutation is killed once per intent: the application
 * is recorded in etcd with create-if-absent under the intent's lease, so a restart or a
 * re-registration does not kill it again, and expiry removes intent and records together.
 */
export class KillIntents {
  private readonly intents = new Map<string, KillIntent>();
  private watcher: Watcher | undefined;
  private closed = false;

  constructor(
    private readonly etcd: Etcd3,
    private readonly nodeId: string,
    private readonly clusters: readonly string[],
    private readonly filterFor: (where: string) => (r: MutationRow) => boolean,
    private readonly log: Logger,
    /** called for an intent that arrives while the agent runs */
    private readonly onIntent: (intent: KillIntent) => void,
  ) {}

  async start(): Promise<void> {
    await this.listAndWatch(false);
    this.log.info({ pending: this.intents.size }, 'mutation kill intents loaded');
  }

  /**
   * Lists the intents, then watches from the listed revision + 1. After a watch error (etcd
   * cancelled it, e.g. past a compaction) or a reconnect it lists again, as the coordinator's
   * membership does; intents that appeared meanwhile are applied like live ones.
   */
  private async listAndWatch(live: boolean): Promise<void> {
    const res = await this.etcd.getAll().prefix(KILL_INTENTS_PREFIX).exec();
    const known = new Set(this.intents.keys());
    this.intents.clear();
    for (const kv of res.kvs) this.put(kv.key.toString(), kv.value.toString(), live && !known.has(parseKillIntentKey(kv.key.toString()) ?? ''));
    await this.watcher?.cancel().catch(() => undefined);
    const watcher = await this.etcd
      .watch()
      .prefix(KILL_INTENTS_PREFIX)
      .startRevision(String(Number(res.header.revision) + 1))
      .create();
    if (this.closed) {
      await watcher.cancel();
      return;
    }
    this.watcher = watcher;
    watcher.on('put', (kv) => this.put(kv.key.toString(), kv.value.toString(), true));
    watcher.on('delete', (kv) => {
      const id = parseKillIntentKey(kv.key.toString());
      if (id) this.intents.delete(id);
    });
    let disconnected = false;
    watcher.on('disconnected', () => {
      disconnected = true;
    });
    watcher.on('connected', () => {
      if (!disconnected) return;
      disconnected = false;
      this.relist('watch reconnected');
    });
    watcher.on('error', (err) => {
      this.log.warn({ err: err.message }, 'kill intent watch failed');
      this.relist('watch error');
    });
  }

  private relist(reason: string): void {
    if (this.closed) return;
    this.log.info({ reason }, 'kill intents re-listing');
    this.listAndWatch(true).catch((err: unknown) => {
      this.log.warn({ err: errorText(err) }, 'kill intents re-list failed; retrying');
      setTimeout(() => this.relist('retry'), 1_000).unref();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watcher?.cancel().catch(() => undefined);
  }

  /** intents that name this node, expired or not (etcd removes the expired) */
  get size(): number {
    return this.intents.size;
  }

  private put(key: string, value: string, live: boolean): void {
    const id = parseKillIntentKey(key);
    if (!id) return;
    let intent: KillIntent;
    try {
      intent = JSON.parse(value) as KillIntent;
    } catch {
      return;
    }
    if (!intent.nodes.includes(this.nodeId) || !this.clusters.includes(intent.cluster)) return;
    this.intents.set(id, intent);
    if (live) this.onIntent(intent);
  }

  /** Unexpired intents whose WHERE matches the mutation. */
  matching(rec: MutationRow): KillIntent[] {
    const now = Date.now() / 1000;
    const out: KillIntent[] = [];
    for (const intent of this.intents.values()) {
      if (intent.expires_at <= now) continue;
      try {
        if (this.filterFor(intent.where)(rec)) out.push(intent);
      } catch (err) {
        this.log.warn({ kill_id: intent.id, err: errorText(err) }, 'kill intent does not compile; ignored');
      }
    }
    return out;
  }

  /** Records that this intent killed this mutation here; false when it already had. */
  async claim(intent: KillIntent, rec: MutationRow): Promise<boolean> {
    const key = killAppliedKey(intent.id, this.nodeId, rec);
    const value = JSON.stringify({ at: Math.floor(Date.now() / 1000), node_id: this.nodeId });
    const res = await this.etcd
      .if(key, 'Create', '==', 0)
      .then(this.etcd.put(key).value(value).lease(intent.lease))
      .commit();
    return res.succeeded;
  }
}
