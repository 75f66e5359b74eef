import { agentTable, KILL_MUTATION_RESULT, KILL_QUERY_RESULT, type AgentTable } from '../../../sql/tables';
import type { Column, SqlValue } from '../../../sql/types';
import type { KilledProcess__Output } from '../../../proto/generated/quell/v1/KilledProcess';
import type { KillTarget } from '../../../proto/generated/quell/v1/KillTarget';
import type { Grant } from '../../auth/users';

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
  cells: (p) => [p.database, p.table, p.mutation_id, p.command],
  ownRule: false,
  durable: true,
};
