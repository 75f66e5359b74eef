import { hostname } from 'node:os';
import type { ServerResponse } from 'node:http';
import { createFormatter, type Formatter, type Row } from '../../../sql/formats';
import type { Column } from '../../../sql/types';
import type { QuellError } from '../../../errors/quell-error';
import type { Logger } from '../../../common/daemon/logger';
import { BLOCK_BYTES, rowBytes } from '../grpc/execute-sink';
import type { StatementEnd, StatementSink } from '../../statements/statement-runner';
import { clickhouseExceptionText, httpStatusOf } from './http-errors';

export interface HttpSinkOptions {
  readonly statementId: string;
  /** canonical name of the format a statement without FORMAT is printed in */
  readonly defaultFormat: string;
  /** aborted when the client goes away */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/** The Content-Type ClickHouse sends with each output format. */
function contentType(format: string): string {
  if (format.startsWith('TabSeparated') || format === 'TSKV') return 'text/tab-separated-values; charset=UTF-8';
  if (format === 'CSV') return 'text/csv; charset=UTF-8; header=absent';
  if (format === 'CSVWithNames') return 'text/csv; charset=UTF-8; header=present';
  if (format === 'JSON' || format === 'JSONCompact') return 'application/json; charset=UTF-8';
  if (format === 'JSONEachRow') return 'application/x-ndjson; charset=UTF-8';
  return 'text/plain; charset=UTF-8';
}

const DISPLAY_NAME = hostname();

/**
 * One statement's HTTP response, as ClickHouse's HTTP interface writes it. The status line and
 * headers wait for the first bytes of the body, so an error found before any row (a failed
 * login, a syntax error, ACCESS_DENIED once every node has planned) gets its own status,
 * `X-ClickHouse-Exception-Code` and text; an error after rows is appended to the body.
 *
 * Rows stream as they come (chunked), with flow control: rows() resolves only while the
 * response is not backed up, so a client that reads slowly slows its statement. Rows that
 * arrive in the same event-loop turn are formatted as one block (one Pretty table).
 */
export class HttpSink implements StatementSink {
  /** how many times a producer had to wait for the client: observable by tests */
  stalls = 0;
  private formatter: Formatter | undefined;
  private format: string;
  private begun = false;
  private rowsSent = 0;
  private block: Row[] = [];
  private blockBytes = 0;
  private flushSoon: NodeJS.Immediate | undefined;
  private readonly started = process.hrtime.bigint();

  constructor(
    private readonly res: ServerResponse,
    private readonly o: HttpSinkOptions,
  ) {
    this.format = o.defaultFormat;
  }

  header(columns: readonly Column[], format: string | undefined): void {
    // the statement's FORMAT was checked by the statement path, the default by the door
    this.format = format ?? this.o.defaultFormat;
    this.formatter = createFormatter(this.format, columns);
  }

  async rows(rows: readonly Row[]): Promise<void> {
    for (const r of rows) {
      const size = rowBytes(r);
      if (this.block.length > 0 && this.blockBytes + size > BLOCK_BYTES) this.flush();
      this.block.push(r);
      this.blockBytes += size;
    }
    if (this.block.length > 0) this.flushSoon ??= setImmediate(() => this.flush());
    await this.room();
  }

  warn(message: string): void {
    // ClickHouse's HTTP interface has no place for warnings (a read that missed a node says so
    // only with distributed_ddl_output_mode = 'throw'); the log keeps them
    this.o.log.info({ warning: message }, 'warning not shown to the HTTP client');
  }

  /** Writes the end (or the error) and resolves once the client has taken it, or has gone. */
  async end(result: StatementEnd): Promise<void> {
    try {
      if (result.error) this.fail(result.error);
      else {
        this.flush();
        const f = this.formatter;
        if (f) this.write(this.beginOnce() + f.end({ rows: this.rowsSent, elapsedSeconds: result.elapsedSeconds }), result.rows);
        else this.write('', result.rows);
      }
    } catch (err) {
      // the answer cannot be written: the connection is dropped rather than left waiting
      this.res.destroy();
      throw err;
    }
    await this.finish();
  }

  private fail(error: QuellError): void {
    const text = `${clickhouseExceptionText(error)}\n`;
    if (this.res.headersSent) {
      // the 200 is gone: ClickHouse appends the exception to what it already sent
      this.flush();
      this.send(text);
      return;
    }
    // nothing sent yet: the rows gathered for it are dropped, as ClickHouse drops its unsent buffer
    this.dropBlock();
    if (this.o.signal.aborted || this.res.destroyed) return;
    this.res.writeHead(httpStatusOf(error), {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Server-Display-Name': DISPLAY_NAME,
      'X-ClickHouse-Query-Id': this.o.statementId,
      'X-ClickHouse-Exception-Code': String(error.code),
    });
    this.res.write(text);
  }

  private beginOnce(): string {
    if (this.begun || !this.formatter) return '';
    this.begun = true;
    return this.formatter.begin();
  }

  private flush(): void {
    if (this.flushSoon) clearImmediate(this.flushSoon);
    this.flushSoon = undefined;
    if (this.block.length === 0 || !this.formatter) return;
    const rows = this.block;
    this.dropBlock();
    const text = this.beginOnce() + this.formatter.block(rows);
    this.rowsSent += rows.length;
    this.write(text, this.rowsSent);
  }

  private dropBlock(): void {
    if (this.flushSoon) clearImmediate(this.flushSoon);
    this.flushSoon = undefined;
    this.block = [];
    this.blockBytes = 0;
  }

  /** Body bytes, after the status line and headers if they have not gone yet. */
  private write(text: string, resultRows: number): void {
    if (!this.res.headersSent && !this.o.signal.aborted && !this.res.destroyed) {
      this.res.writeHead(200, {
        'Content-Type': contentType(this.format),
        'X-ClickHouse-Server-Display-Name': DISPLAY_NAME,
        'X-ClickHouse-Query-Id': this.o.statementId,
        'X-ClickHouse-Format': this.format,
        'X-ClickHouse-Summary': this.summary(resultRows),
      });
    }
    if (text !== '') this.send(text);
  }

  private send(text: string): void {
    // a client that went away takes nothing more
    if (this.o.signal.aborted || this.res.destroyed) return;
    this.res.write(text);
  }

  /** ClickHouse's X-ClickHouse-Summary, as far as it is known when the headers go out. */
  private summary(resultRows: number): string {
    const elapsedNs = process.hrtime.bigint() - this.started;
    const zero = { read_rows: '0', read_bytes: '0', written_rows: '0', written_bytes: '0', total_rows_to_read: '0' };
    return JSON.stringify({ ...zero, result_rows: String(resultRows), result_bytes: '0', elapsed_ns: String(elapsedNs) });
  }

  /** Waits while the response is backed up (write() said so) and the client is still there. */
  private async room(): Promise<void> {
    if (this.res.writableNeedDrain) this.stalls++;
    while (this.res.writableNeedDrain && !this.o.signal.aborted && !this.res.destroyed) {
      await this.event('drain');
    }
  }

  private async finish(): Promise<void> {
    if (this.o.signal.aborted || this.res.destroyed) return;
    const done = this.event('finish');
    this.res.end();
    await done;
  }

  /** Resolves on `name`, or when the response closes or the client goes away. */
  private event(name: 'drain' | 'finish'): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.res.off(name, done).off('close', done);
        this.o.signal.removeEventListener('abort', done);
        resolve();
      };
      this.res.on(name, done).on('close', done);
      this.o.signal.addEventListener('abort', done, { once: true });
    });
  }
}
