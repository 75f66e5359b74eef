import type { Expr, SelectStatement } from '../../../sql/ast';
import type { Column, SqlValue } from '../../../sql/types';
import { chError, type QuellError } from '../../../errors/quell-error';
import type { ResultSink } from '../../context';
import { compareRows } from '../../../sql/sort';

/** What a plain read asks the nodes for and how its rows are ordered. */
export interface Projection {
  readonly columns: Column[];
  /** expressions evaluated where the rows live: the select list, then hidden ORDER BY keys */
  readonly exprs: Expr[];
  readonly orderKeys: { index: number; desc: boolean }[];
}

/** Sorts, offsets and limits gathered rows, then drops the hidden ORDER BY keys. */
export function finish(rows: SqlValue[][], p: Projection, stmt: SelectStatement): SqlValue[][] {
  if (p.orderKeys.length > 0) rows.sort((a, b) => compareRows(a, b, p.orderKeys));
  const from = stmt.offset ?? 0;
  const to = stmt.limit === undefined ? rows.length : from + stmt.limit;
  return rows.slice(from, to).map((r) => visible(r, p));
}

/** A row without its hidden ORDER BY keys. */
function visible(r: SqlValue[], p: Projection): SqlValue[] {
  return r.length === p.columns.length ? r : r.slice(0, p.columns.length);
}

export function tooManyRows(max: number, current: number): QuellError {
  return chError('TOO_MANY_ROWS_OR_BYTES', `Limit for result exceeded, max rows: ${max}, current rows: ${current}`);
}

/**
 * Where a read's rows go as agents send them. Without ORDER BY they stream to the client as
 * they come (OFFSET and LIMIT applied on the way), each block waiting for the client. With
 * ORDER BY they must all be seen first: only the best OFFSET + LIMIT are kept, and without a
 * LIMIT the gathered rows are the result, held to max_result_rows.
 */
export class ReadRows {
  private readonly gathered: SqlValue[][] = [];
  private skip: number;
  private left: number;
  private sent = 0;
  /** ORDER BY … LIMIT: the most rows worth keeping */
  private readonly keep: number;

  constructor(
    private readonly p: Projection,
    private readonly stmt: SelectStatement,
    private readonly sink: ResultSink,
    private readonly maxRows: number,
  ) {
    this.skip = stmt.offset ?? 0;
    this.left = stmt.limit ?? Infinity;
    this.keep = stmt.limit === undefined ? Infinity : (stmt.offset ?? 0) + stmt.limit;
  }

  private get sorted(): boolean {
    return this.p.orderKeys.length > 0;
  }

  /** False once LIMIT is reached and nothing more can matter. */
  get wanted(): boolean {
    return this.sorted || this.left > 0;
  }

  async add(rows: SqlValue[][]): Promise<void> {
    if (this.sorted) return this.gather(rows);
    const out: SqlValue[][] = [];
    for (const r of rows) {
      if (this.skip > 0) this.skip--;
      else if (this.left > 0) {
        this.left--;
        out.push(visible(r, this.p));
      }
    }
    await this.send(out);
  }

  /** The sorted result, once every node is done. */
  async end(): Promise<void> {
    if (this.sorted) await this.send(finish(this.gathered.splice(0), this.p, this.stmt));
  }

  get rows(): number {
    return this.sent;
  }

  private gather(rows: SqlValue[][]): void {
    for (const r of rows) this.gathered.push(r);
    if (this.keep === Infinity) {
      if (this.maxRows > 0 && this.gathered.length > this.maxRows) throw tooManyRows(this.maxRows, this.gathered.length);
    } else if (this.gathered.length > Math.max(2 * this.keep, 1024)) {
      // keep the best OFFSET + LIMIT; sorting now and then keeps this linear in what arrives
      this.gathered.sort((a, b) => compareRows(a, b, this.p.orderKeys));
      this.gathered.length = this.keep;
    }
  }

  private async send(rows: SqlValue[][]): Promise<void> {
    if (rows.length === 0) return;
    this.sent += rows.length;
    if (this.maxRows > 0 && this.sent > this.maxRows) throw tooManyRows(this.maxRows, this.sent);
    await this.sink.rows(rows);
  }
}

