import { performance } from 'node:perf_hooks';

/** Who runs a process: the workload session that registered it, which delivers cancels. */
export interface ProcessOwner {
  readonly sessionId: number;
  cancel(queryId: string, soft: boolean): void;
}

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
  readonly owner: ProcessOwner;
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

export class DuplicateProcessError extends Error {
  constructor(queryId: string) {
    super(`Query with id = ${queryId} is already running.`);
  }
}

/**
 * The node's running queries, keyed by query_id. Ending a process wakes everything waiting
 * for it (SYNC kills), so waiters never poll.
 */
export class ProcessTable {
  private readonly byId = new Map<string, ProcessRecord>();
  private readonly waiters = new Map<string, Array<() => void>>();

  get size(): number {
    return this.byId.size;
  }

  values(): IterableIterator<ProcessRecord> {
    return this.byId.values();
  }

  get(queryId: string): ProcessRecord | undefined {
    return this.byId.get(queryId);
  }

  register(reg: QueryRegistration, owner: ProcessOwner): ProcessRecord {
    if (this.byId.has(reg.query_id)) throw new DuplicateProcessError(reg.query_id);
    const rec: ProcessRecord = {
      ...reg,
      owner,
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
    this.byId.set(reg.query_id, rec);
    return rec;
  }

  progress(queryId: string, owner: ProcessOwner, p: ProgressUpdate): void {
    const rec = this.byId.get(queryId);
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

  /** Removes the process (only its owner may end it) and wakes its waiters. */
  end(queryId: string, owner: ProcessOwner): boolean {
    const rec = this.byId.get(queryId);
    if (!rec || rec.owner !== owner) return false;
    this.byId.delete(queryId);
    const waiting = this.waiters.get(queryId);
    if (waiting) {
      this.waiters.delete(queryId);
      for (const wake of waiting) wake();
    }
    return true;
  }

  /** Ends every process of an owner whose stream is gone. */
  endAllOf(owner: ProcessOwner): number {
    let n = 0;
    for (const rec of [...this.byId.values()]) if (rec.owner === owner && this.end(rec.query_id, owner)) n++;
    return n;
  }

  /** Resolves when the process is gone (at once if it already is). */
  whenEnded(queryId: string): Promise<void> {
    if (!this.byId.has(queryId)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiters.get(queryId);
      if (list) list.push(resolve);
      else this.waiters.set(queryId, [resolve]);
    });
  }

  /** Marks the process cancelled and asks its owner to stop it. */
  cancel(rec: ProcessRecord, soft: boolean): void {
    rec.is_cancelled = 1;
    rec.owner.cancel(rec.query_id, soft);
  }

  elapsedSeconds(rec: ProcessRecord, now = performance.now()): number {
    return (now - rec.startedAt) / 1000;
  }
}
