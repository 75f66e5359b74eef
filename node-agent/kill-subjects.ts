import type { KillSubject } from './kill-executor';
import type { ConnectionRecord, ConnectionTable } from './connection-table';
import type { MutationRecord, MutationTable } from './mutation-table';
import type { ProcessRecord, ProcessTable } from './process-table';

export function querySubject(table: ProcessTable): KillSubject<ProcessRecord> {
  return {
    table,
    userOf: (r) => r.user,
    idOf: (r) => r.query_id,
    uncancellable: (r) => r.uncancellable,
    cancel: (r, req) => {
      table.cancel(r, req.soft);
      return true;
    },
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
    cancel: (r) => {
      table.cancel(r);
      return true;
    },
    row: (r, status) => ({
      process: { status, database: r.database, table: r.table, mutation_id: r.mutation_id, command: r.command },
    }),
  };
}

/**
 * MariaDB KILL [CONNECTION|QUERY]: the thread's USER owns it (host ignored, as MariaDB). A KILL
 * QUERY of an idle connection still matches and is eligible, but sends nothing (finished).
 * Rows carry the running statement's QUERY_ID ('' when idle).
 */
export function connectionSubject(table: ConnectionTable): KillSubject<ConnectionRecord> {
  return {
    table,
    userOf: (r) => r.user,
    idOf: (r) => String(r.id),
    uncancellable: () => false,
    cancel: (r, req) => table.kill(r, req.query_only, req.soft),
    row: (r, status) => ({
      process: { status, thread_id: String(r.id), user: r.user, query: r.info, query_id: r.info === '' ? '' : String(r.query_id) },
    }),
  };
}
