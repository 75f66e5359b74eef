/**
 * A kill policy as etcd keeps it at /quell/v1/policies/<cluster>/<name> (docs/kill-policies.md).
 * The coordinator writes it once, at CREATE KILL POLICY; every agent of the cluster
 * reads it from its own list-watch and runs it. The creator's rights are stored with it, so an
 * agent, which has no users file, runs the policy with exactly those rights.
 */
import { KILL_REASON_MAX, reasonProblem } from '../kill-reason';

export const POLICY_ACTIONS = ['KILL QUERY', 'KILL CONNECTION', 'KILL MUTATION'] as const;
export type PolicyAction = (typeof POLICY_ACTIONS)[number];

/** EVERY's default, and its bounds (a day at most: a policy is a standing rule, not a cron job). */
export const DEFAULT_POLICY_EVERY_S = 5;
export const MAX_POLICY_EVERY_S = 86_400;
/** ESCALATE AFTER's bound: the longest sync_kill_timeout, since a run waits that long for its victims. */
export const MAX_POLICY_ESCALATE_S = 3_600;

export interface PolicyRecord {
  readonly cluster: string;
  readonly name: string;
  /** the canonical WHERE (sql/render.ts) over the action's table */
  readonly condition: string;
  readonly action: PolicyAction;
  /** seconds between runs */
  readonly every_s: number;
  /** most processes a run acts on per node (the first by `order_by`); 0: no limit */
  readonly limit: number;
  /**
   * ORDER BY: which matches a run takes first (canonical expressions over the action's table);
   * absent in etcd when empty: the oldest first
   */
  readonly order_by?: readonly PolicyOrderKey[];
  /** match and log, never kill */
  readonly dry_run: boolean;
  /** ESCALATE AFTER: seconds after its cancel a victim still running gets its hard kill; 0 (or absent in etcd): never */
  readonly escalate_after_s: number;
  /** REASON: into the kill log and the victim's cancel; '' (or absent in etcd): none */
  readonly reason: string;
  readonly creator: string;
  /** whether the creator held the action's grant when the policy was created: without it, only the creator's own processes */
  readonly may_kill_others: boolean;
  /** unix seconds */
  readonly created: number;
  /**
   * Set by a coordinator whose users file no longer gives the creator the rights the policy was
   * stored with (coordinator/policies/policy-guard.ts): agents do not run a suspended policy.
   */
  readonly suspended?: PolicySuspension;
  /**
   * The record as etcd holds it, `signature` included (parsePolicyRecord sets it, not
   * enumerable): what the coordinator's signature is checked against (common/etcd/signed-records.ts).
   */
  readonly stored?: Readonly<Record<string, unknown>>;
}

export interface PolicyOrderKey {
  readonly expr: string;
  readonly desc: boolean;
}

export interface PolicySuspension {
  /** why, in one line: the creator is gone, or lost a right */
  readonly reason: string;
  /** unix seconds */
  readonly at: number;
}

/**
 * The record under a policy key, or why it cannot be used. Anything but a complete, well-typed
 * record is refused: an agent must never run a half-understood kill rule.
 */
export function parsePolicyRecord(key: { cluster: string; name: string }, raw: string): PolicyRecord | { readonly unreadable: string } {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { unreadable: 'not JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { unreadable: 'not a JSON object' };
  const r = v as Record<string, unknown>;
  const wrong = (field: string, expected: string) => ({ unreadable: `field ${field} must be ${expected}` });
  if (typeof r.condition !== 'string' || r.condition === '') return wrong('condition', 'a non-empty string');
  if (typeof r.action !== 'string' || !(POLICY_ACTIONS as readonly string[]).includes(r.action)) return wrong('action', POLICY_ACTIONS.join(', '));
  if (!isInt(r.every_s) || r.every_s < 1 || r.every_s > MAX_POLICY_EVERY_S) return wrong('every_s', `an integer from 1 to ${MAX_POLICY_EVERY_S}`);
  if (!isInt(r.limit) || r.limit < 0) return wrong('limit', 'a non-negative integer');
  if (typeof r.dry_run !== 'boolean') return wrong('dry_run', 'true or false');
  // absent in records written before these clauses existed
  const escalate = r.escalate_after_s ?? 0;
  if (!isInt(escalate) || escalate < 0 || escalate > MAX_POLICY_ESCALATE_S) return wrong('escalate_after_s', `absent, or an integer from 0 to ${MAX_POLICY_ESCALATE_S}`);
  const reason = r.reason ?? '';
  if (typeof reason !== 'string' || reasonProblem(reason) !== undefined) {
    return wrong('reason', `absent, or one line of at most ${KILL_REASON_MAX} characters`);
  }
  if (typeof r.creator !== 'string' || r.creator === '') return wrong('creator', 'a user name');
  if (typeof r.may_kill_others !== 'boolean') return wrong('may_kill_others', 'true or false');
  if (!isInt(r.created)) return wrong('created', 'unix seconds');
  const suspended = parseSuspension(r.suspended);
  if (suspended === null) return wrong('suspended', 'absent, or { reason: string, at: unix seconds }');
  const orderBy = parseOrder(r.order_by);
  if (orderBy === null) return wrong('order_by', 'absent, or a non-empty list of { expr: non-empty string, desc: true or false }');
  const rec: PolicyRecord = {
    cluster: key.cluster,
    name: key.name,
    condition: r.condition,
    action: r.action as PolicyAction,
    every_s: r.every_s,
    limit: r.limit,
    dry_run: r.dry_run,
    escalate_after_s: escalate,
    reason,
    creator: r.creator,
    may_kill_others: r.may_kill_others,
    created: r.created,
    ...(orderBy ? { order_by: orderBy } : {}),
    ...(suspended ? { suspended } : {}),
  };
  // not enumerable: a copy or JSON of the record never carries it along
  Object.defineProperty(rec, 'stored', { value: r, enumerable: false });
  return rec;
}

/** undefined: not suspended; null: malformed (the record is refused: an agent must not guess) */
function parseSuspension(v: unknown): PolicySuspension | undefined | null {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null) return null;
  const s = v as Record<string, unknown>;
  if (typeof s.reason !== 'string' || s.reason === '' || !isInt(s.at)) return null;
  return { reason: s.reason, at: s.at };
}

/** undefined: no ORDER BY (the oldest first); null: malformed */
function parseOrder(v: unknown): PolicyOrderKey[] | undefined | null {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0) return null;
  const keys: PolicyOrderKey[] = [];
  for (const k of v as unknown[]) {
    if (typeof k !== 'object' || k === null) return null;
    const { expr, desc } = k as Record<string, unknown>;
    if (typeof expr !== 'string' || expr === '' || typeof desc !== 'boolean') return null;
    keys.push({ expr, desc });
  }
  return keys;
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

export function isUnreadable(r: PolicyRecord | { readonly unreadable: string }): r is { readonly unreadable: string } {
  return 'unreadable' in r;
}
