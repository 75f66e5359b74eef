import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import { quellProto } from '../proto/load';
import { notStartedStatus } from '../common/rpc-status';
import type { ExecuteRequest__Output } from '../proto/generated/quell/v1/ExecuteRequest';
import type { ExecuteResponse } from '../proto/generated/quell/v1/ExecuteResponse';
import type { Logger } from '../common/logger';
import { chError, QuellError } from '../errors/quell-error';
import type { AgentPool } from './agent-pool';
import type { KillQueue } from './kill-queue';
import type { StatementContext } from './context';
import { ExecuteSink } from './execute-sink';
import { StatementSlots } from './statement-slots';
import { concurrencySetting } from './settings';
import { interpret } from './execute';
import { parseStatement } from '../sql/parser';
import type { ClusterMembership } from './membership';
import type { User, Users } from './users';
import { errorText } from '../errors/error-text';
import type { PeerPolicy } from '../common/tls/peer-policy';
import { formatIdentity } from '../common/identity';
import { clientAddress, LoginThrottle } from './login-throttle';

type ExecuteCall = grpc.ServerWritableStream<ExecuteRequest__Output, ExecuteResponse>;

export interface CoordinatorDeps {
  readonly users: Users;
  readonly membership: ClusterMembership;
  readonly pool: AgentPool;
  readonly defaultCluster: string;
  readonly killQueue: KillQueue;
  readonly log: Logger;
  /** slows password guessing; one per coordinator, shared by every front door that checks passwords */
  readonly logins?: LoginThrottle;
  /** who the caller is by certificate (user logins) */
  readonly peers: PeerPolicy;
  /** --max-concurrent-statements (0: no limit) */
  readonly maxConcurrentStatements?: number;
  /** --max-result-rows: a read's default and ceiling (0: none) */
  readonly maxResultRows?: number;
}

/** ClickHouse's max_concurrent_queries default. */
export const DEFAULT_MAX_CONCURRENT_STATEMENTS = 100;
/** A sorted read holds its rows until every node is done: this many at most, unless the coordinator says otherwise. */
export const DEFAULT_MAX_RESULT_ROWS = 1_000_000;

/** The coordinator's client API: one Execute stream per statement. */
export class CoordinatorService {
  private readonly logins: LoginThrottle;
  private readonly slots: StatementSlots;
  /** statements running now, each with the latest time it said it will be done by */
  private readonly inFlight = new Map<Promise<void>, { endBy: number }>();
  private draining = false;

  constructor(private readonly deps: CoordinatorDeps) {
    this.logins = deps.logins ?? new LoginThrottle({ log: deps.log.child({ service: 'login' }) });
    this.slots = new StatementSlots(deps.maxConcurrentStatements ?? DEFAULT_MAX_CONCURRENT_STATEMENTS);
  }

  addToServer(server: grpc.Server): void {
    server.addService(quellProto().coordinator.quell.v1.Coordinator.service, {
      Execute: (call: ExecuteCall) => {
        if (this.draining) {
          // marked as not started: a client with several coordinators moves on to the next
          call.emit('error', notStartedStatus(chError('ABORTED', 'the coordinator is shutting down; the statement was not started')));
          return;
        }
        const entry = { endBy: 0 };
        const running = this.execute(call, entry);
        this.inFlight.set(running, entry);
        void running.finally(() => this.inFlight.delete(running));
      },
    });
  }

  /**
   * A `user/<name>` certificate logs in as that user without a password (a request that names
   * another user is refused); anyone else logs in by password, throttled per user and address.
   */
  private async login(call: ExecuteCall, name: string, password: string): Promise<User> {
    const peer = this.deps.peers.identity(call);
    if (peer?.role === 'user') {
      if (name && name !== 'default' && name !== peer.name) {
        throw chError('AUTHENTICATION_FAILED', `${name}: Authentication failed: the client certificate is ${formatIdentity(peer)}, not this user`);
      }
      return this.deps.users.certified(peer.name);
    }
    return this.logins.attempt(name || 'default', clientAddress(call.getPeer()), () => this.deps.users.authenticate(name, password));
  }

  /**
   * Refuses new statements and resolves once every running one has finished, each within its
   * own deadlines (a SYNC kill's rows still running at sync_kill_timeout come back `waiting`).
   */
  async drain(): Promise<void> {
    this.draining = true;
    await Promise.all(this.inFlight.keys());
  }

  /** The latest time a running statement said it will be done by (epoch ms; 0 when none). */
  latestEndBy(): number {
    let latest = 0;
    for (const { endBy } of this.inFlight.values()) latest = Math.max(latest, endBy);
    return latest;
  }

  private async execute(call: ExecuteCall, entry: { endBy: number }): Promise<void> {
    const started = performance.now();
    const req = call.request;
    const statementId = req.statement_id || randomUUID();
    const log = this.deps.log.child({ statement_id: statementId });
    const abort = new AbortController();
    let ended = false;
    // grpc-js reports 'cancelled' after every call too; only a cancel before the end counts
    call.on('cancelled', () => {
      if (!ended) abort.abort();
    });

    const sink = new ExecuteSink(call, statementId, abort.signal);
    let release: (() => void) | undefined;

    let rows = 0;
    let affected = 0;
    let error: QuellError | undefined;
    try {
      const user = await this.login(call, req.user, req.password);
      const stmt = parseStatement(req.sql);
      release = this.slots.take('settings' in stmt ? concurrencySetting(stmt.settings) : undefined);
      const ctx: StatementContext = {
        user,
        statementId,
        log,
        membership: this.deps.membership,
        pool: this.deps.pool,
        defaultCluster: this.deps.defaultCluster,
        killQueue: this.deps.killQueue,
        dialect: req.dialect === 'DIALECT_MARIADB' ? 'mariadb' : 'clickhouse',
        signal: abort.signal,
        maxResultRows: this.deps.maxResultRows ?? DEFAULT_MAX_RESULT_ROWS,
        expectEndBy: (epochMs) => {
          entry.endBy = Math.max(entry.endBy, epochMs);
        },
      };
      const outcome = await interpret(stmt, ctx, sink);
      rows = outcome.rows;
      affected = outcome.affectedRows ?? 0;
    } catch (err) {
      if (err instanceof QuellError) {
        error = err;
      } else {
        log.error({ err }, 'statement failed unexpectedly');
        error = chError('LOGICAL_ERROR', errorText(err));
      }
    }
    const elapsed = (performance.now() - started) / 1000;
    if (error) log.info({ user: req.user || 'default', code: error.code, error_name: error.errorName, elapsed_s: elapsed }, 'statement failed');
    else log.debug({ rows, elapsed_s: elapsed }, 'statement done');
    // the slot is held until the client has taken the whole result: a client that stops
    // reading keeps its statement, and what that statement holds, counted
    await sink.end({
      error: error
        ? { code: error.code, name: error.errorName, message: error.message, dialect: error.dialect === 'mariadb' ? 'DIALECT_MARIADB' : 'DIALECT_CLICKHOUSE' }
        : null,
      rows: String(rows),
      elapsed_seconds: elapsed,
      affected_rows: String(affected),
      warnings: sink.warnings,
    });
    ended = true;
    release?.();
    if (!abort.signal.aborted) call.end();
  }
}
