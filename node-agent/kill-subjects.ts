import type { KillSubject } from './kill-executor';
import type { MutationRecord, MutationTable } from './mutation-table';
import type { ProcessRecord, ProcessTable } from './process-table';

export function querySubject(table: ProcessTable): KillSubject<ProcessRecord> {
  return {
    table,
    userOf: (r) => r.user,
    idOf: (r) => r.query_id,
    uncancellable: (r) => r.uncancellable,
    cancel: (r, soft) => table.cancel(r, soft),
    row: (r, status) => ({ process: { status, query_id: r.query_id, user: r.user, query: r.query } }),
  };
}

/** Mutations have no owning user in system.mutations: killing one always needs the grant. */
export function mutationSubject(table: MutationTable): KillSubject<MutationRecord> {
  return {
    table,
    userOf: () => undefined,
    idOf: (r) => r.mutation_id,
    uncancellable: () => false,
    cancel: (r) => table.cancel(r),
    row: (r, status) => ({
      process: { status, database: r.database, table: r.table, mutation_id: r.mutation_id, command: r.command },
    }),
  };
}
