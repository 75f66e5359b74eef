import { randomUUID } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { quellProto } from '../proto/load';
import { notStartedStatus } from '../common/rpc-status';
import type { ExecuteRequest__Output } from '../proto/generated/quell/v1/ExecuteRequest';
import type { ExecuteResponse } from '../proto/generated/quell/v1/ExecuteResponse';
import type { PeerPolicy } from '../common/tls/peer-policy';
import { ExecuteSink } from './execute-sink';
import { StatementRunner } from './statement-runner';

type ExecuteCall = grpc.ServerWritableStream<ExecuteRequest__Output, ExecuteResponse>;

/** The coordinator's gRPC client API: one Execute stream per statement, over the shared statement path. */
export class CoordinatorService {
  constructor(
    private readonly runner: StatementRunner,
    /** who the caller is by certificate (user logins) */
    private readonly peers: PeerPolicy,
  ) {}

  addToServer(server: grpc.Server): void {
    server.addService(quellProto().coordinator.quell.v1.Coordinator.service, {
      Execute: (call: ExecuteCall) => {
        if (this.runner.refusing) {
          // marked as not started: a client with several coordinators moves on to the next
          call.emit('error', notStartedStatus(StatementRunner.shuttingDown()));
          return;
        }
        void this.execute(call);
      },
    });
  }

  private async execute(call: ExecuteCall): Promise<void> {
    const req = call.request;
    const statementId = req.statement_id || randomUUID();
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
        dialect: req.dialect === 'DIALECT_MARIADB' ? 'mariadb' : 'clickhouse',
        user: req.user,
        password: req.password,
        peer: this.peers.identity(call),
        address: call.getPeer(),
        signal: abort.signal,
      },
      sink,
    );
    ended = true;
    if (!abort.signal.aborted) call.end();
  }
}
