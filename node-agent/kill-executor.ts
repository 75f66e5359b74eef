import type { KillRequest__Output } from '../proto/generated/quell/v1/KillRequest';
import type { KillResponse } from '../proto/generated/quell/v1/KillResponse';
import type { KillStatus__Output as KillStatus } from '../proto/generated/quell/v1/KillStatus';
import type { LiveRecord, LiveTable } from './live-table';
import { errorText } from '../errors/error-text';

export type CancelOutcome = boolean | { readonly cantCancel: string };

/** Where a kill's messages go; `closed` turns true when the coordinator went away. */
export interface KillSink {
  write(msg: KillResponse): void;
  readonly closed: boolean;
}

/**
 * What a kill needs to know about one kind of record (queries, mutations, connections), whether
 * the records live in this agent (workloads) or on a database server it fronts (backends).
 */
export interface KillSubject<R extends { readonly key: string }> {
  /** the records to match: the live table, or a fresh read of the server */
  candidates(): Iterable<R> | Promise<Iterable<R>>;
  /** still the record that matched (not ended, not replaced) */
  isCurrent(r: R): boolean;
  /** resolves when the record is gone (SYNC); `stop` ends the wait (deadline or coordinator gone) */
  whenGone(r: R, stop: AbortSignal): Promise<void>;
  /** the owning user, for "you may always kill your own"; undefined: only the grant counts */
  userOf(r: R): string | undefined;
  /** the id users name the record by (query_id, mutation_id, thread id) */
  idOf(r: R): string;
  uncancellable(r: R): boolean;
  /**
   * sends the cancel; false when there is nothing to stop (the kill is dropped and the row reads
   * finished); `cantCancel` when the server refuses (the row reads cant_cancel with its reason)
   */
  cancel(r: R, req: KillRequest__Output): CancelOutcome | Promise<CancelOutcome>;
  row(r: R, status: KillStatus): KillResponse;
}

/**
 * Runs one kill on this node: match, authorize, cancel, report. The first message is the plan
 * (how many records are eligible and how many were skipped for lack of rights), so that the
 * coordinator can decide ACCESS_DENIED before any row is shown.
 */
export async function executeKill<R extends { readonly key: string }>(
  req: KillRequest__Output,
  subject: KillSubject<R>,
  filter: (r: R) => boolean,
  sink: KillSink,
): Promise<void> {
  const eligible: R[] = [];
  let skipped = 0;
  let skippedOwner = '';
  let skippedId = '';
  for (const rec of await subject.candidates()) {
    if (!filter(rec)) continue;
    const owner = subject.userOf(rec);
    if (req.may_kill_others || (owner !== undefined && owner === req.user)) eligible.push(rec);
    else {
      if (skipped++ === 0) {
        skippedOwner = owner ?? '';
        skippedId = subject.idOf(rec);
      }
    }
  }
  sink.write({ plan: { eligible: eligible.length, skipped, skipped_owner: skippedOwner, skipped_id: skippedId } });
  if (eligible.length === 0) return;

  if (req.mode === 'KILL_MODE_TEST') {
    for (const rec of eligible) sink.write(subject.row(rec, 'KILL_STATUS_UNKNOWN_STATUS'));
    return;
  }

  // Cancels go out together: on a database server each is a round trip, and one slow or
  // refused cancel must neither delay nor hide the others.
  const outcomes = await Promise.all(eligible.map((rec) => cancelOne(subject, rec, req)));
  const waiting: R[] = [];
  eligible.forEach((rec, i) => {
    const outcome = outcomes[i] as CancelOutcome;
    if (outcome === true) waiting.push(rec);
    else if (outcome === false) sink.write(subject.row(rec, 'KILL_STATUS_FINISHED'));
    else {
      const msg = subject.row(rec, 'KILL_STATUS_CANT_CANCEL');
      if (msg.process && outcome.cantCancel) msg.process.error = outcome.cantCancel;
      sink.write(msg);
    }
  });
  if (req.mode !== 'KILL_MODE_SYNC') {
    for (const rec of waiting) sink.write(subject.row(rec, 'KILL_STATUS_WAITING'));
    return;
  }
  await waitForEnds(waiting, subject, req.sync_timeout_ms, sink);
}

/** One record's cancel: refused when registered uncancellable, already done when it is gone. */
async function cancelOne<R extends { readonly key: string }>(subject: KillSubject<R>, rec: R, req: KillRequest__Output): Promise<CancelOutcome> {
  if (subject.uncancellable(rec)) return { cantCancel: '' };
  if (!subject.isCurrent(rec)) return false;
  try {
    return await subject.cancel(rec, req);
  } catch (err) {
    return { cantCancel: errorText(err) };
  }
}

/** SYNC: a `finished` row the moment each record ends; `waiting` for the rest at the deadline. */
async function waitForEnds<R extends { readonly key: string }>(pending: R[], subject: KillSubject<R>, timeoutMs: number, sink: KillSink): Promise<void> {
  const left = new Set(pending);
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  const ends = pending.map((rec) =>
    subject.whenGone(rec, stop.signal).then(() => {
      if (!left.delete(rec) || sink.closed) return;
      sink.write(subject.row(rec, 'KILL_STATUS_FINISHED'));
    }),
  );
  await Promise.race([Promise.all(ends), deadline]);
  if (timer) clearTimeout(timer);
  stop.abort();
  for (const rec of left) sink.write(subject.row(rec, 'KILL_STATUS_WAITING'));
  left.clear();
}

/** The parts of a KillSubject that a LiveTable answers. */
export function liveTableParts<R extends LiveRecord>(table: LiveTable<R>): Pick<KillSubject<R>, 'candidates' | 'isCurrent' | 'whenGone'> {
  return {
    candidates: () => table.values(),
    isCurrent: (r) => table.get(r.key) === r,
    whenGone: (r) => table.whenEnded(r.key),
  };
}
