import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { measure, timed, warm } from './measure';

/**
 * The disk's share of a kill: an agent appends each kill to its kill log and fdatasyncs it
 * before it reports the row (docs/statement-path.md §The kill log), so no kill statement that
 * matches anything can be faster than one append+fdatasync on the disk that holds the logs.
 * Timed here the way the kill log does it (fs/promises write, then datasync, a line of about
 * 400 bytes), in a file beside the bench clusters' kill logs (os.tmpdir()).
 */
export async function fdatasyncSamples(iterations: number, budgetMs: number): Promise<number[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-bench-disk-'));
  const fh = await open(path.join(dir, 'kill_log.jsonl'), 'a', 0o600);
  const line = Buffer.from(`${JSON.stringify({ statement_id: 'x'.repeat(36), condition: "equals(user, 'etl')", query: 'y'.repeat(200) })}\n`);
  const append = async (): Promise<void> => {
    await fh.write(line);
    await fh.datasync();
  };
  try {
    await warm(20, Infinity, append);
    return await measure(iterations, budgetMs, () => timed(append));
  } finally {
    await fh.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
