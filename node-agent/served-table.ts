import type { KillRequest__Output } from '../proto/generated/quell/v1/KillRequest';
import type { ScanRequest__Output } from '../proto/generated/quell/v1/ScanRequest';
import type { Row } from '../proto/generated/quell/v1/Row';
import { encodeRow } from '../proto/codec';
import { chError } from '../errors/quell-error';
import type { Column, SqlValue } from '../sql/types';
import { executeKill, type KillSink, type KillSubject } from './kill-executor';
import type { TableSource } from './table-source';

const SCAN_BATCH = 1024;

/** One readable, killable table of this node, with its row type hidden behind closures. */
export interface Served {
  scan(req: ScanRequest__Output, write: (rows: Row[]) => void): Promise<void>;
  kill(req: KillRequest__Output, sink: KillSink): Promise<void>;
}

export function serve<R>(source: TableSource<R>, subject: KillSubject<R>): Served {
  return {
    async scan(req, write) {
      const filter = source.filters.get(req.where);
      const exprs = req.expressions.map((text) => source.expressions.get(text));
      const columns: Column[] = req.expressions.map((name, i) => ({ name, type: exprs[i]!.type }));
      let batch: Row[] = [];
      for (const { row } of await subject.candidates()) {
        // without the right to see others, a reader sees only its own (rows with no owner, all)
        const owner = subject.userOf(row);
        if (owner !== undefined && !req.see_all_users && owner !== req.user) continue;
        if (!filter(row)) continue;
        const values: SqlValue[] = exprs.map((e) => e.evaluate(row));
        batch.push(encodeRow(values, columns));
        if (batch.length >= SCAN_BATCH) {
          write(batch);
          batch = [];
        }
      }
      if (batch.length > 0) write(batch);
    },
    kill: (req, sink) => executeKill(req, subject, source.filters.get(req.where), sink),
  };
}

/** MariaDB's KILL returns at once; quell has no way to wait for an interrupted statement, so no SYNC. */
export function withoutSync(served: Served): Served {
  return {
    scan: served.scan,
    kill(req, sink) {
      if (req.mode === 'KILL_MODE_SYNC') throw chError('BAD_ARGUMENTS', 'Connection kills are ASYNC or TEST, not SYNC');
      return served.kill(req, sink);
    },
  };
}

