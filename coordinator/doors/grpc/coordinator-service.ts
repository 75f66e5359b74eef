import { sessionDialect } from './session-dialect';
import * as grpc from '@grpc/grpc-js';
import { quellProto } from '../../../proto/load';
import { notStartedStatus, plainStatus, toServiceError } from '../../../common/grpc/rpc-status';
import type { ExecuteRequest__Output } from '../../../proto/generated/quell/v1/ExecuteRequest';
import type { ExecuteResponse } from '../../../proto/generated/quell/v1/ExecuteResponse';
import type { PeerPolicy } from '../../../common/tls/peer-policy';
import { ExecuteSink } from './execute-sink';
import { StatementRunner } from '../../statements/statement-runner';
import type { CoordinatorServiceSessionRequest__Output } from '../../../proto/generated/quell/v1/CoordinatorServiceSessionRequest';
import type { CoordinatorServiceSessionResponse } from '../../../proto/generated/quell/v1/CoordinatorServiceSessionResponse';
import type { StatementReply } from '../../../proto/generated/quell/v1/StatementReply';
import { BatchWriter } from '../../../common/mux/batch-writer';
import { TurnFlusher } from '../../../common/mux/turn-flusher';
import { StatementSession } from './statement-session';
import type { SessionRegistry } from '../sessions';
import type { KillSessionRequest__Output } from '../../../proto/generated/quell/v1/KillSessionRequest';
import type { KillSessionResponse } from '../../../proto/generated/quell/v1/KillSessionResponse';
import type { Error as ProtoError } from '../../../proto/generated/quell/v1/Error';
import type { ListSessionsRequest__Output } from '../../../proto/generated/quell/v1/ListSessionsRequest';
import type { ListSessionsResponse } from '../../../proto/generated/quell/v1/ListSessionsResponse';
import type { KillStatementRequest__Output } from '../../../proto/generated/quell/v1/KillStatementRequest';
import type { KillStatementResponse } from '../../../proto/generated/quell/v1/KillStatementResponse';
import { doorSessions } from '../door-sessions';
import { ErrorCode } from '../../../errors/quell-error';
import { msPastActBy } from '../../../common/act-by';


type ExecuteCall = grpc.ServerWritableStream<ExecuteRequest__Output, ExecuteResponse>;
type SessionCall = grpc.ServerDuplexStream<CoordinatorServiceSessionRequest__Output, CoordinatorServiceSessionResponse>;

/**
 * The coordinator's gRPC client API over the shared statement path: one Execute stream per
 * statement, or one Session stream that carries many (what QuellClient uses).
 */
export class CoordinatorService {
  private readonly sessions = new Set<StatementSession>();
  /** one immediate per turn flushes every session's results */
  private readonly flusher = new TurnFlusher();

  constructor(
    private readonly runner: StatementRunner,
    /** who the caller is by certificate (user logins) */
    private readonly peers: PeerPolicy,
    /** this coordinator's MySQL-door sessions: what KillSession reaches */
    private readonly doorSessions?: SessionRegistry,
    /** this coordinator's id in the registry, once it has one */
    private readonly selfId: () => string = () => '',
  ) {}

  addToServer(server: grpc.Server): void {
    server.addService(quellProto().coordinator.quell.v1.CoordinatorService.service, {
      Execute: (call: ExecuteCall) => {
        if (this.runner.refusing) {
          // marked as not started: a client with several coordinators moves on to the next
          call.emit('error', notStartedStatus(StatementRunner.shuttingDown()));
          return;
        }
        if (expiredOnArrival(call.getDeadline())) {
          call.emit('error', plainStatus(grpc.status.DEADLINE_EXCEEDED, 'the call arrived after its deadline; the statement was not started'));
          return;
        }
        void this.execute(call);
      },
      Session: (call: SessionCall) => this.session(call),
      KillSession: (call: grpc.ServerUnaryCall<KillSessionRequest__Output, KillSessionResponse>, done: grpc.sendUnaryData<KillSessionResponse>) => {
        // only another coordinator may: it has checked who typed the KILL
        const refused = this.peers.refusal(call, ['coordinator'], 'KillSession');
        if (refused) {
          done(toServiceError(refused));
          return;
        }
        done(null, this.killSession(call.request));
      },
      ListSessions: (call: grpc.ServerUnaryCall<ListSessionsRequest__Output, ListSessionsResponse>, done: grpc.sendUnaryData<ListSessionsResponse>) => {
        const refused = this.peers.refusal(call, ['coordinator'], 'ListSessions');
        if (refused) {
          done(toServiceError(refused));
          return;
        }
        const viewer = { user: call.request.user, seeAll: call.request.see_all };
        done(null, { coordinator_id: this.selfId(), sessions: doorSessions(this.doorSessions, this.runner.statements, viewer) });
      },
      KillStatement: (call: grpc.ServerUnaryCall<KillStatementRequest__Output, KillStatementResponse>, done: grpc.sendUnaryData<KillStatementResponse>) => {
        const refused = this.peers.refusal(call, ['coordinator'], 'KillStatement');
        if (refused) {
          done(toServiceError(refused));
          return;
        }
        this.killStatement(call.request).then(
          (res) => done(null, res),
          (err: unknown) => done(toServiceError(err)),
        );
      },
    });
  }

  /** `KILL QUERY WHERE query_id = …` typed on another coordinator: this one's door statements with those ids, with the killer's rights. */
  private async killStatement(req: KillStatementRequest__Output): Promise<KillStatementResponse> {
    const late = msPastActBy(req.act_by_unix_ms);
    if (late !== undefined) return { coordinator_id: this.selfId(), statements: [], error: { code: ErrorCode.TIMEOUT_EXCEEDED, name: 'TIMEOUT_EXCEEDED', message: lateMessage('KILL QUERY', late), dialect: 'DIALECT_CLICKHOUSE' } };
    const rows = await this.runner.statements.kill({
      queryIds: req.query_ids,
      user: req.user,
      mayKillOthers: req.may_kill_others,
      reason: req.reason,
      test: req.test,
      waitMs: req.wait_ms,
      killerQueryId: req.killer_query_id,
    });
    return { coordinator_id: this.selfId(), statements: rows.map((r) => ({ query_id: r.queryId, user: r.user, query: r.query, ...(r.status === 'denied' ? { denied: true } : { status: r.status }) })) };
  }

  /** A KILL typed on another coordinator for one of this coordinator's sessions: as if typed here, with the killer's rights (MariaDB's). */
  private killSession(req: KillSessionRequest__Output): KillSessionResponse {
    const mariadb = (code: number, message: string): KillSessionResponse => ({ error: { code, name: 'HY000', message, dialect: 'DIALECT_MARIADB' } satisfies ProtoError });
    const late = msPastActBy(req.act_by_unix_ms);
    if (late !== undefined) return mariadb(1105, lateMessage('KILL', late));
    const session = this.doorSessions?.get(req.session_id);
    if (!session) return mariadb(1094, `Unknown thread id: ${req.session_id}`);
    if (session.user !== req.user && !req.may_kill_others) return mariadb(1095, `You are not owner of thread ${req.session_id}`);
    session.kill(req.query_only ? 'query' : 'connection', req.reason);
    return {};
  }

  /**
   * Refuses new statements, waits for the running ones, then ends every Session stream, so that
   * the server's graceful shutdown can finish.
   */
  async drain(): Promise<void> {
    await this.runner.drain();
    for (const s of this.sessions) s.drain();
  }

  private session(call: SessionCall): void {
    const out = new BatchWriter<StatementReply, CoordinatorServiceSessionResponse>({ write: (message, done) => call.write(message, done) }, this.flusher, (replies) => ({ replies }));
    let ended = false;
    const finish = (endTransport: boolean): void => {
      if (ended) return;
      ended = true;
      session.close();
      this.sessions.delete(session);
      if (endTransport) call.end();
    };
    const session = new StatementSession(out, this.runner, this.peers.identity(call), call.getPeer(), () => finish(true));
    this.sessions.add(session);
    call.on('data', (message: CoordinatorServiceSessionRequest__Output) => session.receive(message));
    // the client went away: its statements are cancelled
    call.on('cancelled', () => finish(false));
    call.on('error', () => finish(false));
    // the client closed its side: no more statements come, the running ones finish
    call.on('end', () => session.drain());
    if (this.runner.refusing) session.drain();
  }

  private async execute(call: ExecuteCall): Promise<void> {
    const req = call.request;
    const statementId = req.statement_id || this.runner.newStatementId();
    const abort = new AbortController();
    let ended = false;
    // grpc-js reports 'cancelled' after every call too; only a cancel before the end counts
    call.on('cancelled', () => {
      if (!ended) abort.abort();
    });
    const sink = new ExecuteSink(call, statementId, abort.signal);
    await this.runner.run(
      {
        sql: req.sql,
        statementId,
        namedQueryId: Boolean(req.statement_id),
        dialect: sessionDialect(req.dialect),
        user: req.user,
        password: req.password,
        peer: this.peers.identity(call),
        address: call.getPeer(),
        signal: abort.signal,
      },
      sink,
    );
    ended = true;
    if (abort.signal.aborted) return;
    // a failed statement's End (which clients read) is followed by its error's status
    // (docs/grpc-status.md): rows already sent stay sent
    const failed = sink.failed;
    if (failed) call.emit('error', toServiceError(failed));
    else call.end();
  }
}

/** Why a forwarded kill was not carried out: it arrived after the killer had been told it failed. */
function lateMessage(what: string, pastMs: number): string {
  return `the forwarded ${what} reached this coordinator ${pastMs} ms after its deadline (it was stopped or starved, or its clock is ahead); nothing was killed`;
}

/** Whether a call's deadline (grpc-js: a Date, or Infinity for none) had passed when its handler ran. */
function expiredOnArrival(deadline: grpc.Deadline): boolean {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return at <= Date.now();
}
