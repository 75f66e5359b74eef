import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { KillResponse } from '../../proto/generated/quell/v1/KillResponse';
import type { KillStatus__Output as KillStatus } from '../../proto/generated/quell/v1/KillStatus';
import { errorText } from '../../errors/error-text';
import { KILL_LOG_REFUSED_STATUS, killLogRefusal, KillLogError } from './kill-log';
import { ACCESS_DENIED_STATUS, deniedReason, entryMaker, SKIPPED_LIMIT_STATUS, type KillRecorder } from './kill-record';
import type { PolicyChooser } from '../policies/policy-run';
import { inOrder, type RowOrder } from './kill-order';
import type { Candidate, RowRules } from './row-rules';
import { matchPicks, missedLogged, missedRow, plannedOf, type MissedPick } from './kill-picks';
import { escalateWhenDue, type EscalatingWait, type HardKill } from './escalation';
import { msPastActBy } from '../../common/act-by';

export type CancelOutcome = boolean | { readonly cantCancel: string };

/** Where a kill's messages go; `closed` turns true when the coordinator went away. */
export interface KillSink {
  write(msg: KillResponse): void;
  readonly closed: boolean;
  /** aborted when the coordinator cancels the call: a SYNC wait ends then, not at its deadline */
  readonly signal?: AbortSignal;
  /** called once a SYNC kill's cancels are out and it begins to wait for its processes to end */
  waiting?(): void;
}

/**
 * What a kill needs to know about one table (queries, mutations, connections), whether its rows
 * live in this agent (workloads) or on a database server it fronts (backends). A candidate
 * carries its own cancel handle (a live entry's owner, a server listing's kill), which
 * `cancel` uses.
 */
export interface KillSubject<R, C extends Candidate<R> = Candidate<R>> extends RowRules<R> {
  /** the rows to match: the live table, or a fresh read of the server */
  candidates(): Iterable<C> | Promise<Iterable<C>>;
  /** still the candidate that matched (not ended, not replaced) */
  isCurrent(c: C): boolean;
  /** resolves when the candidate is gone (SYNC); `stop` ends the wait (deadline or coordinator gone) */
  whenGone(c: C, stop: AbortSignal): Promise<void>;
  /**
   * sends the cancel; false when there is nothing to stop (the kill is dropped and the row reads
   * finished); `cantCancel` when the server refuses (the row reads cant_cancel with its reason).
   * `policy`: the kill policy whose run this is ('' for a statement), for the victim's cancel.
   */
  cancel(c: C, req: KillRequest__Output, policy: string): CancelOutcome | Promise<CancelOutcome>;
  /** the hard kill of a candidate that outlived its cancel by escalate_after_ms; absent: none for this table */
  hardKill?(c: C, req: KillRequest__Output, policy: string): HardKill;
}

/** What a kill on this node is logged with. */
export interface KillContext {
  /** the node's kill log: a kill is on disk there before it is carried out or reported */
  readonly recorder: KillRecorder;
  /** the calling coordinator as this agent sees it: its certificate identity, or its address */
  readonly coordinator: string;
  /**
   * set when a kill policy runs the kill (node-agent/policies/kill-policies.ts): entries read mode POLICY
   * with its name; it picks what the run acts on (LIMIT, oldest first) and which matches are
   * logged as skipped_limit; matches the creator may not kill are not its matches and are not logged
   */
  readonly policy?: PolicyChooser;
  /**
   * set when a queued mutation kill is applied (node-agent/durable/durable-kills.ts): it acts only on
   * the matches it takes (the others are not its matches and are not logged), and hears which
   * of them it carried out, so that it can record those as applied and try the rest again
   */
  readonly queued?: QueuedKill;
}

/**
 * A queued kill's part in one run. A match is carried out once it was logged and its cancel
 * got an answer (sent, nothing left to stop, or the server's refusal); one that could not be
 * logged, or whose cancel failed, is not.
 */
export interface QueuedKill {
  takes(c: Candidate<unknown>): boolean;
  carriedOut(c: Candidate<unknown>): void;
}

/** A candidate's status and why, as its row reports it and its entry records it. */
interface Outcome<C> {
  readonly c: C;
  readonly status: KillStatus;
  readonly error: string;
  /** refused because act_by_unix_ms had passed by this agent's clock: by how many ms */
  readonly pastMs?: number;
  /** its hard kill was sent (escalate_after) */
  readonly escalated?: boolean;
}

const NOT_SENT = "not killed: the coordinator ended the call before the cancel was sent (its deadline passed or its client went away)";
/**
 * The request's act_by_unix_ms had passed by this agent's clock when it got to it: a stalled
 * agent, or a clock ahead of the coordinator's (the coordinator adds which, from its measure of
 * this agent's clock).
 */
const pastDeadlineText = (ms: number): string => `not killed: the request reached this agent ${ms} ms past its deadline by this agent's clock`;

/**
 * Runs one kill on this node: match, authorize, log, cancel, report. The first message is the
 * plan (how many rows are eligible and how many were skipped for lack of rights), so that the
 * coordinator can decide ACCESS_DENIED before any row is shown.
 *
 * The kill log comes first (docs/statement-path.md §The kill log): every match, refused or not, is synced to
 * it before the plan goes out and before anything is cancelled. A kill that cannot be logged is
 * not carried out: its rows read cant_cancel and say why. A row whose status differs from the
 * logged one (a process that ended, a refused cancel, SYNC's finished or waiting) is logged
 * again before it is written; group commit makes those appends cheap.
 */
export async function executeKill<R, C extends Candidate<R>>(
  req: KillRequest__Output,
  subject: KillSubject<R, C>,
  filter: (r: R) => boolean,
  sink: KillSink,
  ctx: KillContext,
  /** a ranked kill's plan and a policy's run take matches in this order (none: the oldest first) */
  order?: RowOrder<R>,
): Promise<void> {
  let eligible: C[] = [];
  const skipped: C[] = [];
  const listed = await subject.candidates();
  // a ranked kill's phase two acts on its picks alone, each only while it is the process planned
  const { found, missed } = req.picked ? matchPicks(req.picks, listed, subject, filter) : { found: listed, missed: [] as MissedPick[] };
  for (const c of found) {
    if (!filter(c.row) || (ctx.queued && !ctx.queued.takes(c))) continue;
    const owner = subject.userOf(c.row);
    if (req.may_kill_others || (owner !== undefined && owner === req.user)) eligible.push(c);
    else skipped.push(c);
  }
  const startOf = (r: R): number => subject.startOf(r);
  const firstSkipped = skipped[0];
  const skips = { skipped: skipped.length, skipped_owner: firstSkipped ? (subject.userOf(firstSkipped.row) ?? '') : '', skipped_id: firstSkipped ? subject.idOf(firstSkipped.row) : '' };
  if (req.plan) {
    // a ranked kill's phase one: the node's first `limit` by the order, nothing logged or killed
    const ranked = inOrder(eligible, order, startOf);
    const listedFirst = req.limit > 0 ? ranked.slice(0, req.limit) : ranked;
    sink.write({ plan: { eligible: eligible.length, ...skips, planned: listedFirst.map((x) => plannedOf(subject, x.c, x.values, order)) } });
    return;
  }
  const policy = ctx.policy;
  let overLimit: C[] = [];
  if (policy) ({ act: eligible, overLimit } = policy.share(inOrder(eligible, order, startOf).map((x) => x.c)));
  const entry = entryMaker(req, ctx.coordinator, Date.now, policy?.name);
  const logged = (o: Outcome<C>) => entry(subject.logged(o.c.row), o.status, o.error, o.escalated);
  const first = new Map<C, Outcome<C>>(eligible.map((c) => [c, { c, status: expectedStatus(req, subject, c), error: '' }]));
  const refused = policy ? [] : skipped.map((c) => entry(subject.logged(c.row), ACCESS_DENIED_STATUS, deniedReason(req.user, subject.userOf(c.row))));
  const limited = overLimit.map((c) => entry(subject.logged(c.row), SKIPPED_LIMIT_STATUS, `not killed: over the policy's LIMIT ${policy?.limit ?? 0} (${order && order.desc.length > 0 ? 'it takes the first by its ORDER BY' : 'the oldest matches go first'})`));
  const gone = missed.map((m) => entry(missedLogged(m), 'KILL_STATUS_FINISHED', m.why));
  let unlogged = '';
  try {
    await ctx.recorder.append([...refused, ...limited, ...gone, ...[...first.values()].map(logged)]);
  } catch (err) {
    unlogged = killLogRefusal(err);
  }

  // every missed pick has its row too
  sink.write({ plan: { eligible: eligible.length + missed.length, ...skips } });
  for (const m of missed) {
    if (sink.closed) break;
    const row = missedRow(m);
    if (unlogged && row.process) Object.assign(row.process, { status: KILL_LOG_REFUSED_STATUS, error: unlogged });
    sink.write(row);
  }
  if (eligible.length === 0) return;
  const report = (o: Outcome<C>): void => {
    if (sink.closed) return;
    const msg = subject.report(o.c.row, o.status);
    if (msg.process && o.error) msg.process.error = o.error;
    if (msg.process && o.pastMs !== undefined) msg.process.past_deadline_ms = o.pastMs;
    if (msg.process && o.escalated) msg.process.escalated = true;
    sink.write(msg);
  };
  /** Logs the rows whose status is news, then writes them all; an append that fails leaves the rows saying so. */
  const settle = async (rows: readonly Outcome<C>[]): Promise<void> => {
    const news = new Set(rows.filter((o) => o.status !== first.get(o.c)?.status || o.error !== first.get(o.c)?.error || o.escalated === true));
    let failure = '';
    if (news.size > 0) {
      try {
        await ctx.recorder.append([...news].map(logged));
      } catch (err) {
        failure = `final status not logged: ${KillLogError.from('unwritable', err, '').message}`;
      }
    }
    for (const o of rows) report(failure && news.has(o) ? { ...o, error: o.error ? `${o.error}; ${failure}` : failure } : o);
  };

  if (unlogged) {
    for (const c of eligible) report({ c, status: KILL_LOG_REFUSED_STATUS, error: unlogged });
    return;
  }
  if (req.mode === 'KILL_MODE_TEST') {
    for (const o of first.values()) report(o);
    return;
  }
  // past it the coordinator has reported this node as timed out (common/act-by.ts)
  const pastMs = msPastActBy(req.act_by_unix_ms);
  if (sink.closed || pastMs !== undefined) {
    // the coordinator shows this node as missed (timeout, unreachable): then it killed nothing
    const unsent = [...first.values()].filter((o) => o.status === 'KILL_STATUS_WAITING' || o.status === 'KILL_STATUS_PENDING');
    const why = sink.closed || pastMs === undefined ? { error: NOT_SENT } : { error: pastDeadlineText(pastMs), pastMs };
    await settle(unsent.map((o) => ({ ...o, status: 'KILL_STATUS_CANT_CANCEL', ...why })));
    return;
  }

  // Cancels go out together: on a database server each is a round trip, and one slow or
  // refused cancel must neither delay nor hide the others.
  const failed = new Set<C>();
  const outcomes = await Promise.all(eligible.map((c) => cancelOne(subject, c, req, policy?.name ?? '', () => failed.add(c))));
  const now: Outcome<C>[] = [];
  const waiting: C[] = [];
  eligible.forEach((c, i) => {
    const outcome = outcomes[i] as CancelOutcome;
    if (!failed.has(c)) ctx.queued?.carriedOut(c);
    if (outcome === true && req.mode === 'KILL_MODE_SYNC') waiting.push(c);
    else if (outcome === true) now.push({ c, status: 'KILL_STATUS_WAITING', error: '' });
    else if (outcome === false) now.push({ c, status: 'KILL_STATUS_FINISHED', error: '' });
    else now.push({ c, status: 'KILL_STATUS_CANT_CANCEL', error: outcome.cantCancel });
  });
  await settle(now);
  if (waiting.length > 0) {
    const escalation: EscalationSpec<C> | undefined =
      req.escalate_after_ms > 0
        ? {
            afterMs: req.escalate_after_ms,
            hardKill: (c) => subject.hardKill?.(c, req, policy?.name ?? ''),
            logStep: (c, error) => ctx.recorder.append([logged({ c, status: 'KILL_STATUS_PENDING', error, escalated: true })]),
          }
        : undefined;
    sink.waiting?.();
    await waitForEnds(waiting, subject, req.sync_timeout_ms, settle, sink.signal, escalation);
  }
}

/**
 * A candidate's status as far as it is known before any cancel: the status an ASYNC row will
 * most likely report, `pending` for SYNC (finished or waiting is logged when it is known).
 */
function expectedStatus<R, C extends Candidate<R>>(req: KillRequest__Output, subject: KillSubject<R, C>, c: C): KillStatus {
  if (req.mode === 'KILL_MODE_TEST') return 'KILL_STATUS_UNKNOWN_STATUS';
  if (subject.uncancellable(c.row)) return 'KILL_STATUS_CANT_CANCEL';
  if (!subject.isCurrent(c)) return 'KILL_STATUS_FINISHED';
  return req.mode === 'KILL_MODE_SYNC' ? 'KILL_STATUS_PENDING' : 'KILL_STATUS_WAITING';
}

/** One candidate's cancel: refused when registered uncancellable, already done when it is gone; `failed` when the cancel threw. */
async function cancelOne<R, C extends Candidate<R>>(subject: KillSubject<R, C>, c: C, req: KillRequest__Output, policy: string, failed: () => void): Promise<CancelOutcome> {
  if (subject.uncancellable(c.row)) return { cantCancel: '' };
  if (!subject.isCurrent(c)) return false;
  try {
    return await subject.cancel(c, req, policy);
  } catch (err) {
    failed();
    return { cantCancel: errorText(err) };
  }
}

/** What a SYNC wait needs to escalate (node-agent/kill/escalation.ts): when, each candidate's hard kill, and the kill log for the step. */
interface EscalationSpec<C> {
  readonly afterMs: number;
  hardKill(c: C): HardKill | undefined;
  logStep(c: C, error: string): Promise<void>;
}

/**
 * SYNC: a `finished` row the moment each candidate ends; `waiting` for the rest at the deadline.
 * With `escalation`, a candidate still running escalate_after_ms after its cancel gets its hard
 * kill (logged first, as every kill is), and its row says escalated; one with no harder kill
 * reads cant_cancel then. No timer outlives its candidate or the wait.
 */
async function waitForEnds<R, C extends Candidate<R>>(
  pending: C[],
  subject: KillSubject<R, C>,
  timeoutMs: number,
  settle: (rows: readonly Outcome<C>[]) => Promise<void>,
  cancelled?: AbortSignal,
  escalation?: EscalationSpec<C>,
): Promise<void> {
  const left = new Set(pending);
  // the wait is over once no candidate is left (ended, or settled as cant_cancel by its escalation)
  let noneLeft: () => void = () => undefined;
  const allSettled = new Promise<void>((resolve) => (noneLeft = resolve));
  const settled = (c: C): boolean => {
    const was = left.delete(c);
    if (left.size === 0) noneLeft();
    return was;
  };
  const escalated = new Set<C>();
  /** why an escalation did not happen, for the row that reports it */
  const notes = new Map<C, string>();
  const settling: Promise<void>[] = [];
  const escalating: Promise<void>[] = [];
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onCancel: (() => void) | undefined;
  // the deadline, or the coordinator cancelling the call: the rest read waiting (in the kill log)
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    onCancel = () => resolve();
    if (cancelled?.aborted) resolve();
    else cancelled?.addEventListener('abort', onCancel, { once: true });
  });
  const inEscalation: EscalatingWait<C> | undefined = escalation && {
    afterMs: escalation.afterMs,
    stop: stop.signal,
    running: (c) => left.has(c),
    cantCancel: (c, error) => {
      settled(c);
      settling.push(settle([{ c, status: 'KILL_STATUS_CANT_CANCEL', error }]));
    },
    logStep: escalation.logStep,
    escalated,
    notes,
  };
  const final = (c: C, status: KillStatus): Outcome<C> => ({ c, status, error: notes.get(c) ?? '', escalated: escalated.has(c) });
  for (const c of pending) {
    const gone = subject.whenGone(c, stop.signal).then(() => {
      // a wait ended by `stop` (the deadline, the coordinator gone) says nothing of the candidate:
      // a database backend's poller resolves then too, and its query may still run (it reads waiting)
      if (!stop.signal.aborted && settled(c)) settling.push(settle([final(c, 'KILL_STATUS_FINISHED')]));
    });
    if (escalation && inEscalation) escalating.push(escalateWhenDue(c, gone, escalation.hardKill(c), inEscalation));
  }
  await Promise.race([allSettled, deadline]);
  if (timer) clearTimeout(timer);
  if (onCancel) cancelled?.removeEventListener('abort', onCancel);
  stop.abort();
  // a hard kill on its way is sent (or fails) before the rest are reported
  await Promise.all(escalating);
  settling.push(settle([...left].map((c) => final(c, 'KILL_STATUS_WAITING'))));
  left.clear();
  // the last rows are written before the call ends
  await Promise.all(settling);
}
