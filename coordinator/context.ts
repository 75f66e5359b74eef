import type { Logger } from '../common/daemon/logger';
import type { Column, SqlValue } from '../sql/types';
import type { Dialect } from '../errors/quell-error';
import type { AgentPool } from './cluster/agent-pool';
import type { KillQueue } from './statements/kill/kill-queue';
import type { PolicyStore } from './policies/policy-store';
import type { ClusterMembership } from './cluster/membership';
import type { User } from './auth/users';
import type { StatementSummary } from './statements/statement-summary';
import type { SessionRegistry } from './doors/sessions';
import type { StatementMetrics } from './metrics';
import type { ClockReader } from './cluster/clock-offsets';
import type { RunningStatements } from './statements/running-statements';

/** This coordinator as system.coordinators shows it (coordinator/cluster/registration.ts). */
export interface CoordinatorSelf {
  readonly id: string;
  /** its gRPC address */
  readonly address: string;
  /** its lease is held */
  readonly live: boolean;
  readonly statementsRunning: number;
}

/** What one statement runs with. */
export interface StatementContext {
  readonly user: User;
  readonly statementId: string;
  readonly log: Logger;
  readonly membership: ClusterMembership;
  readonly pool: AgentPool;
  readonly defaultCluster: string;
  readonly killQueue: KillQueue;
  /** CREATE and DROP KILL POLICY write here; reads come from `membership` */
  readonly policies: PolicyStore;
  /** the session's dialect (decides a bare SHOW PROCESSLIST); undefined: the session named none */
  readonly dialect: Dialect | undefined;
  /** aborted when the client goes away */
  readonly signal: AbortSignal;
  /** who sent the statement, for the kill log: the client's verified certificate identity, or its address */
  readonly client: string;
  /** the statement's info line (kind, condition, statuses, nodes missed), filled as it runs */
  readonly summary: StatementSummary;
  /** the statement says when it will be done at the latest (epoch ms): a draining coordinator waits that long */
  expectEndBy(epochMs: number): void;
  /** the coordinator's --max-result-rows: a read's default and ceiling (0: none) */
  readonly maxResultRows: number;
  /** front-door sessions with connection ids on this coordinator (the MySQL door's) */
  readonly sessions?: SessionRegistry;
  /** the statements running on this coordinator's doors, by query_id */
  readonly statements?: RunningStatements;
  /** the connection id of the session that sent this statement, if it has one */
  readonly sessionId?: number;
  /** node failures and kill rows are counted here when the coordinator serves metrics */
  readonly metrics?: StatementMetrics;
  /** each agent's measured clock offset: a row refused by a skewed clock says so */
  readonly clocks?: ClockReader;
  /** this coordinator in etcd, once registered */
  readonly self?: CoordinatorSelf;
}

/**
 * Where an interpreter puts its result; the service turns it into the Execute stream. rows()
 * resolves once the sink has room again: a producer awaits it before making more, so a client
 * that reads slowly (or not at all) slows its own statement instead of filling the coordinator.
 */
export interface ResultSink {
  header(columns: readonly Column[], format: string | undefined, dialect?: Dialect): void;
  rows(rows: readonly (readonly SqlValue[])[]): Promise<void>;
  warn(message: string): void;
}

export interface StatementOutcome {
  readonly rows: number;
  readonly affectedRows?: number;
}
