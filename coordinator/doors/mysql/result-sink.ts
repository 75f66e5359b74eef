import type { Dialect } from '../../../errors/quell-error';
import type { Column, SqlValue } from '../../../sql/types';
import type { StatementEnd, StatementSink } from '../../statements/statement-runner';
import { columnCountPacket, columnDefinitionPacket, eofPacket, errPacket, okPacket, textRowPacket, wireError, type WireError } from './results';
import type { Wire } from './wire';

/** How a statement ended, for the session's SHOW WARNINGS. */
export interface SinkOutcome {
  readonly error: WireError | undefined;
  readonly warnings: readonly string[];
}

/**
 * One statement's result on a MySQL connection: a result set (column definitions, a text row
 * packet per row as the rows come, EOF) or an OK packet with the affected rows, or an ERR packet
 * (also in place of a row, when a statement fails or is killed after its first rows). Rows go
 * out only as fast as the client takes them: rows() waits while the socket's buffer is full.
 */
export class MysqlResultSink implements StatementSink {
  private columns: readonly Column[] = [];
  private dialect: Dialect = 'clickhouse';
  private readonly warnings: string[] = [];
  private outcome: SinkOutcome | undefined;

  constructor(
    private readonly wire: Wire,
    /** the session's reason to end the statement with its own error (KILL, shutdown), if any */
    private readonly interruption: () => WireError | undefined,
  ) {}

  header(columns: readonly Column[], _format: string | undefined, dialect?: Dialect): void {
    // FORMAT is ClickHouse's text formatting; over this protocol a result is always rows
    this.columns = columns;
    this.dialect = dialect ?? 'clickhouse';
    if (columns.length === 0 || this.interruption()) return;
    this.wire.send(columnCountPacket(columns.length), ...columns.map((c) => columnDefinitionPacket(c, this.dialect)), eofPacket());
  }

  async rows(rows: readonly (readonly SqlValue[])[]): Promise<void> {
    if (this.interruption() || this.wire.closed) return;
    let room = true;
    for (const r of rows) room = this.wire.send(textRowPacket(r, this.columns, this.dialect));
    if (!room) await this.wire.drained();
  }

  warn(message: string): void {
    this.warnings.push(message);
  }

  async end(end: StatementEnd): Promise<void> {
    const error = this.interruption() ?? (end.error ? wireError(end.error) : undefined);
    if (error) this.wire.send(errPacket(error));
    else if (this.columns.length > 0) this.wire.send(eofPacket(this.warnings.length));
    else this.wire.send(okPacket(end.affectedRows, this.warnings.length));
    this.outcome = { error, warnings: this.warnings };
    await this.wire.flushed();
  }

  /** How the statement ended (after end()). */
  result(): SinkOutcome {
    return this.outcome ?? { error: undefined, warnings: this.warnings };
  }
}
