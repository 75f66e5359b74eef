import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import { quellProto } from '../proto/load';
import { encodeRow } from '../proto/codec';
import type { ExecuteRequest__Output } from '../proto/generated/quell/v1/ExecuteRequest';
import type { ExecuteResponse } from '../proto/generated/quell/v1/ExecuteResponse';
import type { Row } from '../proto/generated/quell/v1/Row';
import type { Logger } from '../common/logger';
import { chError, QuellError } from '../errors/quell-error';
import type { Column, SqlValue } from '../sql/types';
import type { AgentPool } from './agent-pool';
import type { KillQueue } from './kill-queue';
import type { ResultSink, StatementContext } from './context';
import { interpret } from './execute';
import { parseStatement } from '../sql/parser';
import type { ClusterMembership } from './membership';
import type { User, Users } from './users';
import { errorText } from '../errors/error-text';
import type { PeerPolicy } from '../common/tls/peer-policy';
import { formatIdentity } from '../common/identity';
import { clientAddress, LoginThrottle } from './login-throttle';
import { StatementSummary, statementKind } from './statement-summary';

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
}

/** The coordinator's client API: one Execute stream per statement. */
export class CoordinatorService {
  private readonly logins: LoginThrottle;

  constructor(private readonly deps: CoordinatorDeps) {
    this.logins = deps.logins ?? new LoginThrottle({ log: deps.log.child({ service: 'login' }) });
  }

  addToServer(server: grpc.Server): void {
    server.addService(quellProto().coordinator.quell.v1.Coordinator.service, {
      Execute: (call: ExecuteCall) => {
        void this.execute(call);
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

  private async execute(call: ExecuteCall): Promise<void> {
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

    let columns: readonly Column[] = [];
    const pending: Row[] = [];
    let flushSoon: NodeJS.Immediate | undefined;
    const flush = (): void => {
      if (flushSoon) clearImmediate(flushSoon);
      flushSoon = undefined;
      if (pending.length > 0) write({ rows: { rows: pending.splice(0) } });
    };
    let headerSent = false;
    const warnings: string[] = [];
    const write = (msg: ExecuteResponse): void => {
      if (!abort.signal.aborted) call.write(msg);
    };
    const sink: ResultSink = {
      header: (cols, format, dialect) => {
        columns = cols;
        headerSent = true;
        write({ header: { columns: cols.map((c) => ({ name: c.name, type: c.type })), format: format ?? '', dialect: dialect === 'mariadb' ? 'DIALECT_MARIADB' : 'DIALECT_CLICKHOUSE', statement_id: statementId } });
      },
      rows: (rows: readonly (readonly SqlValue[])[]) => {
        if (!headerSent) throw new Error('rows before header');
        // Rows produced in the same turn of the event loop (processes that stopped together)
        // travel as one block, which formats like Pretty print as one table.
        for (const r of rows) pending.push(encodeRow(r, columns));
        flushSoon ??= setImmediate(flush);
      },
      warn: (message) => warnings.push(message),
    };

    let rows = 0;
    let affected = 0;
    let error: QuellError | undefined;
    const peer = this.deps.peers.identity(call);
    const client = peer ? formatIdentity(peer) : call.getPeer();
    const summary = new StatementSummary();
    let userName = req.user || 'default';
    try {
      const user = await this.login(call, req.user, req.password);
      userName = user.name;
      const stmt = parseStatement(req.sql);
      summary.kind = statementKind(stmt);
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
        client,
        summary,
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
    flush();
    const elapsed = (performance.now() - started) / 1000;
    // one line per statement: who, from where, what and how it went; never the password or the SQL text
    const how = error ? { code: error.code, error_name: error.errorName } : { rows };
    log.info({ user: userName, client, ...summary.fields(), ...how, elapsed_s: elapsed }, error ? 'statement failed' : 'statement done');
    ended = true;
    write({
      end: {
        error: error
          ? { code: error.code, name: error.errorName, message: error.message, dialect: error.dialect === 'mariadb' ? 'DIALECT_MARIADB' : 'DIALECT_CLICKHOUSE' }
          : null,
        rows: String(rows),
        elapsed_seconds: elapsed,
        affected_rows: String(affected),
        warnings,
      },
    });
    if (!abort.signal.aborted) call.end();
  }
}
