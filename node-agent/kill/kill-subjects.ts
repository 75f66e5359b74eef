import type { KillSubject } from './kill-executor';
import type { RowRules } from './row-rules';
import type { Killer, LiveEntry, LiveTable } from '../tables/live-table';
import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { ConnectionTable } from '../tables/connection-table';
import type { MutationTable } from '../tables/mutation-table';
import type { ProcessTable } from '../tables/process-table';
import type { ConnectionRow, MutationRow, ProcessRow } from '../tables/rows';
import type { LoggedProcess } from './kill-record';
import { statementClass } from '../../sql/normalize';

/** A logged process whose text is not a process row's: its class from the class cache, 0 for no text (an idle connection). */
function loggedText(p: Omit<LoggedProcess, 'query' | 'normalized_query_hash'>, query: string): LoggedProcess {
  return { ...p, query, normalized_query_hash: query === '' ? 0 : statementClass(query).hash };
}

export const QUERY_ROWS: RowRules<ProcessRow> = {
  userOf: (r) => r.user,
  idOf: (r) => r.query_id,
  uncancellable: (r) => r.uncancellable,
  report: (r, status) => ({ process: { status, query_id: r.query_id, user: r.user, query: r.query } }),
  logged: (r) => ({ query_id: r.query_id, mutation_id: '', thread_id: r.thread_id, process_user: r.user, query: r.query, normalized_query_hash: r.normalized_query_hash }),
  startOf: (r) => r.startedAt,
};

/** Mutations have no owning user in system.mutations: killing one always needs the grant. */
export const MUTATION_ROWS: RowRules<MutationRow> = {
  userOf: () => undefined,
  idOf: (r) => r.mutation_id,
  uncancellable: () => false,
  report: (r, status) => ({
    process: { status, database: r.database, table: r.table, mutation_id: r.mutation_id, command: r.command },
  }),
  // the mutation as SQL: its command alone does not say which table it changes
  logged: (r) => loggedText({ query_id: '', mutation_id: r.mutation_id, thread_id: 0, process_user: '' }, `ALTER TABLE ${r.database}.${r.table} ${r.command}`),
  startOf: (r) => r.create_time * 1000,
};

/**
 * MariaDB KILL [CONNECTION|QUERY]: the thread's USER owns it (host ignored, as MariaDB). Rows
 * carry the running statement's QUERY_ID ('' when idle).
 */
export const CONNECTION_ROWS: RowRules<ConnectionRow> = {
  userOf: (r) => r.user,
  idOf: (r) => String(r.id),
  uncancellable: () => false,
  report: (r, status) => ({
    process: { status, thread_id: String(r.id), user: r.user, query: r.info, query_id: r.info === '' ? '' : String(r.query_id) },
  }),
  logged: (r) => loggedText({ query_id: r.info === '' ? '' : String(r.query_id), mutation_id: '', thread_id: r.id, process_user: r.user }, r.info),
  // TIME counts from here: how long the connection has been in its COMMAND (MariaDB's column, and pt-kill's)
  startOf: (r) => r.commandSince,
  // that start moves with every statement the connection runs; its cluster-wide id, which a node
  // does not hand out twice while it runs, names it alone across a ranked kill's two phases
  startSlackMs: Number.POSITIVE_INFINITY,
};

type LiveSubject<R> = KillSubject<R, LiveEntry<R>>;

/** Who kills, for the victim's Cancel and Terminate. */
function killer(req: KillRequest__Output, policy: string): Killer {
  return { reason: req.reason, user: req.user, statement_id: req.statement_id, policy };
}

/** The parts of a kill subject that a live table answers. */
function liveTableParts<R>(table: LiveTable<R>): Pick<LiveSubject<R>, 'candidates' | 'isCurrent' | 'whenGone'> {
  return {
    candidates: () => table.values(),
    isCurrent: (e) => table.get(e.key) === e,
    whenGone: (e) => table.whenEnded(e.key),
  };
}

export function querySubject(table: ProcessTable): LiveSubject<ProcessRow> {
  return {
    ...liveTableParts(table),
    ...QUERY_ROWS,
    cancel: (e, req, policy) => {
      table.cancel(e, req.soft, killer(req, policy));
      return true;
    },
    hardKill: (e, req, policy) => ({
      send: () => {
        // ended meanwhile: nothing to stop
        if (table.get(e.key) !== e) return false;
        table.terminate(e, req.escalate_after_ms, killer(req, policy));
        return true;
      },
    }),
  };
}

export function mutationSubject(table: MutationTable): LiveSubject<MutationRow> {
  return {
    ...liveTableParts(table),
    ...MUTATION_ROWS,
    cancel: (e) => {
      table.cancel(e);
      return true;
    },
  };
}

/** A KILL QUERY of an idle connection still matches and is eligible, but sends nothing (finished). */
export function connectionSubject(table: ConnectionTable): LiveSubject<ConnectionRow> {
  return {
    ...liveTableParts(table),
    ...CONNECTION_ROWS,
    cancel: (e, req) => table.kill(e, req.query_only, req.soft),
  };
}
