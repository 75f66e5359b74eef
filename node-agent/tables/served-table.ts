import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { ScanRequest__Output } from '../../proto/generated/quell/v1/ScanRequest';
import type { Row } from '../../proto/generated/quell/v1/Row';
import { encodeRow } from '../../proto/codec';
import { chError } from '../../errors/quell-error';
import type { Column, SqlValue } from '../../sql/types';
import { executeKill, type KillContext, type KillSink, type KillSubject } from '../kill/kill-executor';
import type { Candidate } from '../kill/row-rules';
import type { TableSource } from './table-source';
import { rowOrder } from '../kill/kill-order';

const SCAN_BATCH = 1024;

/** Takes one batch of a scan's rows; a promise makes the scan wait (the caller's flow control). */
export type RowWriter = (rows: Row[]) => void | Promise<void>;

/** A table this node can be read from. */
export interface Readable {
  scan(req: ScanRequest__Output, write: RowWriter): Promise<void>;
}

/** One readable, killable table of this node, with its row type hidden behind closures. */
export interface Served extends Readable {
  kill(req: KillRequest__Output, sink: KillSink, ctx: KillContext): Promise<void>;
}

/**
 * The rows that match the request's WHERE, evaluated to its expressions, written in batches.
 * `rows` may be a file read as it goes: nothing but one batch is held.
 */
export async function scanRows<R>(rows: Iterable<R> | AsyncIterable<R>, source: TableSource<R>, req: ScanRequest__Output, write: RowWriter, visible: (r: R) => boolean = () => true): Promise<void> {
  const filter = source.filters.get(req.where);
  const exprs = req.expressions.map((text) => source.expressions.get(text));
  const columns: Column[] = req.expressions.map((name, i) => ({ name, type: exprs[i]!.type }));
  let batch: Row[] = [];
  /** a full batch to write, once `row` completes one */
  const take = (row: R): Row[] | undefined => {
    if (!visible(row) || !filter(row)) return undefined;
    const values: SqlValue[] = exprs.map((e) => e.evaluate(row));
    batch.push(encodeRow(values, columns));
    if (batch.length < SCAN_BATCH) return undefined;
    const full = batch;
    batch = [];
    return full;
  };
  // a live table is read in one go (no await unless the writer asks to wait): a consistent listing
  if (Symbol.asyncIterator in rows) {
    for await (const row of rows) {
      const full = take(row);
      if (full) await write(full);
    }
  } else {
    for (const row of rows) {
      const full = take(row);
      const waiting = full && write(full);
      if (waiting) await waiting;
    }
  }
  if (batch.length > 0) await write(batch);
}

function* rowsOf<R>(candidates: Iterable<Candidate<R>>): Iterable<R> {
  for (const c of candidates) yield c.row;
}

export function serve<R>(source: TableSource<R>, subject: KillSubject<R>): Served {
  return {
    async scan(req, write) {
      // without the right to see others, a reader sees only its own (rows with no owner, all)
      const visible = (row: R): boolean => {
        const owner = subject.userOf(row);
        return owner === undefined || req.see_all_users || owner === req.user;
      };
      await scanRows(rowsOf(await subject.candidates()), source, req, write, visible);
    },
    kill: (req, sink, ctx) => executeKill(req, subject, source.filters.get(req.where), sink, ctx, rowOrder(req.order_by, source.expressions)),
  };
}

/** MariaDB's KILL returns at once; quell has no way to wait for an interrupted statement, so no SYNC. */
export function withoutSync(served: Served): Served {
  return {
    scan: served.scan,
    kill(req, sink, ctx) {
      if (req.mode === 'KILL_MODE_SYNC') throw chError('BAD_ARGUMENTS', 'Connection kills are ASYNC or TEST, not SYNC');
      return served.kill(req, sink, ctx);
    },
  };
}

