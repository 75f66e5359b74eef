import { liveTableParts, type KillSubject } from './kill-executor';
import type { ConnectionRecord, ConnectionTable } from './connection-table';
import type { MutationRecord, MutationTable } from './mutation-table';
import type { ProcessRecord, ProcessTable } from './process-table';

/** How records of a kind are owned, named and reported, wherever they live (this agent or a backend). */
export type RowRules<R extends { readonly key: string }> = Pick<KillSubject<R>, 'userOf' | 'idOf' | 'uncancellable' | 'row'>;

export const QUERY_ROWS: RowRules<ProcessRecord> = {
  userOf: (r) => r.user,
  idOf: (r) => r.query_id,
  uncancellable: (r) => r.uncancellable,
  row: (r, status) => ({ process: { status, query_id: r.query_id, user: r.user, query: r.query } }),
};

/** Mutations have no owning user in system.mutations: killing one always needs the grant. */
export const MUTATION_ROWS: RowRules<MutationRecord> = {
  userOf: () => undefined,
  idOf: (r) => r.mutation_id,
  uncancellable: () => false,
  row: (r, status) => ({
    process: { status, database: r.database, table: r.table, mutation_id: r.mutation_id, command: r.command },
  }),
};

/**
 * MariaDB KILL [CONNECTION|QUERY]: the thread's USER owns it (host ignored, as MariaDB). Rows
 * carry the running statement's QUERY_ID ('' when idle).
 */
export const CONNECTION_ROWS: RowRules<ConnectionRecord> = {
  userOf: (r) => r.user,
  idOf: (r) => String(r.id),
  uncancellable: () => false,
  row: (r, status) => ({
    process: { status, thread_id: String(r.id), user: r.user, query: r.info, query_id: r.info === '' ? '' : String(r.query_id) },
  }),
};

export function querySubject(table: ProcessTable): KillSubject<ProcessRecord> {
  return {
    ...liveTableParts(table),
    ...QUERY_ROWS,
    cancel: (r, req) => {
      table.cancel(r, req.soft);
      return true;
    },
  };
}

export function mutationSubject(table: MutationTable): KillSubject<MutationRecord> {
  return {
    ...liveTableParts(table),
    ...MUTATION_ROWS,
    cancel: (r) => {
      table.cancel(r);
      return true;
    },
  };
}

/** A KILL QUERY of an idle connection still matches and is eligible, but sends nothing (finished). */
export function connectionSubject(table: ConnectionTable): KillSubject<ConnectionRecord> {
  return {
    ...liveTableParts(table),
    ...CONNECTION_ROWS,
    cancel: (r, req) => table.kill(r, req.query_only, req.soft),
  };
}
