import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { KillResponse } from '../../proto/generated/quell/v1/KillResponse';
import type { Row } from '../../proto/generated/quell/v1/Row';
import type { ScanRequest__Output } from '../../proto/generated/quell/v1/ScanRequest';
import type { SessionCall__Output } from '../../proto/generated/quell/v1/SessionCall';
import type { Logger } from '../../common/daemon/logger';
import { toInBandError } from '../../common/grpc/rpc-status';
import { chError } from '../../errors/quell-error';
import { killResponseBytes, MESSAGE_TARGET_BYTES, REPLY_LIMIT_BYTES, rowBytes } from '../../proto/wire-size';
import type { KillSink } from '../kill/kill-executor';
import type { SessionReply } from '../../proto/generated/quell/v1/SessionReply';
import type { SessionResponse } from '../../proto/generated/quell/v1/SessionResponse';
import type { BatchWriter } from '../../common/mux/batch-writer';
import { MuxServer, type ServedCall } from '../../common/mux/server';
import type { RowWriter } from '../tables/served-table';

/** The agent's replies to one coordinator, batched per turn. */
export type ReplyWriter = BatchWriter<SessionReply, SessionResponse>;

/** Row blocks of one scan the coordinator may not have taken yet: a slow reader stalls only its own scan. */
export const SCAN_WINDOW = 8;

/** The scan and kill code a session runs its calls with: the same as the Scan and Kill RPCs'. */
export interface SessionHandlers {
  kill(req: KillRequest__Output, sink: KillSink, coordinator: string): Promise<void>;
  scan(req: ScanRequest__Output, write: RowWriter): Promise<void>;
}

/**
 * One call in flight on the session. Its AbortSignal is made only when asked for (a SYNC wait):
 * most calls end without one, and each costs more than the rest of a small kill's bookkeeping.
 */
class OpenCall implements ServedCall {
  stopped = false;
  /** scans: blocks it may still send before the coordinator acknowledges more */
  window = 0;
  private controller: AbortController | undefined;

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.stopped) this.controller.abort();
    return this.controller.signal;
  }

  credit(blocks: number): void {
    this.window += blocks;
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }
}

/** What the kill log may keep of a text that does not fit a message: its start. */
const CLIPPED_TEXT = 64 * 1024;

/**
 * The agent's side of one coordinator's Session stream: every tagged call runs at once on the
 * same scan and kill code as the unary RPCs, and its replies go back tagged the same way,
 * batched per turn by the ReplyWriter. A cancel stops one call (its SYNC wait ends, its scan
 * stops, and a kill not yet carried out is not); the stream's end stops them all.
 */
export class SessionStream extends MuxServer<SessionCall__Output, OpenCall, SessionReply, SessionResponse> {
  constructor(
    out: ReplyWriter,
    private readonly handlers: SessionHandlers,
    /** the calling coordinator for the kill log: its certificate identity, or its address */
    private readonly coordinator: string,
    private readonly log: Logger,
    /** ends the transport: the agent is shutting down and nothing is in flight */
    end: () => void,
  ) {
    super(out, end);
  }

  protected start(call: SessionCall__Output): void {
    if (call.kind === 'kill' && call.kill) this.startKill(call.tag, call.kill);
    else if (call.kind === 'scan' && call.scan) this.startScan(call.tag, call.scan);
  }

  /** A cancel stops the call at once: nothing more is sent for its tag. */
  protected cancel(tag: number): void {
    this.stop(tag);
  }

  private startKill(tag: number, req: KillRequest__Output): void {
    const call = this.track(tag);
    if (!call) return;
    const sink: KillSink = {
      write: (msg: KillResponse) => {
        if (call.stopped) return;
        const bytes = killResponseBytes(msg);
        if (bytes <= REPLY_LIMIT_BYTES) this.out.add({ tag, kill: msg }, bytes + 8);
        else this.out.add({ tag, kill: clipped(msg) }, REPLY_LIMIT_BYTES);
      },
      get closed() {
        return call.stopped;
      },
      get signal() {
        return call.signal;
      },
    };
    this.handlers.kill(req, sink, this.coordinator).then(
      () => this.settle(tag, call),
      (err: unknown) => {
        if (!call.stopped) this.log.warn({ err, statement_id: req.statement_id }, 'kill refused');
        this.settle(tag, call, err);
      },
    );
  }

  private startScan(tag: number, req: ScanRequest__Output): void {
    const call = this.track(tag);
    if (!call) return;
    call.window = SCAN_WINDOW;
    const write: RowWriter = (rows: Row[]) => {
      if (call.stopped) throw chError('QUERY_WAS_CANCELLED', 'the coordinator cancelled the scan');
      for (const block of blocksOf(rows)) {
        this.out.add({ tag, scan: { rows: block.rows } }, block.bytes + 8);
        call.window--;
      }
      return call.window > 0 && this.out.hasRoom ? undefined : this.room(call);
    };
    this.handlers.scan(req, write).then(
      () => this.settle(tag, call),
      (err: unknown) => {
        if (!call.stopped) this.log.warn({ err, statement_id: req.statement_id }, 'scan refused');
        this.settle(tag, call, err);
      },
    );
  }

  /** A new call's state; undefined when it is refused at once (the agent is draining). */
  private track(tag: number): OpenCall | undefined {
    if (this.draining) {
      this.out.add({ tag, error: toInBandError(chError('ABORTED', 'the agent is shutting down'), true) }, 128);
      return undefined;
    }
    // a tag reused while open is the coordinator's mistake: the older call stops
    this.stop(tag);
    const call = new OpenCall();
    this.calls.set(tag, call);
    return call;
  }

  /** The call's last reply: its end, or why it failed (nothing for a call that was stopped). */
  private settle(tag: number, call: OpenCall, err?: unknown): void {
    if (!this.leave(tag, call)) return;
    this.out.add(err === undefined ? { tag, end: true } : { tag, error: toInBandError(err) }, 256);
    this.endIfIdle();
  }

  private async room(call: OpenCall): Promise<void> {
    while (!call.stopped && (call.window <= 0 || !this.out.hasRoom)) await this.out.nextChange();
  }
}

/** A scan's batch in blocks of about MESSAGE_TARGET_BYTES; a row too big for any message fails the scan. */
function blocksOf(rows: Row[]): { rows: Row[]; bytes: number }[] {
  const blocks: { rows: Row[]; bytes: number }[] = [];
  let block: Row[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = rowBytes(row);
    if (size > REPLY_LIMIT_BYTES) throw chError('TOO_MANY_ROWS_OR_BYTES', `A row of about ${size} bytes exceeds the ${REPLY_LIMIT_BYTES}-byte message limit`);
    if (block.length > 0 && bytes + size > MESSAGE_TARGET_BYTES) {
      blocks.push({ rows: block, bytes });
      block = [];
      bytes = 0;
    }
    block.push(row);
    bytes += size;
  }
  if (block.length > 0) blocks.push({ rows: block, bytes });
  return blocks;
}

/** A kill row whose texts would not fit one message keeps their start (the kill log has them whole). */
function clipped(msg: KillResponse): KillResponse {
  const p = msg.process;
  if (!p) return msg;
  const clip = (s: string | undefined): string | undefined => (s && s.length > CLIPPED_TEXT ? `${s.slice(0, CLIPPED_TEXT)}…` : s);
  return { process: { ...p, query: clip(p.query), command: clip(p.command), error: clip(p.error) } };
}
