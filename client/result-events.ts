import { decodeColumns, decodeRow } from '../proto/codec';
import { AsyncQueue } from '../common/async-queue';
import type { ExecuteResponse__Output } from '../proto/generated/quell/v1/ExecuteResponse';
import { remoteErrorOf, STATUS, transportReason, type CallStatus } from '../common/grpc/call-status';
import { chError, QuellError, type Dialect } from '../errors/quell-error';
import type { Column, SqlValue } from '../sql/types';

/** What a statement's result stream yields, whichever call carried it (Execute or Session). */
export type ResultEvent =
  | { readonly kind: 'header'; readonly columns: Column[]; readonly format: string | undefined; readonly dialect: Dialect; readonly statementId: string }
  | { readonly kind: 'rows'; readonly rows: SqlValue[][] }
  | { readonly kind: 'end'; readonly rows: number; readonly elapsedSeconds: number; readonly affectedRows: number; readonly warnings: string[] };

/** A result event, or the failure that ends the result. */
export type Item = ResultEvent | QuellError;

/**
 * Sends a statement to one coordinator. Resolves with its result stream once anything came
 * back, or with the reason when the call failed before the statement started.
 */
export type Attempt = { readonly results: AsyncIterable<Item> } | { readonly reason: string; readonly refused: QuellError | undefined };

/** Result messages received and not yet taken by the caller at which reading stops, and resumes. */
const PAUSE_AT = 8;
const RESUME_AT = 2;

/**
 * One Execute call's result items, with flow control: a caller that stops iterating stops the
 * reading, and so the coordinator (it writes only as fast as this client takes).
 */
export class ResultQueue {
  private readonly queue = new AsyncQueue<Item>();
  private paused = false;
  /** the End arrived (with its result or its error): the result is whole */
  private ended = false;
  readonly results: AsyncIterable<Item>;

  constructor(private readonly call: { pause(): unknown; resume(): unknown }) {
    this.results = this.read();
  }

  /** An item that arrived (undefined: a message with nothing for the caller). */
  push(item: Item | undefined): void {
    if (item instanceof QuellError || item?.kind === 'end') this.ended = true;
    if (item) this.queue.push(item);
    if (!this.paused && this.queue.length >= PAUSE_AT) {
      this.paused = true;
      this.call.pause();
    }
  }

  /**
   * How the call failed. After an End this adds nothing: a failed statement's End carries its
   * error, and the call's status that follows carries the same one (docs/grpc-status.md).
   */
  fail(err: QuellError): void {
    if (!this.ended) this.push(err);
  }

  close(): void {
    this.queue.close();
  }

  private async *read(): AsyncGenerator<Item> {
    for await (const item of this.queue) {
      yield item;
      if (this.paused && this.queue.length <= RESUME_AT) {
        this.paused = false;
        this.call.resume();
      }
    }
  }
}

export function toEvent(msg: ExecuteResponse__Output): ResultEvent | QuellError | undefined {
  if (msg.header) {
    return {
      kind: 'header',
      columns: decodeColumns(msg.header.columns),
      format: msg.header.format || undefined,
      dialect: msg.header.dialect === 'DIALECT_MARIADB' ? 'mariadb' : 'clickhouse',
      statementId: msg.header.statement_id,
    };
  }
  if (msg.rows) return { kind: 'rows', rows: msg.rows.rows.map(decodeRow) };
  if (msg.end) {
    const e = msg.end.error;
    if (e) return new QuellError(e.code, e.name, e.message, e.dialect === 'DIALECT_MARIADB' ? 'mariadb' : 'clickhouse');
    return {
      kind: 'end',
      rows: Number(msg.end.rows),
      elapsedSeconds: msg.end.elapsed_seconds,
      affectedRows: Number(msg.end.affected_rows),
      warnings: msg.end.warnings,
    };
  }
  return undefined;
}

/**
 * A statement a coordinator did not take because it is shutting down (it ended the session, or
 * sent GOAWAY): not started, so a client with several coordinators moves on; with one, this is
 * the answer (ABORTED 236, the coordinator's own refusal while draining).
 */
export function coordinatorShuttingDown(address: string): QuellError {
  return chError('ABORTED', `the coordinator at ${address} is shutting down; the statement was not started`, true);
}

/** A statement whose call certainly did not start it: the coordinator's refusal, or what broke. */
export function notStartedAttempt(s: CallStatus): Extract<Attempt, { reason: string }> {
  const refused = remoteErrorOf(s);
  return { reason: refused?.message ?? transportReason(s.details), refused };
}

/** What a statement's call that failed after it was sent ends its result with. */
export function transportError(s: CallStatus, address: string): QuellError {
  const remote = remoteErrorOf(s);
  if (remote) return remote;
  if (s.code === STATUS.UNAVAILABLE) return chError('NETWORK_ERROR', `cannot reach the coordinator at ${address}: ${transportReason(s.details)}`, true);
  if (s.code === STATUS.CANCELLED) return chError('QUERY_WAS_CANCELLED', 'statement cancelled');
  if (s.code === STATUS.RESOURCE_EXHAUSTED) return chError('SYNTAX_ERROR', `Max query size exceeded: ${s.details}`);
  return chError('NETWORK_ERROR', `coordinator at ${address} failed the call: ${s.details}`, true);
}
