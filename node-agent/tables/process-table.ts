import { performance } from 'node:perf_hooks';
import { LiveTable, type Killer, type LiveEntry, type Owner } from './live-table';
import { processRow, type ProcessRow, type ProcessStart, type QueryCounters } from './rows';

/** The node's running queries (system.processes), keyed by query_id. */
export class ProcessTable extends LiveTable<ProcessRow> {
  /** `memoryUsage`: what the query holds from its start (a workload may say so as it registers). */
  register(start: ProcessStart, owner: Owner, memoryUsage = 0): LiveEntry<ProcessRow> {
    const row = processRow(start, performance.now());
    row.memory_usage = memoryUsage;
    row.peak_memory_usage = memoryUsage;
    return this.add(start.query_id, owner, row, `Query with id = ${start.query_id} is already running.`);
  }

  progress(queryId: string, owner: Owner, p: QueryCounters): void {
    const row = this.ownedBy(queryId, owner)?.row;
    if (!row) return;
    row.read_rows = p.read_rows;
    row.read_bytes = p.read_bytes;
    row.total_rows_approx = p.total_rows_approx;
    row.written_rows = p.written_rows;
    row.written_bytes = p.written_bytes;
    row.memory_usage = p.memory_usage;
    if (p.memory_usage > row.peak_memory_usage) row.peak_memory_usage = p.memory_usage;
  }

  end(queryId: string, owner: Owner): boolean {
    return this.remove(queryId, owner) !== undefined;
  }

  /** Marks the process cancelled and asks its owner to stop it. */
  cancel(entry: LiveEntry<ProcessRow>, soft: boolean, by?: Killer): void {
    entry.row.is_cancelled = 1;
    entry.owner.cancel({ kind: 'query', query_id: entry.row.query_id, by }, soft);
  }

  /** The escalation of a cancel the process outlived by `afterMs`: its owner's Terminate. */
  terminate(entry: LiveEntry<ProcessRow>, afterMs: number, by?: Killer): void {
    entry.owner.cancel({ kind: 'query', query_id: entry.row.query_id, by, terminate: { afterMs } }, false);
  }
}
