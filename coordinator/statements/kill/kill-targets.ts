import { agentTable, KILL_CONNECTION_RESULT, KILL_MUTATION_RESULT, KILL_QUERY_RESULT, type AgentTable } from '../../../sql/tables';
import type { Column, SqlValue } from '../../../sql/types';
import type { KilledProcess__Output } from '../../../proto/generated/quell/v1/KilledProcess';
import type { KillTarget } from '../../../proto/generated/quell/v1/KillTarget';
import { hasGrant, type Grant, type User } from '../../auth/users';

/** What differs between KILL QUERY and KILL MUTATION. */
export interface KillTargetSpec {
  /** the word in ACCESS_DENIED's message: `attempts to kill query created by …` */
  readonly name: string;
  /** the statement as error messages name it */
  readonly statement: string;
  readonly wire: KillTarget;
  readonly table: AgentTable;
  readonly result: readonly Column[];
  readonly grant: Grant;
  /** whether the user may kill other users' processes of this kind (the grant, for queries and mutations) */
  mayKillOthers(user: User): boolean;
  /** quell can wait for these to stop (SYNC) */
  readonly waits: boolean;
  /** the target's own result columns, between kill_status and host */
  cells(p: KilledProcess__Output): SqlValue[];
  /** a user may kill its own queries; mutations have no owner and always need the grant */
  readonly ownRule: boolean;
  /** nodes that missed the kill get it queued in etcd (mutations outlive their clients) */
  readonly durable: boolean;
}

export const KILL_QUERY: KillTargetSpec = {
  name: 'query',
  statement: 'KILL QUERY',
  wire: 'KILL_TARGET_QUERY',
  table: agentTable('system.processes'),
  result: KILL_QUERY_RESULT,
  grant: 'KILL QUERY',
  mayKillOthers: (u) => hasGrant(u, 'KILL QUERY'),
  waits: true,
  cells: (p) => [p.query_id, p.user, p.query],
  ownRule: true,
  durable: false,
};

export const KILL_MUTATION: KillTargetSpec = {
  name: 'mutation',
  statement: 'KILL MUTATION',
  wire: 'KILL_TARGET_MUTATION',
  table: agentTable('system.mutations'),
  result: KILL_MUTATION_RESULT,
  grant: 'KILL MUTATION',
  mayKillOthers: (u) => hasGrant(u, 'KILL MUTATION'),
  waits: true,
  cells: (p) => [p.database, p.table, p.mutation_id, p.command],
  ownRule: false,
  durable: true,
};

/** KILL CONNECTION ADMIN rights (sql_parse.cc kill_one_thread): SUPER, CONNECTION ADMIN, or the users file's KILL CONNECTION. */
export function mayKillOthersConnections(user: User): boolean {
  return hasGrant(user, 'CONNECTION ADMIN') || hasGrant(user, 'SUPER') || hasGrant(user, 'KILL CONNECTION');
}

/**
 * The ClickHouse form's KILL CONNECTION … WHERE over information_schema.PROCESSLIST (quell's
 * own: ClickHouse has no connections to kill). It ends the connections, as MariaDB's KILL
 * CONNECTION does; MariaDB's KILL returns at once, so it is ASYNC or TEST.
 */
export const KILL_CONNECTION: KillTargetSpec = {
  name: 'connection',
  statement: 'KILL CONNECTION',
  wire: 'KILL_TARGET_CONNECTION',
  table: agentTable('information_schema.PROCESSLIST'),
  result: KILL_CONNECTION_RESULT,
  grant: 'KILL CONNECTION',
  mayKillOthers: mayKillOthersConnections,
  waits: false,
  cells: (p) => [p.thread_id, p.user, p.query],
  ownRule: true,
  durable: false,
};
