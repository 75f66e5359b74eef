import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../common/daemon/logger';
import { KILL_APPLIED_PREFIX, KILL_INTENTS_PREFIX, killAppliedKey, parseKillIntentKey, type KillIntent } from '../../common/etcd/etcd-layout';
import type { MutationRow } from '../tables/rows';
import { errorText } from '../../errors/error-text';
import { ListWatch, etcdWatchSource } from '../../common/etcd/list-watch';
import { checkKillIntent, InvalidRecordLog } from '../../common/etcd/signed-records';
import type { RecordVerifier } from '../../common/tls';
import { unixNow } from '../../sql/compile';

/**
 * The durable mutation kills that name this node: listed before the agent accepts mutation
 * registrations, then watched. A matching mutation is killed once per intent: once the kill is
 * carried out, the application is recorded in etcd with create-if-absent under the intent's
 * lease, so a restart or a re-registration does not kill it again, and expiry removes intent
 * and records together.
 * An intent that no coordinator of this CA signed (docs/security.md §Signed records) is ignored
 * and logged once.
 */
export class KillIntents {
  private readonly intents = new Map<string, KillIntent>();
  private readonly view: ListWatch;
  private readonly invalid: InvalidRecordLog;

  constructor(
    private readonly etcd: Etcd3,
    private readonly nodeId: string,
    private readonly clusters: readonly string[],
    private readonly filterFor: (where: string) => (r: MutationRow) => boolean,
    private readonly log: Logger,
    /** called for an intent that arrives while the agent runs */
    private readonly onIntent: (intent: KillIntent) => void,
    /** undefined with --insecure: every intent is taken */
    private readonly verifier?: RecordVerifier,
  ) {
    this.invalid = new InvalidRecordLog(log, 'mutation kill intent');
    // Intents that appear after the first list, including those a re-list finds, were
    // created while the agent ran: they are applied like live ones.
    this.view = new ListWatch(
      etcdWatchSource(etcd),
      KILL_INTENTS_PREFIX,
      {
        reset: (kvs, initial) => {
          const known = new Set(this.intents.keys());
          this.intents.clear();
          this.invalid.keepOnly(new Set(kvs.map((kv) => kv.key)));
          for (const kv of kvs) this.put(kv.key, kv.value, !initial && !known.has(parseKillIntentKey(kv.key) ?? ''));
        },
        put: (key, value) => this.put(key, value, true),
        remove: (key) => {
          const id = parseKillIntentKey(key);
          if (id) this.intents.delete(id);
          this.invalid.forget(key);
        },
      },
      log,
    );
  }

  async start(): Promise<void> {
    await this.view.start();
    this.log.info({ pending: this.intents.size }, 'mutation kill intents loaded');
  }

  async close(): Promise<void> {
    await this.view.close();
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
      this.invalid.refused(key, value, 'not JSON');
      return;
    }
    const verdict = typeof intent === 'object' && intent !== null ? checkKillIntent(intent, this.verifier, id) : { ok: false as const, reason: 'not a JSON object' };
    if (!verdict.ok) {
      this.intents.delete(id);
      this.invalid.refused(key, value, verdict.reason);
      return;
    }
    this.invalid.forget(key);
    if (!Array.isArray(intent.nodes) || !intent.nodes.includes(this.nodeId) || !this.clusters.includes(intent.cluster)) return;
    this.intents.set(id, intent);
    if (live) this.onIntent(intent);
  }

  /** Unexpired intents whose WHERE matches the mutation. */
  matching(rec: MutationRow): KillIntent[] {
    return [...this.intents.values()].filter((intent) => this.matches(intent, rec));
  }

  /** Whether the intent is unexpired and names the mutation: it existed when the KILL ran and the WHERE holds. */
  matches(intent: KillIntent, rec: MutationRow): boolean {
    if (intent.expires_at <= Date.now() / 1000 || rec.create_time > intent.created_at) return false;
    try {
      return this.filterFor(intent.where)(rec);
    } catch (err) {
      this.log.warn({ kill_id: intent.id, err: errorText(err) }, 'kill intent does not compile; ignored');
      return false;
    }
  }

  /** the pending intents that name this node */
  all(): KillIntent[] {
    return [...this.intents.values()];
  }

  /** The key that records this intent as applied to this mutation on this node. */
  appliedKey(intent: KillIntent, rec: MutationRow): string {
    return killAppliedKey(intent.id, this.nodeId, rec);
  }

  /** The mutations this intent is recorded as applied to on this node (their appliedKey). */
  async applied(intent: KillIntent): Promise<Set<string>> {
    const keys = await this.etcd.getAll().prefix(`${KILL_APPLIED_PREFIX}${intent.id}/${this.nodeId}/`).keys();
    return new Set(keys);
  }

  /**
   * Records, after the kill was carried out, that this intent was applied to this mutation here
   * (create-if-absent, under the intent's lease); false when it already was.
   */
  async record(intent: KillIntent, rec: MutationRow): Promise<boolean> {
    const key = this.appliedKey(intent, rec);
    const value = JSON.stringify({ at: unixNow(), node_id: this.nodeId });
    const res = await this.etcd
      .if(key, 'Create', '==', 0)
      .then(this.etcd.put(key).value(value).lease(intent.lease))
      .commit();
    return res.succeeded;
  }
}
