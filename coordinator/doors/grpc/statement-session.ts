import { sessionDialect } from './session-dialect';
import type { BatchWriter } from '../../../common/mux/batch-writer';
import { MuxServer, type ServedCall } from '../../../common/mux/server';
import type { Identity } from '../../../common/tls/identity';
import type { ExecuteResponse } from '../../../proto/generated/quell/v1/ExecuteResponse';
import type { StatementCall__Output } from '../../../proto/generated/quell/v1/StatementCall';
import type { CoordinatorServiceSessionResponse } from '../../../proto/generated/quell/v1/CoordinatorServiceSessionResponse';
import type { StatementReply } from '../../../proto/generated/quell/v1/StatementReply';
import { rowsBytes } from '../../../proto/wire-size';
import { LoginMemo } from '../../auth/login-memo';
import { ExecuteSink, type ResponseStream } from './execute-sink';
import { StatementRunner } from '../../statements/statement-runner';

export type StatementWriter = BatchWriter<StatementReply, CoordinatorServiceSessionResponse>;

/**
 * One statement's result on a shared Session stream, as its ExecuteSink writes it. A row block
 * counts as taken only when the client credits it, so the sink's flow control (at most 4 MiB
 * its client has not taken) holds per statement: one slow reader stalls only its own
 * statement. The stream's own buffer past its bound stalls them all, as one client's
 * connection should.
 */
class TaggedResponses implements ResponseStream, ServedCall {
  /** the statement's run stops on a cancel, or when the stream is gone */
  readonly abort = new AbortController();
  /** row blocks sent and not yet credited, oldest first */
  private readonly uncredited: (() => void)[] = [];
  private onDrain: (() => void) | undefined;
  private waitingForRoom = false;

  constructor(
    private readonly tag: number,
    private readonly out: StatementWriter,
  ) {}

  write(response: ExecuteResponse, done: () => void): boolean {
    if (response.rows) {
      this.uncredited.push(done);
      this.out.add({ tag: this.tag, response }, rowsBytes(response.rows.rows ?? []) + 16);
    } else {
      this.out.add({ tag: this.tag, response }, 256, done);
    }
    if (this.out.hasRoom) return true;
    this.awaitRoom();
    return false;
  }

  on(event: 'drain', listener: () => void): this {
    this.onDrain = listener;
    return this;
  }

  credit(blocks: number): void {
    for (let i = 0; i < blocks; i++) this.uncredited.shift()?.();
  }

  stop(): void {
    this.abort.abort();
  }

  private awaitRoom(): void {
    if (this.waitingForRoom) return;
    this.waitingForRoom = true;
    const check = (): void => {
      if (!this.out.hasRoom) {
        void this.out.nextChange().then(check);
        return;
      }
      this.waitingForRoom = false;
      this.onDrain?.();
    };
    void this.out.nextChange().then(check);
  }
}

/**
 * The coordinator's side of one client's Session stream: each tagged ExecuteRequest runs on the
 * shared statement path exactly as an Execute call does, and its Header, Rows and End go back
 * tagged, gathered per turn with the other statements' by the BatchWriter. A cancel aborts its
 * statement, which leaves the stream when its run ends, as a cancelled Execute call does.
 */
export class StatementSession extends MuxServer<StatementCall__Output, TaggedResponses, StatementReply, CoordinatorServiceSessionResponse> {
  private readonly logins = new LoginMemo();

  constructor(
    out: StatementWriter,
    private readonly runner: StatementRunner,
    /** the client's verified certificate identity */
    private readonly peer: Identity | undefined,
    /** the client's address as the transport saw it */
    private readonly address: string,
    /** ends the transport (the coordinator is shutting down and nothing runs) */
    end: () => void,
  ) {
    super(out, end);
  }

  protected cancel(tag: number): void {
    this.calls.get(tag)?.stop();
  }

  protected start(call: StatementCall__Output): void {
    const req = call.execute;
    const tag = call.tag;
    if (call.kind !== 'execute' || !req || this.calls.has(tag)) return;
    if (this.runner.refusing || this.draining) {
      // marked as not started: a client with several coordinators moves on to the next
      const e = StatementRunner.shuttingDown();
      const end = { error: { code: e.code, name: e.errorName, message: e.message, dialect: 'DIALECT_CLICKHOUSE' as const }, rows: '0', elapsed_seconds: 0, affected_rows: '0', warnings: [] };
      this.out.add({ tag, response: { end }, not_started: true }, 256);
      return;
    }
    const responses = new TaggedResponses(tag, this.out);
    this.calls.set(tag, responses);
    const statementId = req.statement_id || this.runner.newStatementId();
    const sink = new ExecuteSink(responses, statementId, responses.abort.signal);
    void this.runner
      .run(
        {
          sql: req.sql,
          statementId,
          namedQueryId: Boolean(req.statement_id),
          dialect: sessionDialect(req.dialect),
          user: req.user,
          password: req.password,
          memo: this.logins,
          peer: this.peer,
          address: this.address,
          signal: responses.abort.signal,
        },
        sink,
      )
      .finally(() => {
        if (this.leave(tag, responses)) this.endIfIdle();
      });
  }
}
