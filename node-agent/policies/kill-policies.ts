import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../common/daemon/logger';
import { ListWatch, etcdWatchSource } from '../../common/etcd/list-watch';
import { POLICIES_PREFIX, parsePolicyKey } from '../../common/etcd/etcd-layout';
import { randomUUID } from 'node:crypto';
import { isUnreadable, parsePolicyRecord, type PolicyRecord } from '../../common/etcd/kill-policy-record';
import { errorText } from '../../errors/error-text';
import { renderOrderKeys } from '../../sql/render';
import { entryMaker, NO_PROCESS, POLICY_SUSPENDED_STATUS } from '../kill/kill-record';
import type { NodeIdentity } from '../presence/node-identity';
import type { KillRecorder } from '../kill/kill-record';
import { PolicyLoop, policyRequest, type PolicyTables } from './policy-loop';
import { checkPolicyRecord, InvalidRecordLog } from '../../common/etcd/signed-records';
import type { RecordVerifier } from '../../common/tls';

export interface KillPoliciesOptions {
  readonly etcd: Etcd3;
  readonly node: NodeIdentity;
  readonly tables: PolicyTables;
  readonly recorder: KillRecorder;
  readonly log: Logger;
  /** checks that a coordinator signed each record; undefined with --insecure (every record runs) */
  readonly verifier?: RecordVerifier;
}

/**
 * The kill policies of this node's clusters (docs/kill-policies.md), from one list-watch of
 * /quell/v1/policies/: each runs here on its own interval, against this node's own tables, so
 * policies keep working while no coordinator runs. A changed record restarts its policy; a
 * deleted one stops it; a record that cannot be read, or that no coordinator of this CA signed
 * (docs/security.md §Signed records), never runs and is logged once.
 */
export class KillPolicies {
  private readonly loops = new Map<string, PolicyLoop>();
  /** stopped loops by policy key, until their runs have ended (waiting ones are cut short); a new loop of the policy waits for it */
  private readonly stopping = new Map<string, Promise<void>>();
  private readonly view: ListWatch;
  /** suspended policies by key, with the suspension time already logged here: once per node per suspension */
  private readonly suspended = new Map<string, number>();
  /** kill-log writes of suspensions, awaited at close */
  private readonly noting = new Set<Promise<void>>();
  private readonly invalid: InvalidRecordLog;

  constructor(private readonly o: KillPoliciesOptions) {
    this.invalid = new InvalidRecordLog(o.log, 'kill policy record');
    this.view = new ListWatch(
      etcdWatchSource(o.etcd),
      POLICIES_PREFIX,
      {
        reset: (kvs) => {
          const listed = new Set(kvs.map((kv) => kv.key));
          for (const key of [...this.loops.keys()]) if (!listed.has(key)) this.stop(key, 'dropped');
          for (const key of [...this.suspended.keys()]) if (!listed.has(key)) this.suspended.delete(key);
          this.invalid.keepOnly(listed);
          for (const kv of kvs) this.put(kv.key, kv.value);
        },
        put: (key, value) => this.put(key, value),
        remove: (key) => {
          this.suspended.delete(key);
          this.invalid.forget(key);
          this.stop(key, 'dropped');
        },
      },
      o.log,
    );
  }

  /** Lists the policies (rejects when etcd cannot be read), starts them, then follows changes. */
  async start(): Promise<void> {
    await this.view.start();
    this.o.log.info({ policies: this.loops.size }, 'kill policies loaded');
  }

  /** Stops every policy; resolves once all their runs have ended (waiting ones are cut short). */
  async close(): Promise<void> {
    await this.view.close();
    for (const key of [...this.loops.keys()]) this.stop(key, 'agent stopping');
    await Promise.all([...this.stopping.values(), ...this.noting]);
  }

  /** the policies running here, by name (cluster/name), for tests and logs */
  running(): string[] {
    return [...this.loops.values()].map((l) => `${l.rec.cluster}/${l.rec.name}`).sort();
  }

  private put(key: string, value: string): void {
    const at = parsePolicyKey(key);
    if (!at || !this.o.node.clusters.includes(at.cluster)) return;
    // a re-list that finds a policy unchanged leaves it running, with its interval and memory
    if (this.loops.get(key)?.raw === value) return;
    this.stop(key, 'changed');
    const rec = parsePolicyRecord(at, value);
    if (isUnreadable(rec)) {
      this.invalid.refused(key, value, `unreadable: ${rec.unreadable}`, { cluster: at.cluster, policy: at.name });
      return;
    }
    // checked before the suspension mark is believed, too: only a coordinator writes either
    const verdict = checkPolicyRecord(rec, this.o.verifier);
    if (!verdict.ok) {
      this.invalid.refused(key, value, verdict.reason, { cluster: at.cluster, policy: at.name, creator: rec.creator });
      return;
    }
    this.invalid.forget(key);
    const log = this.o.log.child({ cluster: rec.cluster, policy: rec.name });
    if (rec.suspended) {
      this.noteSuspended(key, rec, log);
      return;
    }
    this.suspended.delete(key);
    // its first run waits for an earlier loop of the same policy (changed, or dropped and created
    // again) to end its runs: two loops of one policy never act at once
    this.loops.set(key, new PolicyLoop(rec, value, { nodeId: this.o.node.nodeId, tables: this.o.tables, recorder: this.o.recorder, log }, this.stopping.get(key)));
    log.info({ action: rec.action, condition: rec.condition, every_s: rec.every_s, limit: rec.limit, order_by: renderOrderKeys(rec.order_by ?? []), dry_run: rec.dry_run, creator: rec.creator }, 'kill policy running');
  }

  /** A suspended policy does not run; the first time this node sees the suspension it says so, in its log and its kill log. */
  private noteSuspended(key: string, rec: PolicyRecord, log: Logger): void {
    const at = rec.suspended?.at ?? 0;
    if (this.suspended.get(key) === at) return;
    this.suspended.set(key, at);
    const reason = rec.suspended?.reason ?? '';
    log.warn({ creator: rec.creator, reason, suspended_at: at }, 'kill policy suspended by a coordinator; not running');
    const entry = entryMaker(policyRequest(rec, randomUUID()), '', Date.now, rec.name);
    const why = `kill policy ${rec.name} suspended: ${reason}`;
    const writing = this.o.recorder
      .append([entry(NO_PROCESS, POLICY_SUSPENDED_STATUS, why)])
      .catch((err: unknown) => log.warn({ err: errorText(err) }, 'could not log that the kill policy was suspended'));
    this.noting.add(writing);
    void writing.finally(() => this.noting.delete(writing));
  }

  /** Stops the policy's loop, if one runs; its runs end in the background (waiting ones cut short), kept in `stopping` until they have. */
  private stop(key: string, why: string): void {
    const loop = this.loops.get(key);
    if (!loop) return;
    this.loops.delete(key);
    // a loop started while an earlier one was stopping waits for it, so this end comes after that one
    const closing = loop.close();
    this.stopping.set(key, closing);
    void closing.finally(() => {
      if (this.stopping.get(key) === closing) this.stopping.delete(key);
    });
    this.o.log.info({ cluster: loop.rec.cluster, policy: loop.rec.name, why }, 'kill policy stopped');
  }

}
