import { createFormatter, type Formatter } from '../sql/formats';
import type { QuellClient } from '../client/coordinator-client';

export interface RenderOptions {
  /** used when the statement names no FORMAT */
  readonly defaultFormat: string;
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly signal?: AbortSignal;
}

/**
 * Runs one statement and prints it as it streams: output starts with the first rows, so a
 * statement that fails prints only its error.
 */
export async function runAndRender(client: QuellClient, sql: string, o: RenderOptions): Promise<{ rows: number; elapsedSeconds: number }> {
  let formatter: Formatter | undefined;
  let begun = false;
  const begin = (): void => {
    if (!begun && formatter) {
      begun = true;
      o.out(formatter.begin());
    }
  };
  for await (const ev of client.execute(sql, { signal: o.signal })) {
    if (ev.kind === 'header') {
      formatter = createFormatter(ev.format ?? o.defaultFormat, ev.columns);
    } else if (ev.kind === 'rows') {
      begin();
      o.out(formatter?.block(ev.rows) ?? '');
    } else {
      begin();
      o.out(formatter?.end({ rows: ev.rows, elapsedSeconds: ev.elapsedSeconds }) ?? '');
      for (const w of ev.warnings) o.err(`Warning: ${w}\n`);
      return { rows: ev.rows, elapsedSeconds: ev.elapsedSeconds };
    }
  }
  return { rows: 0, elapsedSeconds: 0 };
}
