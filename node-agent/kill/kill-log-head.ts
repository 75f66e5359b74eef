import type { Etcd3 } from 'etcd3';
import { killLogHeadKey, type KillLogHeadRecord } from '../../common/etcd/etcd-layout';
import type { Logger } from '../../common/daemon/logger';
import { errorText } from '../../errors/error-text';
import type { ChainHead, KillLog } from './kill-log';

export const DEFAULT_KILL_LOG_HEAD_INTERVAL_MS = 5_000;
/** how long a start or a final publication may wait for etcd: never a reason to hold the agent up */
const ETCD_WAIT_MS = 2_000;

export interface KillLogHeadOptions {
  readonly etcd: Etcd3;
  readonly nodeId: string;
  readonly killLog: KillLog;
  readonly log: Logger;
  readonly intervalMs?: number;
  /** how long start() and close() wait for etcd; default ETCD_WAIT_MS */
  readonly etcdWaitMs?: number;
}

/**
 * Publishes the head of this node's kill log hash chain to etcd (`kill-log-heads/<node_id>`), so
 * that a log cut or rewritten on the node shows against a copy the node does not hold alone
 * (docs/statement-path.md §The kill log). Best effort and off the kill path: on an interval when the
 * head moved, and once at a clean stop; a failed write is a warning and the next tick tries again.
 */
export class KillLogHeadPublisher {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private published: ChainHead | undefined;
  private failing = false;

  constructor(private readonly o: KillLogHeadOptions) {}

  /**
   * Reads the head published before (the last run of this node) and hands it to the log, which
   * checks itself against it; then starts publishing. An unreachable etcd delays nothing: the
   * check is skipped with a warning.
   */
  async start(): Promise<void> {
    try {
      const text = await withTimeout(this.o.etcd.get(killLogHeadKey(this.o.nodeId)).string(), this.o.etcdWaitMs ?? ETCD_WAIT_MS);
      const rec = text ? parseHead(text) : undefined;
      if (rec) {
        this.published = rec;
        await this.o.killLog.adoptPublished(rec);
      }
    } catch (err) {
      this.o.log.warn({ err: errorText(err) }, 'kill log: could not read the published head; the log is not checked against it');
    }
    this.timer = setInterval(() => void this.publish(), this.o.intervalMs ?? DEFAULT_KILL_LOG_HEAD_INTERVAL_MS);
    this.timer.unref();
    void this.publish();
  }

  /** Stops the interval without a last publication (a forced stop). */
  halt(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops the interval and publishes the final head (after the log's last commit), waiting at most a moment. */
  async close(): Promise<void> {
    this.halt();
    const last = async (): Promise<void> => {
      await this.inFlight;
      await this.publish();
    };
    await withTimeout(last(), this.o.etcdWaitMs ?? ETCD_WAIT_MS).catch(() => undefined);
  }

  /** Writes the head if it moved since the last write; one write at a time. */
  publish(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const head = this.o.killLog.head();
    if (head.seq === 0 || (this.published?.seq === head.seq && this.published.hash === head.hash)) return Promise.resolve();
    const rec: KillLogHeadRecord = { node_id: this.o.nodeId, seq: head.seq, hash: head.hash, published_at: new Date().toISOString() };
    this.inFlight = this.o.etcd
      .put(killLogHeadKey(this.o.nodeId))
      .value(JSON.stringify(rec))
      .exec()
      .then(
        () => {
          this.published = head;
          if (this.failing) this.o.log.info({ seq: head.seq }, 'kill log: publishing the head works again');
          this.failing = false;
        },
        (err: unknown) => {
          if (!this.failing) this.o.log.warn({ err: errorText(err) }, 'kill log: could not publish the head to etcd; retrying on the next interval');
          this.failing = true;
        },
      )
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}

/** A published head record, or undefined for a value that is not one. */
export function parseHead(text: string): KillLogHeadRecord | undefined {
  try {
    const v = JSON.parse(text) as Partial<KillLogHeadRecord>;
    if (typeof v.seq !== 'number' || !Number.isSafeInteger(v.seq) || v.seq < 1) return undefined;
    if (typeof v.hash !== 'string' || !/^[0-9a-f]{64}$/.test(v.hash)) return undefined;
    return { node_id: String(v.node_id ?? ''), seq: v.seq, hash: v.hash, published_at: String(v.published_at ?? '') };
  } catch {
    return undefined;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`etcd did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
