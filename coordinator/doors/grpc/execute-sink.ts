import { encodeRow } from '../../../proto/codec';
import type { ExecuteResponse } from '../../../proto/generated/quell/v1/ExecuteResponse';
import type { Row } from '../../../proto/generated/quell/v1/Row';
import { chError } from '../../../errors/quell-error';
import type { Dialect, QuellError } from '../../../errors/quell-error';
import type { Column, SqlValue } from '../../../sql/types';
import type { StatementEnd, StatementSink } from '../../statements/statement-runner';

/** The part of grpc-js's server stream an Execute result is written to. */
export interface ResponseStream {
  /** `done` runs once the transport has taken the message (the client's flow-control window let it out) */
  write(msg: ExecuteResponse, done: () => void): boolean;
  on(event: 'drain', listener: () => void): unknown;
}

/** A row block goes out once it is about this big: well under the 4 MB that gRPC clients accept by default. */
export const BLOCK_BYTES = 1 << 20;
/** The most one row may take: a message holds at least one row, and none may pass 4 MB. */
export const MAX_ROW_BYTES = 4_000_000;
/** What one statement may hold that its client has not taken (sent but not let out, plus the block being gathered). */
export const HELD_BYTES = 4 << 20;

/** A row's size on the wire, from above: strings' UTF-8 bytes plus a little framing per cell. */
export function rowBytes(row: readonly SqlValue[]): number {
  let n = 8;
  for (const v of row) n += typeof v === 'string' ? Buffer.byteLength(v) + 8 : 16;
  return n;
}

/**
 * The Execute stream of one statement, with flow control: rows are written only as fast as the
 * client takes them. rows() resolves at once while the statement holds less than HELD_BYTES
 * that the client has not taken, and otherwise once the client has read enough (or gone).
 * Rows produced in the same event-loop turn travel as one block (processes that stopped
 * together print as one Pretty table), split so that no message passes BLOCK_BYTES by much.
 */
export class ExecuteSink implements StatementSink {
  readonly warnings: string[] = [];
  /** how many times a producer had to wait for the client: observable by tests */
  stalls = 0;
  private columns: readonly Column[] = [];
  private headerSent = false;
  /** the header, until the first rows or the end go out with it */
  private pendingHeader: ExecuteResponse | undefined;
  private block: Row[] = [];
  private blockBytes = 0;
  private flushSoon: NodeJS.Immediate | undefined;
  /** bytes written whose write the transport has not completed */
  private unsent = 0;
  /** write() said the stream's buffer is full: wait for 'drain' */
  private needDrain = false;
  private waiting: (() => void)[] = [];
  /** the error the statement ended with: the call's status follows its End (coordinator-service.ts) */
  private error: QuellError | undefined;

  constructor(
    private readonly stream: ResponseStream,
    private readonly statementId: string,
    private readonly signal: AbortSignal,
  ) {
    stream.on('drain', () => {
      this.needDrain = false;
      this.wake();
    });
    signal.addEventListener('abort', () => this.wake(), { once: true });
  }

  /** The error the End carried, once the statement ended with one. */
  get failed(): QuellError | undefined {
    return this.error;
  }

  /** Bytes this statement holds that its client has not taken. */
  get heldBytes(): number {
    return this.unsent + this.blockBytes;
  }

  /**
   * The header waits for the first rows or the end: a short result's header, rows and end leave
   * in the same turn, which HTTP/2 sends as one write.
   */
  header(columns: readonly Column[], format: string | undefined, dialect?: Dialect): void {
    this.columns = columns;
    this.headerSent = true;
    this.pendingHeader = {
      header: {
        columns: columns.map((c) => ({ name: c.name, type: c.type })),
        format: format ?? '',
        dialect: dialect === 'mariadb' ? 'DIALECT_MARIADB' : 'DIALECT_CLICKHOUSE',
        statement_id: this.statementId,
      },
    };
  }

  async rows(rows: readonly (readonly SqlValue[])[]): Promise<void> {
    if (!this.headerSent) throw new Error('rows before header');
    for (const r of rows) {
      const size = rowBytes(r);
      if (size > MAX_ROW_BYTES) throw chError('TOO_MANY_ROWS_OR_BYTES', `A result row of about ${size} bytes exceeds the ${MAX_ROW_BYTES}-byte message limit`);
      if (this.block.length > 0 && this.blockBytes + size > BLOCK_BYTES) this.flush();
      this.block.push(encodeRow(r, this.columns));
      this.blockBytes += size;
    }
    if (this.block.length > 0) this.flushSoon ??= setImmediate(() => this.flush());
    await this.room();
  }

  warn(message: string): void {
    this.warnings.push(message);
  }

  /**
   * The last message, after whatever rows are gathered. Resolves once the client has taken all
   * of it, or has gone: until then the statement still holds what it wrote.
   */
  async end(result: StatementEnd): Promise<void> {
    const { error } = result;
    this.error = error;
    const end: NonNullable<ExecuteResponse['end']> = {
      error: error ? { code: error.code, name: error.errorName, message: error.message, dialect: error.dialect === 'mariadb' ? 'DIALECT_MARIADB' : 'DIALECT_CLICKHOUSE' } : null,
      rows: String(result.rows),
      elapsed_seconds: result.elapsedSeconds,
      affected_rows: String(result.affectedRows),
      warnings: this.warnings,
    };
    this.flush();
    let taken = false;
    this.send({ end }, 0, () => {
      taken = true;
    });
    while (!taken && !this.signal.aborted) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private flush(): void {
    if (this.flushSoon) clearImmediate(this.flushSoon);
    this.flushSoon = undefined;
    if (this.pendingHeader) this.send(this.pendingHeader, 0);
    this.pendingHeader = undefined;
    if (this.block.length === 0) return;
    const rows = this.block;
    const bytes = this.blockBytes;
    this.block = [];
    this.blockBytes = 0;
    this.send({ rows: { rows } }, bytes);
  }

  private send(msg: ExecuteResponse, bytes: number, taken?: () => void): void {
    // a client that cancelled takes nothing more
    if (this.signal.aborted) return;
    this.unsent += bytes;
    const more = this.stream.write(msg, () => {
      this.unsent -= bytes;
      taken?.();
      this.wake();
    });
    if (!more) this.needDrain = true;
  }

  private full(): boolean {
    return !this.signal.aborted && (this.needDrain || this.heldBytes > HELD_BYTES);
  }

  private async room(): Promise<void> {
    if (!this.full()) return;
    this.stalls++;
    while (this.full()) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private wake(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}
