import type { KillRequest__Output } from '../proto/generated/quell/v1/KillRequest';
import type { KillResponse } from '../proto/generated/quell/v1/KillResponse';
import type { KillStatus__Output as KillStatus } from '../proto/generated/quell/v1/KillStatus';
import { errorText } from '../errors/error-text';

export type CancelOutcome = boolean | { readonly cantCancel: string };

/** Where a kill's messages go; `closed` turns true when the coordinator went away. */
export interface KillSink {
  write(msg: KillResponse): void;
  readonly closed: boolean;
}

/** One row a scan reads or a kill acts on, with the key that names it while it lasts. */
export interface Candidate<R> {
  readonly key: string;
  readonly row: R;
}

/** How rows of a table are owned, named and reported, wherever they come from (this agent or a backend). */
export interface RowRules<R> {
  /** the owning user, for "you may always kill your own"; undefined: only the grant counts */
  userOf(r: R): string | undefined;
  /** the id users name the row by (query_id, mutation_id, thread id) */
  idOf(r: R): string;
  uncancellable(r: R): boolean;
  report(r: R, status: KillStatus): KillResponse;
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
   * finished); `cantCancel` when the server refuses (the row reads cant_cancel with its reason)
   */
  cancel(c: C, req: KillRequest__Output): CancelOutcome | Promise<CancelOutcome>;
}

/**
 * Runs one kill on this node: match, authorize, cancel, report. The first message is the plan
 * (how many rows are eligible and how many were skipped for lack of rights), so that the
 * coordinator can decide ACCESS_DENIED before any row is shown.
 */
export async function executeKill<R, C extends Candidate<R>>(
  req: KillRequest__Output,
  subject: KillSubject<R, C>,
  filter: (r: R) => boolean,
  sink: KillSink,
): Promise<void> {
  const eligible: C[] = [];
  let skipped = 0;
  let skippedOwner = '';
  let skippedId = '';
  for (const c of await subject.candidates()) {
    if (!filter(c.row)) continue;
    const owner = subject.userOf(c.row);
    if (req.may_kill_others || (owner !== undefined && owner === req.user)) eligible.push(c);
    else {
      if (skipped++ === 0) {
        skippedOwner = owner ?? '';
        skippedId = subject.idOf(c.row);
      }
    }
  }
  sink.write({ plan: { eligible: eligible.length, skipped, skipped_owner: skippedOwner, skipped_id: skippedId } });
  if (eligible.length === 0) return;
  const report = (c: C, status: KillStatus): void => sink.write(subject.report(c.row, status));

  if (req.mode === 'KILL_MODE_TEST') {
    for (const c of eligible) report(c, 'KILL_STATUS_UNKNOWN_STATUS');
    return;
  }

  // Cancels go out together: on a database server each is a round trip, and one slow or
  // refused cancel must neither delay nor hide the others.
  const outcomes = await Promise.all(eligible.map((c) => cancelOne(subject, c, req)));
  const waiting: C[] = [];
  eligible.forEach((c, i) => {
    const outcome = outcomes[i] as CancelOutcome;
    if (outcome === true) waiting.push(c);
    else if (outcome === false) report(c, 'KILL_STATUS_FINISHED');
    else {
      const msg = subject.report(c.row, 'KILL_STATUS_CANT_CANCEL');
      if (msg.process && outcome.cantCancel) msg.process.error = outcome.cantCancel;
      sink.write(msg);
    }
  });
  if (req.mode !== 'KILL_MODE_SYNC') {
    for (const c of waiting) report(c, 'KILL_STATUS_WAITING');
    return;
  }
  await waitForEnds(waiting, subject, req.sync_timeout_ms, report, sink);
}

/** One candidate's cancel: refused when registered uncancellable, already done when it is gone. */
async function cancelOne<R, C extends Candidate<R>>(subject: KillSubject<R, C>, c: C, req: KillRequest__Output): Promise<CancelOutcome> {
  if (subject.uncancellable(c.row)) return { cantCancel: '' };
  if (!subject.isCurrent(c)) return false;
  try {
    return await subject.cancel(c, req);
  } catch (err) {
    return { cantCancel: errorText(err) };
  }
}

/** SYNC: a `finished` row the moment each candidate ends; `waiting` for the rest at the deadline. */
async function waitForEnds<R, C extends Candidate<R>>(
  pending: C[],
  subject: KillSubject<R, C>,
  timeoutMs: number,
  report: (c: C, status: KillStatus) => void,
  sink: KillSink,
): Promise<void> {
  const left = new Set(pending);
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  const ends = pending.map((c) =>
    subject.whenGone(c, stop.signal).then(() => {
      if (!left.delete(c) || sink.closed) return;
      report(c, 'KILL_STATUS_FINISHED');
    }),
  );
  await Promise.race([Promise.all(ends), deadline]);
  if (timer) clearTimeout(timer);
  stop.abort();
  for (const c of left) report(c, 'KILL_STATUS_WAITING');
  left.clear();
}
