import { fdatasync, writeSync } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../../common/logger';
import { errorText } from '../../errors/error-text';
import { decodeEntry, encodeEntry, type KillLogEntry } from './entry';
import { KillLogError } from './error';
import { CURRENT_FILE, rotatedFiles, shiftFiles, syncDir } from './files';
import { fileLines } from './lines';

export const DEFAULT_KILL_LOG_MAX_MB = 64;
export const DEFAULT_KILL_LOG_KEEP = 5;

/** The file operations of the write path; tests wrap them to count syncs or fail them. */
export interface KillLogIo {
  /** opens (creating) the current file for reading and appending */
  openAppend(file: string): Promise<FileHandle>;
  /** writes all of `data` at the end of the file (it is opened O_APPEND) */
  write(fh: FileHandle, data: Buffer): Promise<void>;
  /** fdatasync */
  datasync(fh: FileHandle): Promise<void>;
}

/**
 * The write is synchronous: a round's few hundred bytes reach the page cache in microseconds,
 * and a trip through libuv's thread pool (a wake-up each way) cost more than the copy. Only
 * fdatasync, which waits for the device, goes to the pool, through the callback API, which is
 * lighter than FileHandle's promise. Either throws or rejects like the promise API (ENOSPC, EIO).
 */
export const FILE_IO: KillLogIo = {
  openAppend: (file) => open(file, 'a+', 0o640),
  write(fh, data) {
    try {
      for (let done = 0; done < data.length; ) done += writeSync(fh.fd, data, done, data.length - done);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  },
  datasync: (fh) => new Promise<void>((resolve, reject) => fdatasync(fh.fd, (err) => (err ? reject(err) : resolve()))),
};

export interface KillLogOptions {
  /** created if missing (mode 0750; files 0640: entries hold query text) */
  readonly dir: string;
  /** the current file is rotated once it reaches this size; default DEFAULT_KILL_LOG_MAX_MB MiB */
  readonly maxBytes?: number;
  /** rotated files kept besides the current one; default DEFAULT_KILL_LOG_KEEP */
  readonly keep?: number;
  readonly log: Logger;
  readonly io?: KillLogIo;
}

export interface KillLogStats {
  /** append() calls and the entries they carried */
  appends: number;
  entries: number;
  /** write+fdatasync rounds that succeeded; group commit keeps this far below `appends` */
  syncs: number;
  /** rounds whose write or sync failed (their appends were rejected) */
  failures: number;
  rotations: number;
}

interface Pending {
  readonly data: Buffer;
  readonly resolve: () => void;
  readonly reject: (err: KillLogError) => void;
}

const NEWLINE = Buffer.from('\n');

/** Runs async steps one at a time: appends, rotation and a reader's snapshot never interleave. */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.tail.then(step);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/**
 * The kill log of one node (docs/statement-path.md §The kill log): JSON lines in `dir`, each entry synced to
 * disk before append() resolves, so a row is reported only once it survives a crash.
 *
 * Group commit: appends that arrive while a write+sync is in flight are written and synced
 * together in the next round, so many concurrent kills cost a few syncs, not one each.
 * Rotation by size: kill_log.jsonl → kill_log.1.jsonl → … → kill_log.<keep>.jsonl, then gone.
 * A failed round rejects its appends with a KillLogError, is cut off the file again, and the
 * next round reopens the file: once the disk has room again the log works again.
 */
export class KillLog {
  private fh: FileHandle | undefined;
  /** bytes of the current file that are written and synced */
  private size = 0;
  /** the current file may end inside a line (a torn write): the next round starts a new line */
  private tornTail = false;
  private queue: Pending[] = [];
  private drainer: Promise<void> | undefined;
  private closed = false;
  private rotationFailing = false;
  private readonly serial = new Serial();
  private readonly counters: KillLogStats = { appends: 0, entries: 0, syncs: 0, failures: 0, rotations: 0 };

  private constructor(
    readonly dir: string,
    private readonly maxBytes: number,
    private readonly keep: number,
    private readonly log: Logger,
    private readonly io: KillLogIo,
  ) {}

  /** Opens (creating) the log in `dir`; rejects with a one-line KillLogError when it cannot. */
  static async open(opts: KillLogOptions): Promise<KillLog> {
    const maxBytes = opts.maxBytes ?? DEFAULT_KILL_LOG_MAX_MB * 1024 * 1024;
    const keep = opts.keep ?? DEFAULT_KILL_LOG_KEEP;
    if (!(maxBytes > 0)) throw new KillLogError(`kill log: max size must be positive, got ${maxBytes}`);
    if (!Number.isInteger(keep) || keep < 1) throw new KillLogError(`kill log: kept files must be a whole number ≥ 1, got ${keep}`);
    const killLog = new KillLog(opts.dir, maxBytes, keep, opts.log, opts.io ?? FILE_IO);
    try {
      await mkdir(opts.dir, { recursive: true, mode: 0o750 });
      await killLog.openCurrent();
    } catch (err) {
      throw KillLogError.from('unwritable', err, opts.dir);
    }
    return killLog;
  }

  /**
   * Appends one line per entry and resolves once they are synced to disk. Never throws: an
   * unwritable log (ENOSPC, EACCES, EROFS, EIO, closed) rejects with a KillLogError.
   */
  append(entries: readonly KillLogEntry[]): Promise<void> {
    if (this.closed) return Promise.reject(new KillLogError('kill log unwritable: the log is closed'));
    if (entries.length === 0) return Promise.resolve();
    let data: Buffer;
    try {
      data = Buffer.from(entries.map(encodeEntry).join(''), 'utf8');
    } catch (err) {
      return Promise.reject(KillLogError.from('unwritable', err, this.dir));
    }
    this.counters.appends++;
    this.counters.entries += entries.length;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ data, resolve, reject });
      this.drainer ??= this.drain();
    });
  }

  /** Every entry, oldest first: the rotated files, then the current file up to its synced end. */
  async *read(): AsyncGenerator<KillLogEntry> {
    const files = await this.serial.run(() => this.snapshot()).catch((err: unknown) => {
      throw KillLogError.from('unreadable', err, this.dir);
    });
    try {
      for (const f of files) {
        let skipped = 0;
        try {
          for await (const line of fileLines(f.fh, f.limit)) {
            if (line === '') continue;
            const entry = decodeEntry(line);
            if (entry) yield entry;
            else skipped++;
          }
        } catch (err) {
          throw KillLogError.from('unreadable', err, this.dir);
        }
        // a torn last line after a crash is expected; many skipped lines are worth a look
        if (skipped > 0) this.log.warn({ file: f.name, skipped }, 'kill log: skipped lines that are not entries');
      }
    } finally {
      await Promise.all(files.map((f) => f.fh.close().catch(() => undefined)));
    }
  }

  stats(): KillLogStats {
    return { ...this.counters };
  }

  /** Commits what was appended before, then closes the file; later appends reject. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drainer;
    await this.serial.run(() => this.closeCurrent());
  }

  private async drain(): Promise<void> {
    // appends made in this same turn join the first round
    await Promise.resolve();
    while (this.queue.length > 0) {
      const round = this.queue.splice(0);
      try {
        await this.serial.run(() => this.commit(Buffer.concat(round.map((p) => p.data))));
        for (const p of round) p.resolve();
      } catch (err) {
        const e = KillLogError.from('unwritable', err, this.dir);
        this.counters.failures++;
        this.log.error({ reason: e.reason, appends: round.length }, e.message);
        for (const p of round) p.reject(e);
      }
    }
    this.drainer = undefined;
  }

  private async commit(data: Buffer): Promise<void> {
    if (this.size >= this.maxBytes) await this.rotate();
    if (!this.fh) await this.openCurrent();
    const fh = this.fh as FileHandle;
    const bytes = this.tornTail ? Buffer.concat([NEWLINE, data]) : data;
    try {
      await this.io.write(fh, bytes);
      await this.io.datasync(fh);
    } catch (err) {
      await this.abandon(fh);
      throw err;
    }
    this.size += bytes.length;
    this.tornTail = false;
    this.counters.syncs++;
  }

  /**
   * After a failed round: cut the file back to its synced end, so the rejected entries (which
   * were reported as not killed) never appear, and let the next round reopen the file.
   */
  private async abandon(fh: FileHandle): Promise<void> {
    try {
      await fh.truncate(this.size);
    } catch (err) {
      this.log.warn({ err: errorText(err) }, 'kill log: could not cut a failed write off; the next entry starts a new line');
    }
    await this.closeCurrent();
  }

  /** Opens kill_log.jsonl for appending and learns its size and whether it ends inside a line. */
  private async openCurrent(): Promise<void> {
    const fh = await this.io.openAppend(path.join(this.dir, CURRENT_FILE));
    try {
      const { size } = await fh.stat();
      let torn = false;
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        torn = last[0] !== NEWLINE[0];
      }
      await syncDir(this.dir);
      this.fh = fh;
      this.size = size;
      this.tornTail = torn;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  private async closeCurrent(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch((err: unknown) => this.log.warn({ err: errorText(err) }, 'kill log: close failed'));
  }

  /**
   * Moves the full current file aside and starts a new one. When the files cannot be moved, the
   * current file keeps growing (a kill is worth more than the size limit) and the next round tries
   * again.
   */
  private async rotate(): Promise<void> {
    try {
      await shiftFiles(this.dir, this.keep);
    } catch (err) {
      if (!this.rotationFailing) this.log.warn({ err: errorText(err) }, 'kill log: rotation failed; appending to the current file');
      this.rotationFailing = true;
      return;
    }
    this.rotationFailing = false;
    this.counters.rotations++;
    await this.closeCurrent();
    // the full file is kill_log.1.jsonl now: if the new one cannot be opened, the next round
    // retries the open, not the rotation (which would push one more file out)
    this.size = 0;
    await this.openCurrent();
  }

  /** Handles on every file as it is now; reading them later is unaffected by rotation. */
  private async snapshot(): Promise<{ name: string; fh: FileHandle; limit: number }[]> {
    const names = [...(await rotatedFiles(this.dir)), path.join(this.dir, CURRENT_FILE)];
    const out: { name: string; fh: FileHandle; limit: number }[] = [];
    try {
      for (const name of names) {
        const fh = await open(name, 'r').catch((err: unknown) => {
          if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
          throw err;
        });
        if (!fh) continue;
        // of the current file, only what is synced: a round in flight is not yet the log
        const limit = name.endsWith(CURRENT_FILE) && this.fh ? this.size : Infinity;
        out.push({ name, fh, limit });
      }
    } catch (err) {
      await Promise.all(out.map((f) => f.fh.close().catch(() => undefined)));
      throw err;
    }
    return out;
  }
}
