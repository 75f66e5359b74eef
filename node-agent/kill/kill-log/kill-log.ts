import { fdatasync, writeSync } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../../../common/daemon/logger';
import { errorText } from '../../../errors/error-text';
import { decodeLine, encodeBody, GENESIS, GENESIS_HASH, sealEntry, type ChainHead, type KillLogEntry } from './entry';
import { KillLogError } from './error';
import { CURRENT_FILE, rotatedFiles, shiftFiles, syncDir } from './files';
import { fileLines, linesBackward } from './lines';

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
  /**
   * breaks in the hash chain found: entries read with verified = 0 (each read counts them again),
   * a log that ends before its trusted head, and a log found behind its published head at start
   */
  chainBreaks: number;
}

/** A system.kill_log row: the entry and whether its place in the hash chain checks out. */
export type KillLogRow = KillLogEntry & { readonly verified: 0 | 1 };

interface Pending {
  /** the entries' JSON without the chain fields: sealed in commit order */
  readonly bodies: readonly string[];
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
  private readonly counters: KillLogStats = { appends: 0, entries: 0, syncs: 0, failures: 0, rotations: 0, chainBreaks: 0 };
  /** the last synced entry: the next one links to it */
  private chainHead: ChainHead = GENESIS;
  /** the head published in etcd as the agent found it at start (adoptPublished), a checkpoint for reads */
  private published: ChainHead | undefined;

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
      killLog.chainHead = await lastHead(opts.dir);
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
    let bodies: string[];
    try {
      bodies = entries.map(encodeBody);
    } catch (err) {
      return Promise.reject(KillLogError.from('unwritable', err, this.dir));
    }
    this.counters.appends++;
    this.counters.entries += entries.length;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ bodies, resolve, reject });
      this.drainer ??= this.drain();
    });
  }

  /**
   * Every entry, oldest first: the rotated files, then the current file up to its synced end. Each
   * row says whether it checks out against the hash chain (ChainCheck).
   */
  async *read(): AsyncGenerator<KillLogRow> {
    const { files, head } = await this.serial.run(async () => ({ files: await this.snapshot(), head: this.chainHead })).catch((err: unknown) => {
      throw KillLogError.from('unreadable', err, this.dir);
    });
    const checkpoints = [head, this.published].filter((c): c is ChainHead => c !== undefined && c.seq > 0);
    const chain = new ChainCheck(checkpoints);
    try {
      // one entry is held back: a log that ends before its head flags its last entry
      let held: KillLogRow | undefined;
      for (const f of files) {
        let skipped = 0;
        try {
          for await (const line of fileLines(f.fh, f.limit)) {
            if (line === '') continue;
            const decoded = decodeLine(line);
            if (!decoded) {
              skipped++;
              continue;
            }
            const row = decoded.entry as KillLogEntry & { verified: 0 | 1 };
            const link = chain.check(decoded.chain);
            if (link === 'broken') this.counters.chainBreaks++;
            row.verified = link === 'verified' ? 1 : 0;
            if (held) yield held;
            held = row;
          }
        } catch (err) {
          throw KillLogError.from('unreadable', err, this.dir);
        }
        // a torn last line after a crash is expected; many skipped lines are worth a look
        if (skipped > 0) this.log.warn({ file: f.name, skipped }, 'kill log: skipped lines that are not entries');
      }
      const behind = chain.behind();
      if (behind) {
        this.log.error({ last_seq: chain.lastSeq, head_seq: behind.seq, head_hash: behind.hash }, 'kill log: the log ends before its head: entries were removed from its tail');
        this.counters.chainBreaks++;
        if (held) held = { ...held, verified: 0 };
      }
      if (held) yield held;
      if (chain.breaks > 0) this.log.warn({ breaks: chain.breaks }, 'kill log: entries that break the hash chain (verified = 0)');
    } finally {
      await Promise.all(files.map((f) => f.fh.close().catch(() => undefined)));
    }
  }

  /** The last synced entry's place in the chain: what the agent publishes. */
  head(): ChainHead {
    return this.chainHead;
  }

  /**
   * The head this node last published (etcd), found when the agent starts. A log that is behind
   * it (its tail was cut, or the whole log removed, while the agent was down) or that disagrees
   * with it at its seq (rewritten) goes on from the published head instead of its own last entry,
   * so the break stays in the log for every later read; reads also check the entry at its seq.
   */
  adoptPublished(record: ChainHead): Promise<void> {
    return this.serial.run(async () => {
      if (record.seq <= 0 || !/^[0-9a-f]{64}$/.test(record.hash)) return;
      const published: ChainHead = { seq: record.seq, hash: record.hash };
      this.published = published;
      const own = this.chainHead;
      if (published.seq < own.seq || (published.seq === own.seq && published.hash === own.hash)) return;
      this.counters.chainBreaks++;
      this.log.error(
        { last_seq: own.seq, last_hash: own.hash, head_seq: published.seq, head_hash: published.hash },
        published.seq > own.seq
          ? 'kill log: the log ends before the head published in etcd: entries were removed while the agent was down; the log goes on from the published head'
          : 'kill log: the last entry disagrees with the head published in etcd: the log was rewritten while the agent was down; the log goes on from the published head',
      );
      this.chainHead = published;
    });
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
        await this.serial.run(() => this.commit(round));
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

  /** Seals the round's entries onto the chain (one hash each), writes and syncs them as one. */
  private async commit(round: readonly Pending[]): Promise<void> {
    let head = this.chainHead;
    let text = '';
    for (const p of round) {
      for (const body of p.bodies) {
        const sealed = sealEntry(body, head);
        text += sealed.line;
        head = sealed.head;
      }
    }
    const data = Buffer.from(text, 'utf8');
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
    // a failed round leaves the head where it was: its entries were cut off again
    this.chainHead = head;
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

/**
 * Whether each entry read links to the one before it (docs/statement-path.md §The kill log). An entry is
 * verified when its own hash matches its text, its `prev` is the recorded hash of the entry before
 * it and its `seq` the next number, and, at a checkpoint's seq, its hash is the checkpoint's. The
 * first entry of the oldest file is taken as the start (older ones were rotated away); the first
 * sealed entry after entries older than the chain must start one. Lines written before the chain
 * read as unverified.
 */
class ChainCheck {
  private last: ChainHead | 'none' | 'unsealed' = 'none';
  lastSeq = 0;
  breaks = 0;

  constructor(private readonly checkpoints: readonly ChainHead[]) {}

  check(chain: { seq: number; prev: string; hash: string; intact: boolean } | undefined): 'verified' | 'broken' | 'unsealed' {
    const last = this.last;
    if (!chain) {
      this.last = 'unsealed';
      return 'unsealed';
    }
    let ok = chain.intact;
    if (last === 'unsealed') ok &&= chain.seq === 1 && chain.prev === GENESIS_HASH;
    else if (last !== 'none') ok &&= chain.prev === last.hash && chain.seq === last.seq + 1;
    else if (chain.prev === GENESIS_HASH) ok &&= chain.seq === 1;
    for (const c of this.checkpoints) if (c.seq === chain.seq && c.hash !== chain.hash) ok = false;
    this.last = { seq: chain.seq, hash: chain.hash };
    this.lastSeq = Math.max(this.lastSeq, chain.seq);
    if (!ok) this.breaks++;
    return ok ? 'verified' : 'broken';
  }

  /** A checkpoint the log never reached: entries were cut off its tail. */
  behind(): ChainHead | undefined {
    return this.checkpoints.find((c) => c.seq > this.lastSeq);
  }
}

/**
 * Where the chain stands in `dir`: the newest sealed entry (current file, else the newest rotated
 * file with one). A log whose newest entry predates the chain, or an empty one, starts it afresh.
 */
async function lastHead(dir: string): Promise<ChainHead> {
  const names = [path.join(dir, CURRENT_FILE), ...(await rotatedFiles(dir)).reverse()];
  for (const name of names) {
    const fh = await open(name, 'r').catch((err: unknown) => {
      if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
      throw err;
    });
    if (!fh) continue;
    try {
      const { size } = await fh.stat();
      for await (const line of linesBackward(fh, size)) {
        const decoded = line === '' ? undefined : decodeLine(line);
        if (!decoded) continue;
        return decoded.chain && decoded.chain.seq > 0 ? { seq: decoded.chain.seq, hash: decoded.chain.hash } : GENESIS;
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
  return GENESIS;
}
