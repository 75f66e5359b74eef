import { performance } from 'node:perf_hooks';
import { LiveTable, type Owner } from './live-table';

export interface QueryRegistration {
  readonly query_id: string;
  readonly user: string;
  readonly query: string;
  readonly initial_query_id: string;
  readonly initial_user: string;
  readonly address: string;
  readonly port: number;
  readonly client_hostname: string;
  readonly client_name: string;
  readonly current_database: string;
  readonly query_kind: string;
  readonly uncancellable: boolean;
  readonly thread_id: number;
}

export interface ProcessRecord extends QueryRegistration {
  readonly key: string;
  readonly owner: Owner;
  readonly startedAt: number;
  is_cancelled: number;
  read_rows: number;
  read_bytes: number;
  total_rows_approx: number;
  written_rows: number;
  written_bytes: number;
  memory_usage: number;
  peak_memory_usage: number;
}

export interface ProgressUpdate {
  readonly read_rows?: number;
  readonly read_bytes?: number;
  readonly total_rows_approx?: number;
  readonly written_rows?: number;
  readonly written_bytes?: number;
  readonly memory_usage?: number;
}

/** The node's running queries (system.processes), keyed by query_id. */
export class ProcessTable extends LiveTable<ProcessRecord> {
  register(reg: QueryRegistration, owner: Owner): ProcessRecord {
    // Fields are listed, not spread: a spread record is a slow, large dictionary-like object,
    // and every WHERE reads these records 100,000 at a time.
    const rec: ProcessRecord = {
      key: reg.query_id,
      owner,
      query_id: reg.query_id,
      user: reg.user,
      query: reg.query,
      initial_query_id: reg.initial_query_id,
      initial_user: reg.initial_user,
      address: reg.address,
      port: reg.port,
      client_hostname: reg.client_hostname,
      client_name: reg.client_name,
      current_database: reg.current_database,
      query_kind: reg.query_kind,
      uncancellable: reg.uncancellable,
      thread_id: reg.thread_id,
      startedAt: performance.now(),
      is_cancelled: 0,
      read_rows: 0,
      read_bytes: 0,
      total_rows_approx: 0,
      written_rows: 0,
      written_bytes: 0,
      memory_usage: 0,
      peak_memory_usage: 0,
    };
    return this.add(rec, `Query with id = ${reg.query_id} is already running.`);
  }

  progress(queryId: string, owner: Owner, p: ProgressUpdate): void {
    const rec = this.get(queryId);
    if (!rec || rec.owner !== owner) return;
    if (p.read_rows !== undefined) rec.read_rows = p.read_rows;
    if (p.read_bytes !== undefined) rec.read_bytes = p.read_bytes;
    if (p.total_rows_approx !== undefined) rec.total_rows_approx = p.total_rows_approx;
    if (p.written_rows !== undefined) rec.written_rows = p.written_rows;
    if (p.written_bytes !== undefined) rec.written_bytes = p.written_bytes;
    if (p.memory_usage !== undefined) {
      rec.memory_usage = p.memory_usage;
      if (p.memory_usage > rec.peak_memory_usage) rec.peak_memory_usage = p.memory_usage;
    }
  }

  end(queryId: string, owner: Owner): boolean {
    return this.remove(queryId, owner) !== undefined;
  }

  /** Marks the process cancelled and asks its owner to stop it. */
  cancel(rec: ProcessRecord, soft: boolean): void {
    rec.is_cancelled = 1;
    rec.owner.cancel({ kind: 'query', query_id: rec.query_id }, soft);
  }

  elapsedSeconds(rec: ProcessRecord, now = performance.now()): number {
    return (now - rec.startedAt) / 1000;
  }
}
