import type { KillRequest__Output } from '../proto/generated/quell/v1/KillRequest';
import type { KillResponse } from '../proto/generated/quell/v1/KillResponse';
import type { KilledProcess } from '../proto/generated/quell/v1/KilledProcess';
import type { KillStatus__Output as KillStatus } from '../proto/generated/quell/v1/KillStatus';
import type { FilterCache } from './filter-cache';
import type { ProcessRecord, ProcessTable } from './process-table';

/** Where a kill's messages go; `closed` turns true when the coordinator went away. */
export interface KillSink {
  write(msg: KillResponse): void;
  readonly closed: boolean;
}

function row(rec: ProcessRecord, status: KillStatus): KillResponse {
  const process: KilledProcess = { status, query_id: rec.query_id, user: rec.user, query: rec.query };
  return { process };
}

/**
 * Runs one KILL QUERY on this node: match, authorize, cancel, report. The first message is the
 * plan (how many processes are eligible and how many were skipped for lack of rights), so the
 * coordinator can decide ACCESS_DENIED before any row is shown.
 */
export async function killQueries(
  req: KillRequest__Output,
  table: ProcessTable,
  filters: FilterCache<ProcessRecord>,
  sink: KillSink,
): Promise<void> {
  const filter = filters.get(req.where);
  const eligible: ProcessRecord[] = [];
  let skipped = 0;
  let skippedOwner = '';
  for (const rec of table.values()) {
    if (!filter(rec)) continue;
    if (rec.user === req.user || req.may_kill_others) eligible.push(rec);
    else {
      skipped++;
      skippedOwner ||= rec.user;
    }
  }
  sink.write({ plan: { eligible: eligible.length, skipped, skipped_owner: skippedOwner } });
  if (eligible.length === 0) return;

  if (req.mode === 'KILL_MODE_TEST') {
    for (const rec of eligible) sink.write(row(rec, 'KILL_STATUS_UNKNOWN_STATUS'));
    return;
  }

  const waiting: ProcessRecord[] = [];
  for (const rec of eligible) {
    if (rec.uncancellable) {
      sink.write(row(rec, 'KILL_STATUS_CANT_CANCEL'));
    } else if (table.get(rec.query_id) !== rec) {
      sink.write(row(rec, 'KILL_STATUS_FINISHED'));
    } else {
      table.cancel(rec, req.soft);
      waiting.push(rec);
    }
  }
  if (req.mode !== 'KILL_MODE_SYNC') {
    for (const rec of waiting) sink.write(row(rec, 'KILL_STATUS_WAITING'));
    return;
  }
  await waitForEnds(waiting, table, req.sync_timeout_ms, sink);
}

/** SYNC: a `finished` row the moment each process ends; `waiting` for the rest at the deadline. */
async function waitForEnds(pending: ProcessRecord[], table: ProcessTable, timeoutMs: number, sink: KillSink): Promise<void> {
  const left = new Set(pending);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  const ends = pending.map((rec) =>
    table.whenEnded(rec.query_id).then(() => {
      if (!left.delete(rec) || sink.closed) return;
      sink.write(row(rec, 'KILL_STATUS_FINISHED'));
    }),
  );
  await Promise.race([Promise.all(ends), deadline]);
  if (timer) clearTimeout(timer);
  for (const rec of left) sink.write(row(rec, 'KILL_STATUS_WAITING'));
  left.clear();
}
