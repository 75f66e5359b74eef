import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { makeQueryId, queryIdServerId } from '../../common/thread-id';
import type { Logger } from '../../common/daemon/logger';
import { chError, QuellError, type Dialect } from '../../errors/quell-error';
import { errorText } from '../../errors/error-text';
import { formatIdentity, type Identity } from '../../common/tls/identity';
import { parseStatement } from '../../sql/parser';
import type { Setting, Statement } from '../../sql/ast';
import type { AgentPool } from '../cluster/agent-pool';
import type { KillQueue } from './kill/kill-queue';
import type { PolicyStore } from '../policies/policy-store';
import type { CoordinatorSelf, ResultSink, StatementContext } from '../context';
import { StatementSlots } from './statement-slots';
import { concurrencySetting, killReason } from './settings';
import { interpret } from './execute';
import type { ClusterMembership } from '../cluster/membership';
import type { LoginMemo } from '../auth/login-memo';
import type { User, Users } from '../auth/users';
import { clientAddress, LoginThrottle } from '../auth/login-throttle';
import { StatementSummary, statementKind } from './statement-summary';
import type { SessionRegistry } from '../doors/sessions';
import { metricKind, type CoordinatorMetrics } from '../metrics';
import type { ClockReader } from '../cluster/clock-offsets';
import { KillSwitch, RunningStatements, type Door, type RunningStatement } from './running-statements';

export interface RunnerDeps {
  readonly users: Users;
  readonly membership: ClusterMembership;
  readonly pool: AgentPool;
  readonly defaultCluster: string;
  readonly killQueue: KillQueue;
  readonly policies: PolicyStore;
  readonly log: Logger;
  /** --max-concurrent-statements (0: no limit) */
  readonly maxConcurrentStatements?: number;
  /** --max-result-rows: a read's default and ceiling (0: none) */
  readonly maxResultRows?: number;
  /** front-door sessions with connection ids (the MySQL door's): `KILL [QUERY] id` reaches them first */
  readonly sessions?: SessionRegistry;
  /** counts statements when the coordinator serves metrics */
  readonly metrics?: CoordinatorMetrics;
  /** each agent's measured clock offset (coordinator/cluster/clock-offsets.ts) */
  readonly clocks?: ClockReader;
  /** this coordinator's registration in etcd, once it has one */
  readonly self?: () => CoordinatorSelf | undefined;
  /** this coordinator's server id, once it holds one: the query_ids it makes carry it (common/thread-id.ts makeQueryId) */
  readonly serverId?: () => number | undefined;
}

/**
 * A client-named query_id in the form coordinators give the ones they make (`c<server id>-<uuid>`)
 * is refused when it names another coordinator: a KILL by that query_id asks the coordinator it
 * names alone, and would miss this statement. This coordinator's own form is fine (a kill asks it).
 */
function checkNamedQueryId(queryId: string, own: number | undefined): void {
  const named = queryIdServerId(queryId);
  if (named === undefined || named === own) return;
  throw chError('BAD_ARGUMENTS', `query_id '${queryId}' has the form of the query_ids that the coordinator with server id ${named} makes (c<server id>-<uuid>), and this is not that coordinator: a KILL by it would miss this statement. Name another query_id, or none`);
}

/** ClickHouse's max_concurrent_queries default. */
export const DEFAULT_MAX_CONCURRENT_STATEMENTS = 100;
/** A sorted read holds its rows until every node is done: this many at most, unless the coordinator says otherwise. */
export const DEFAULT_MAX_RESULT_ROWS = 1_000_000;

/** How a caller without a `user/<name>` certificate proves who it is. */
export type Credentials =
  | { readonly kind: 'password'; readonly password: string }
  /** mysql_native_password: the scramble the server sent and the client's reply to it */
  | { readonly kind: 'nativePassword'; readonly scramble: Buffer; readonly reply: Buffer };

/** A login, once per statement (gRPC, HTTP) or once per session (MySQL). */
export interface LoginRequest {
  readonly user: string;
  readonly credentials: Credentials;
  /** the caller's verified certificate identity: a `user/<name>` logs in without a password */
  readonly peer: Identity | undefined;
  /** the caller's address as the transport saw it (host:port), for throttling and the log */
  readonly address: string;
}

interface StatementBase {
  readonly sql: string;
  readonly statementId?: string;
  /** the client named statementId (a door made it otherwise, with StatementRunner.newStatementId) */
  readonly namedQueryId?: boolean;
  /** the session's dialect (decides a bare SHOW PROCESSLIST); undefined: the session named none */
  readonly dialect: Dialect | undefined;
  /** the caller's verified certificate identity */
  readonly peer: Identity | undefined;
  /** the caller's address as the transport saw it (host:port), for throttling and the log */
  readonly address: string;
  /** aborted when the caller goes away */
  readonly signal: AbortSignal;
  /** settings given beside the statement (HTTP parameters); the statement's own SETTINGS win */
  readonly settings?: readonly Setting[];
  /**
   * Why this request may only read, when it may only read (an HTTP GET, as ClickHouse's HTTP
   * interface): a KILL or a policy change fails READONLY with this text, before anything runs.
   */
  readonly readonlyBecause?: string;
  /** the door it came through (system.sessions); default grpc, or mysql for a session's statement */
  readonly door?: Door;
  /**
   * How a KILL by query_id stops it, when the door has its own way (a MySQL session: 1317 with
   * the reason); default: the runner aborts it and it fails 394 QUERY_WAS_CANCELLED.
   */
  readonly onKill?: (reason: string) => void;
}

/** A statement that logs in by itself (gRPC, HTTP): certificate or password. */
export interface LoginStatementRequest extends StatementBase {
  readonly user: string;
  readonly password: string;
  /** the caller's stream remembers its last login (a Session stream): the same credentials skip the hash */
  readonly memo?: LoginMemo;
}

/** A statement of a session that logged in once with StatementRunner.login (a MySQL connection). */
export interface SessionStatementRequest extends StatementBase {
  readonly loggedIn: User;
  /** the session's connection id, when it has one in the SessionRegistry */
  readonly sessionId?: number;
}

/** One statement as any front door (gRPC, HTTP, MySQL) hands it over. */
export type StatementRequest = LoginStatementRequest | SessionStatementRequest;

/** How a statement ended, for the front door to render in its own protocol. */
export interface StatementEnd {
  readonly error: QuellError | undefined;
  readonly rows: number;
  readonly affectedRows: number;
  readonly elapsedSeconds: number;
}

/** Where a statement's result goes; `end` resolves once the caller has taken all of it. */
export interface StatementSink extends ResultSink {
  end(end: StatementEnd): Promise<void>;
}

/**
 * The statement path every front door shares: log in (certificate or throttled password),
 * parse, take a concurrency slot, interpret, log one line, end. It also drains: once draining,
 * it refuses new statements and lets running ones finish within their own deadlines.
 */
export class StatementRunner {
  private readonly logins: LoginThrottle;
  private readonly slots: StatementSlots;
  /** statements running now, each with the latest time it said it will be done by */
  private readonly inFlight = new Map<Promise<void>, { endBy: number }>();
  private draining = false;
  /** every statement past its login and parse, by query_id: what system.sessions lists and KILL by query_id reaches */
  readonly statements = new RunningStatements();

  constructor(private readonly deps: RunnerDeps) {
    this.logins = new LoginThrottle({ log: deps.log.child({ service: 'login' }) });
    this.slots = new StatementSlots(deps.maxConcurrentStatements ?? DEFAULT_MAX_CONCURRENT_STATEMENTS);
  }

  /** Whether new statements are refused (the coordinator is stopping). */
  get refusing(): boolean {
    return this.draining;
  }

  /** The error a front door gives a statement that arrives while draining. */
  static shuttingDown(): QuellError {
    return chError('ABORTED', 'the coordinator is shutting down; the statement was not started');
  }

  /** A query_id for a statement whose client named none: it carries this coordinator's server id once it has one. */
  newStatementId(): string {
    const serverId = this.deps.serverId?.();
    return serverId === undefined ? randomUUID() : makeQueryId(serverId, randomUUID());
  }

  /** Runs one statement to its end; never rejects (failures end the statement with their error). */
  run(req: StatementRequest, sink: StatementSink): Promise<void> {
    const entry = { endBy: 0 };
    const running = this.execute(req, sink, entry);
    this.inFlight.set(running, entry);
    void running.finally(() => this.inFlight.delete(running));
    return running;
  }

  /**
   * Refuses new statements and resolves once every running one has finished, each within its
   * own deadlines (a SYNC kill's rows still running at sync_kill_timeout come back `waiting`).
   */
  async drain(): Promise<void> {
    this.draining = true;
    await Promise.all(this.inFlight.keys());
  }

  /** How many statements run now. */
  get running(): number {
    return this.inFlight.size;
  }

  /** The latest time a running statement said it will be done by (epoch ms; 0 when none). */
  latestEndBy(): number {
    let latest = 0;
    for (const { endBy } of this.inFlight.values()) latest = Math.max(latest, endBy);
    return latest;
  }

  /**
   * A `user/<name>` certificate logs in as that user without a password (a request that names
   * another user is refused); anyone else logs in by password, throttled per user and address.
   * Throws AUTHENTICATION_FAILED. Front doors with sessions call it once per session and pass
   * the user on with each statement (SessionStatementRequest).
   */
  async login(req: LoginRequest): Promise<User> {
    const { peer, user: name, credentials } = req;
    if (peer?.role === 'user') {
      if (name && name !== 'default' && name !== peer.name) {
        throw chError('AUTHENTICATION_FAILED', `${name}: Authentication failed: the client certificate is ${formatIdentity(peer)}, not this user`);
      }
      return this.deps.users.certified(peer.name);
    }
    const users = this.deps.users;
    const check =
      credentials.kind === 'password'
        ? () => users.authenticate(name, credentials.password)
        : () => users.nativePasswordCheck(name, credentials.scramble, credentials.reply);
    return this.logins.attempt(name || 'default', clientAddress(req.address), check);
  }

  /**
   * Who runs the statement, by the users file as it is now: a session's or a stream's earlier
   * login stands only while its user is still in the file with the same password (a SIGHUP may
   * have changed the file: Users.refresh), and takes the user's grants of now.
   */
  private async userOf(req: StatementRequest): Promise<User> {
    if ('loggedIn' in req) {
      const now = this.deps.users.refresh(req.loggedIn);
      if (!now) throw chError('AUTHENTICATION_FAILED', `${req.loggedIn.name}: Authentication failed: the user is no longer in the users file, or its password changed since this session logged in.`);
      return now;
    }
    const recalled = req.peer?.role === 'user' ? undefined : req.memo?.recall(req.user, req.password);
    const known = recalled && this.deps.users.refresh(recalled);
    if (known) return known;
    const user = await this.login({ user: req.user, credentials: { kind: 'password', password: req.password }, peer: req.peer, address: req.address });
    if (req.peer?.role !== 'user') req.memo?.remember(req.user, req.password, user);
    return user;
  }

  private async execute(req: StatementRequest, sink: StatementSink, entry: { endBy: number }): Promise<void> {
    const started = performance.now();
    const statementId = req.statementId || this.newStatementId();
    // a KILL by query_id aborts the statement as its client's going away would
    const killSwitch = new KillSwitch(req.signal, req.onKill);
    let running: RunningStatement | undefined;
    let ended = (): void => undefined;
    const log = this.deps.log.child({ statement_id: statementId });
    let release: (() => void) | undefined;
    let rows = 0;
    let affected = 0;
    let error: QuellError | undefined;
    const client = req.peer ? formatIdentity(req.peer) : req.address;
    const summary = new StatementSummary();
    let userName = 'loggedIn' in req ? req.loggedIn.name : req.user || 'default';
    let kind = metricKind(undefined);
    try {
      if (this.draining) throw StatementRunner.shuttingDown();
      const user = await this.userOf(req);
      userName = user.name;
      if (req.namedQueryId) checkNamedQueryId(statementId, this.deps.serverId?.());
      const stmt = withSettings(parseStatement(req.sql), req.settings);
      if (req.readonlyBecause !== undefined && modifies(stmt)) throw chError('READONLY', `Cannot execute query in readonly mode. ${req.readonlyBecause}`);
      summary.kind = statementKind(stmt);
      kind = metricKind(stmt);
      release = this.slots.take('settings' in stmt ? concurrencySetting(stmt.settings) : undefined);
      running = {
        queryId: statementId,
        user: user.name,
        sql: req.sql,
        door: req.door ?? ('loggedIn' in req ? 'mysql' : 'grpc'),
        sessionId: 'sessionId' in req ? req.sessionId : undefined,
        address: req.address,
        startedAt: Date.now(),
        ended: new Promise<void>((resolve) => (ended = resolve)),
        kill: (reason) => killSwitch.kill(reason),
      };
      this.statements.add(running);
      const ctx: StatementContext = {
        user,
        statementId,
        log,
        membership: this.deps.membership,
        pool: this.deps.pool,
        defaultCluster: this.deps.defaultCluster,
        killQueue: this.deps.killQueue,
        policies: this.deps.policies,
        dialect: req.dialect,
        signal: killSwitch.signal,
        client,
        summary,
        maxResultRows: this.deps.maxResultRows ?? DEFAULT_MAX_RESULT_ROWS,
        sessions: this.deps.sessions,
        statements: this.statements,
        sessionId: 'sessionId' in req ? req.sessionId : undefined,
        metrics: this.deps.metrics,
        clocks: this.deps.clocks,
        self: this.deps.self?.(),
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
    // killed by query_id: whatever the statement made of its abort, its client hears why
    error = killSwitch.error() ?? error;
    const elapsed = (performance.now() - started) / 1000;
    // one line per statement: who, from where, what and how it went; never the password or the SQL text
    const how = error ? { code: error.code, error_name: error.errorName } : { rows };
    log.info({ user: userName, client, ...summary.fields(), ...how, elapsed_s: elapsed }, error ? 'statement failed' : 'statement done');
    this.deps.metrics?.statementDone(kind, error?.errorName, req.signal.aborted, elapsed, summary.statuses);
    try {
      // the slot is held until the client has taken the whole result: a client that stops
      // reading keeps its statement, and what that statement holds, counted
      await sink.end({ error, rows, affectedRows: affected, elapsedSeconds: elapsed });
    } catch (err) {
      // a door that cannot write the end drops its own request; run() still never rejects
      log.error({ err: errorText(err) }, 'the front door could not deliver the end of the statement');
    } finally {
      release?.();
      if (running) this.statements.remove(running);
      killSwitch.dispose();
      ended();
    }
  }
}

/** Whether a statement acts (kills, or changes policies) rather than reads: what a readonly request may not run. */
function modifies(stmt: Statement): boolean {
  return stmt.kind !== 'select' && stmt.kind !== 'showProcesslist';
}

/** The statement with `extra` settings before its own (a later setting of the same name wins). */
function withSettings(stmt: Statement, extra: readonly Setting[] | undefined): Statement {
  if (!extra || extra.length === 0) return stmt;
  if (stmt.kind === 'mysqlKill') {
    const reason = extra.filter((s) => s.name === 'kill_reason').at(-1);
    return reason ? { ...stmt, reason: killReason(reason) } : stmt;
  }
  if (!('settings' in stmt)) return stmt;
  return { ...stmt, settings: [...extra, ...stmt.settings] };
}
