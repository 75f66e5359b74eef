import type { SqlValue } from './types';

/** Byte offset into the statement text, for error messages. */
export type Pos = number;

/**
 * Expressions. Operators are normalized to ClickHouse function names at parse time:
 * equals notEquals less greater lessOrEquals greaterOrEquals and or not like notLike ilike
 * notILike in notIn plus minus multiply divide modulo negate isNull isNotNull.
 * `a BETWEEN x AND y` becomes and(greaterOrEquals(a, x), lessOrEquals(a, y)).
 */
export type Expr =
  | { readonly kind: 'literal'; readonly value: SqlValue; readonly isFloat?: boolean; readonly pos: Pos }
  | { readonly kind: 'identifier'; readonly name: string; readonly pos: Pos }
  | { readonly kind: 'call'; readonly name: string; readonly args: readonly Expr[]; readonly pos: Pos }
  | { readonly kind: 'tuple'; readonly items: readonly Expr[]; readonly pos: Pos };

export type KillMode = 'SYNC' | 'ASYNC' | 'TEST';

export interface Setting {
  readonly name: string;
  readonly value: SqlValue;
  readonly pos: Pos;
}

/** Common tail of ClickHouse-form statements. */
export interface Tail {
  readonly settings: readonly Setting[];
  readonly format?: { readonly name: string; readonly pos: Pos };
}

export interface KillStatement extends Tail {
  readonly kind: 'kill';
  /** CONNECTION: quell's ClickHouse-form KILL CONNECTION … WHERE over information_schema.PROCESSLIST */
  readonly target: 'QUERY' | 'MUTATION' | 'CONNECTION';
  readonly cluster?: string;
  readonly where: Expr;
  /** ranked kill: the order the matches are chosen in cluster-wide (empty: none given) */
  readonly orderBy: readonly OrderItem[];
  /** ranked kill: how many to choose; as written (signed), the interpreter checks its range */
  readonly limit?: number;
  readonly mode: KillMode;
}

/** A FROM clause: a plain table name (`system.clusters`) or `clusterAllReplicas('c', db.table)`. */
export type TableRef =
  | { readonly kind: 'table'; readonly name: string; readonly pos: Pos }
  | { readonly kind: 'cluster'; readonly cluster: string; readonly name: string; readonly pos: Pos };

export interface SelectItem {
  /** undefined for `*` */
  readonly expr?: Expr;
  readonly alias?: string;
  /** the text of the expression as written, used as the column name when there is no alias */
  readonly text: string;
}

export interface OrderItem {
  readonly expr: Expr;
  readonly desc: boolean;
}

export interface SelectStatement extends Tail {
  readonly kind: 'select';
  readonly items: readonly SelectItem[];
  readonly from: TableRef;
  readonly where?: Expr;
  /** GROUP BY keys (a positive integer literal names a select item, as ClickHouse's enable_positional_arguments) */
  readonly groupBy?: readonly Expr[];
  readonly having?: Expr;
  readonly orderBy: readonly OrderItem[];
  readonly limit?: number;
  readonly offset?: number;
}

export interface ShowProcesslistStatement extends Tail {
  readonly kind: 'showProcesslist';
  readonly cluster?: string;
  readonly full: boolean;
}

/** MariaDB form: KILL [HARD|SOFT] [CONNECTION|QUERY] id | QUERY ID id | USER u | CURRENT_USER */
export interface MysqlKillStatement {
  readonly kind: 'mysqlKill';
  readonly soft: boolean;
  readonly target: 'CONNECTION' | 'QUERY';
  readonly by:
    | { readonly kind: 'threadId'; readonly expr: Expr }
    | { readonly kind: 'queryId'; readonly expr: Expr }
    | { readonly kind: 'user'; readonly user: string; readonly host?: string }
    | { readonly kind: 'currentUser' };
  /** the session's kill_reason (a MySQL door's `SET kill_reason`); the form has no SETTINGS of its own */
  readonly reason?: string;
}

/** What a kill policy kills: KILL QUERY (the default), KILL CONNECTION or KILL MUTATION. */
export type PolicyTarget = 'QUERY' | 'CONNECTION' | 'MUTATION';

/**
 * CREATE KILL POLICY [IF NOT EXISTS] name [ON CLUSTER c] WHERE expr [KILL QUERY|CONNECTION|MUTATION]
 * [ORDER BY …] [EVERY n SECONDS] [LIMIT n] [DRY RUN]. Numbers are as written (signed): the coordinator
 * checks their range, so that `EVERY 0` and `LIMIT -1` get a BAD_ARGUMENTS that names them.
 */
export interface CreateKillPolicyStatement extends Tail {
  readonly kind: 'createKillPolicy';
  readonly name: string;
  readonly ifNotExists: boolean;
  readonly cluster?: string;
  readonly where: Expr;
  readonly target: PolicyTarget;
  /** undefined: the default interval */
  readonly everySeconds?: number;
  /** undefined: no LIMIT clause */
  readonly limit?: number;
  /** which matches a run takes first under its LIMIT (empty: the oldest) */
  readonly orderBy: readonly OrderItem[];
  readonly dryRun: boolean;
  /** ESCALATE AFTER S SECONDS; undefined: no escalation */
  readonly escalateAfterSeconds?: number;
  /** REASON 'text'; undefined: none */
  readonly reason?: string;
}

/** DROP KILL POLICY [IF EXISTS] name [ON CLUSTER c] */
export interface DropKillPolicyStatement extends Tail {
  readonly kind: 'dropKillPolicy';
  readonly name: string;
  readonly ifExists: boolean;
  readonly cluster?: string;
}

export type Statement =
  | KillStatement
  | SelectStatement
  | ShowProcesslistStatement
  | MysqlKillStatement
  | CreateKillPolicyStatement
  | DropKillPolicyStatement;
