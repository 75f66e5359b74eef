import type { KillIntent } from './etcd-layout';
import type { PolicyRecord } from './kill-policy-record';
import type { RecordVerifier, Verdict } from '../tls/record-signature';
import type { Logger } from '../daemon/logger';

/**
 * The two etcd records an agent kills on, checked the one way (docs/security.md §Signed
 * records): a kill policy and a queued mutation kill count only when a coordinator signed them.
 * Without a verifier (a process run with --insecure, which has no CA) every record counts.
 */

const VALID: Verdict = { ok: true };

/** Whether a kill policy record was signed by a coordinator, for the key it is stored under. */
export function checkPolicyRecord(rec: PolicyRecord, verifier: RecordVerifier | undefined, nowMs = Date.now()): Verdict {
  if (!verifier) return VALID;
  const stored = rec.stored ?? {};
  if (stored.cluster !== rec.cluster || stored.name !== rec.name) return { ok: false, reason: `signed for another key (cluster ${String(stored.cluster)}, name ${String(stored.name)})` };
  const times = rec.suspended ? [rec.created, rec.suspended.at] : [rec.created];
  return verifier.verify('kill-policy', stored, times, nowMs);
}

/** Whether a queued mutation kill was signed by a coordinator; `keyId` is the kill id its key names. */
export function checkKillIntent(intent: KillIntent, verifier: RecordVerifier | undefined, keyId = intent.id, nowMs = Date.now()): Verdict {
  if (!verifier) return VALID;
  if (intent.id !== keyId) return { ok: false, reason: `signed for kill id ${String(intent.id)}, stored under ${keyId}` };
  const created = typeof intent.created_at === 'number' ? [intent.created_at] : [];
  return verifier.verify('mutation-kill', intent as unknown as Record<string, unknown>, created, nowMs);
}

/**
 * Says once that a record is ignored: a watch that sees the same invalid record again (a
 * re-list, another put of the same bytes) does not log again; a changed record logs anew.
 */
export class InvalidRecordLog {
  private readonly seen = new Map<string, string>();

  constructor(
    private readonly log: Logger,
    private readonly what: string,
  ) {}

  /** Logs the refusal unless this key's last refusal was for these same bytes. */
  refused(key: string, raw: string, reason: string, fields: Record<string, unknown> = {}): void {
    if (this.seen.get(key) === raw) return;
    this.seen.set(key, raw);
    this.log.warn({ key, reason, ...fields }, `${this.what} invalid (only a coordinator's signed record is acted on); ignored`);
  }

  /** The key now holds a good record, or none. */
  forget(key: string): void {
    this.seen.delete(key);
  }

  /** After a re-list: keys no longer there are forgotten. */
  keepOnly(listed: ReadonlySet<string>): void {
    for (const key of [...this.seen.keys()]) if (!listed.has(key)) this.seen.delete(key);
  }
}
