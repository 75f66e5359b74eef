import { createFormatter, type Formatter } from '../sql/formats';
import type { QuellClient } from '../client/coordinator-client';
import type { Dialect } from '../errors/quell-error';
import type { Column, SqlValue } from '../sql/types';
import { terminalSafe } from '../sql/formats/terminal-safe';
import { mariadbSummary, mariadbTable } from './mariadb-output';

/** What runs a statement: QuellClient (the top app and tests give their own). */
export type StatementRunner = Pick<QuellClient, 'execute'>;

export interface RenderOptions {
  /** used when the statement names no FORMAT */
  readonly defaultFormat: string;
  /** the user chose the format (-f): MariaDB results use it too instead of the mariadb table */
  readonly formatChosen: boolean;
  /** the session's dialect, sent with every statement */
  readonly dialect: Dialect;
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly signal?: AbortSignal;
}

export interface Rendered {
  readonly rows: number;
  readonly elapsedSeconds: number;
  /** the summary line is already printed (MariaDB results print their own) */
  readonly summarized: boolean;
}

/**
 * Runs one statement and prints it as it streams: output starts with the first rows, so a
 * statement that fails prints only its error. MariaDB-form results print as the mariadb client
 * does: a boxed table and `N rows in set`, or `Query OK, N rows affected`.
 */
export async function runAndRender(client: StatementRunner, sql: string, o: RenderOptions): Promise<Rendered> {
  let formatter: Formatter | undefined;
  let mariadb: { columns: Column[]; rows: SqlValue[][] } | undefined;
  let begun = false;
  const begin = (): void => {
    if (!begun && formatter) {
      begun = true;
      o.out(formatter.begin());
    }
  };
  for await (const ev of client.execute(sql, { signal: o.signal, dialect: o.dialect })) {
    if (ev.kind === 'header') {
      if (ev.dialect === 'mariadb' && ev.format === undefined && !o.formatChosen) mariadb = { columns: ev.columns, rows: [] };
      else formatter = createFormatter(ev.format ?? o.defaultFormat, ev.columns);
    } else if (ev.kind === 'rows') {
      if (mariadb) mariadb.rows.push(...ev.rows);
      begin();
      o.out(formatter?.block(ev.rows) ?? '');
    } else {
      for (const w of ev.warnings) o.err(`Warning: ${terminalSafe(w)}\n`);
      if (mariadb) {
        if (mariadb.columns.length > 0 && mariadb.rows.length > 0) o.out(mariadbTable(mariadb.columns, mariadb.rows));
        o.out(mariadbSummary(mariadb.columns.length, mariadb.rows.length, ev.affectedRows, ev.elapsedSeconds));
        return { rows: ev.rows, elapsedSeconds: ev.elapsedSeconds, summarized: true };
      }
      begin();
      o.out(formatter?.end({ rows: ev.rows, elapsedSeconds: ev.elapsedSeconds }) ?? '');
      return { rows: ev.rows, elapsedSeconds: ev.elapsedSeconds, summarized: false };
    }
  }
  return { rows: 0, elapsedSeconds: 0, summarized: false };
}
