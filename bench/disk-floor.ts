import { mkdtempSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { FILE_IO } from '../node-agent/kill/kill-log/kill-log';

/**
 * The disk's share of a kill: an agent appends each kill to its kill log and fdatasyncs it
 * before it reports the row (docs/statement-path.md §The kill log), so no kill statement that
 * matches anything can be faster than one append+fdatasync on the disk that holds the logs.
 * Timed here with the kill log's own I/O (FILE_IO: a synchronous write, then fdatasync on the
 * thread pool), a line of about 300 bytes, in a file beside the bench clusters' kill logs
 * (os.tmpdir()).
 */
export class DiskFloor {
  private constructor(
    private readonly dir: string,
    private readonly fh: FileHandle,
  ) {}

  static async open(): Promise<DiskFloor> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-bench-disk-'));
    return new DiskFloor(dir, await FILE_IO.openAppend(path.join(dir, 'kill_log.jsonl')));
  }

  /** One append and fdatasync, as the kill log makes them. */
  async append(): Promise<void> {
    await FILE_IO.write(this.fh, LINE);
    await FILE_IO.datasync(this.fh);
  }

  async close(): Promise<void> {
    await this.fh.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const LINE = Buffer.from(`${JSON.stringify({ statement_id: 'x'.repeat(36), condition: "equals(user, 'etl')", query: 'y'.repeat(200) })}\n`);
