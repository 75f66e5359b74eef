import { performance } from 'node:perf_hooks';
import { localPartOf, makeMappedId } from '../../common/thread-id';
import type { KillSubject } from '../kill-executor';
import type { Owner } from '../live-table';
import type { ProcessRecord } from '../process-table';
import type { ConnectionCommand, ConnectionRecord } from '../connection-table';
import type { MutationRecord } from '../mutation-table';
import { mutationKey } from '../mutation-table';
import { CONNECTION_ROWS, MUTATION_ROWS, QUERY_ROWS } from '../kill-subjects';
import type { Backend, BackendConnection, BackendMutation, BackendQuery } from './backend';
import { GonePoller } from './gone-poller';

/** Records read from a server have no workload: cancels go through the backend instead. */
const SERVER_OWNED: Owner = { sessionId: 0, cancel: () => undefined };

/** Server ids become cluster-wide ids under this agent's server id (common/thread-id.ts). */
function mapped(serverId: () => number, local: number): number {
  const held = serverId();
  return held > 0 && local > 0 ? makeMappedId(held, local) : 0;
}

function toProcess(q: BackendQuery, serverId: () => number): ProcessRecord {
  return {
    key: q.key,
    owner: SERVER_OWNED,
    query_id: q.query_id,
    user: q.user,
    query: q.query,
    initial_query_id: q.initial_query_id,
    initial_user: q.initial_user,
    address: q.address,
    port: q.port,
    client_hostname: q.client_hostname,
    client_name: q.client_name,
    current_database: q.current_database,
    query_kind: q.query_kind,
    uncancellable: false,
    thread_id: mapped(serverId, q.server_thread_id),
    startedAt: performance.now() - q.elapsed * 1000,
    is_cancelled: q.is_cancelled,
    read_rows: q.read_rows,
    read_bytes: q.read_bytes,
    total_rows_approx: q.total_rows_approx,
    written_rows: q.written_rows,
    written_bytes: q.written_bytes,
    memory_usage: q.memory_usage,
    peak_memory_usage: q.peak_memory_usage,
  };
}

function toConnection(c: BackendConnection, serverId: () => number): ConnectionRecord {
  const id = mapped(serverId, c.server_thread_id);
  return {
    key: String(id),
    owner: SERVER_OWNED,
    id,
    user: c.user,
    host: c.host,
    db: c.db ?? '',
    info: c.info ?? '',
    state: c.state,
    in_transaction: false,
    critical: false,
    examined_rows: c.examined_rows,
    memory_used: c.memory_used,
    max_memory_used: c.max_memory_used,
    query_id: mapped(serverId, c.server_query_id),
    // the server's own words (Query, Sleep, Killed, Binlog Dump, …)
    command: c.command as ConnectionCommand,
    progress: c.progress,
    commandSince: performance.now() - c.time_ms,
  };
}

export function toMutation(m: BackendMutation): MutationRecord {
  return {
    key: mutationKey(m.database, m.table, m.mutation_id),
    owner: SERVER_OWNED,
    database: m.database,
    table: m.table,
    mutation_id: m.mutation_id,
    command: m.command,
    create_time: m.create_time,
    parts_to_do: m.parts_to_do,
    parts_done: 0,
    is_killed: 0,
    latest_failed_part: m.latest_failed_part,
    latest_fail_time: m.latest_fail_time,
    latest_fail_reason: m.latest_fail_reason,
  };
}

/**
 * Kill subjects over a database server: every statement reads the server afresh (candidates),
 * kills with the server's own commands, and for SYNC polls until the server no longer runs it.
 * Rows and user rules are those of the agent's own tables (kill-subjects.ts).
 */
export function backendSubjects(backend: Backend, serverId: () => number) {
  const sources = new WeakMap<object, BackendQuery | BackendMutation>();
  const queries = new GonePoller(async () => new Set((await backend.queries()).map((q) => q.key)));
  const mutationsGone = new GonePoller(async () => new Set((await backend.mutations()).map((m) => mutationKey(m.database, m.table, m.mutation_id))));

  const processes: KillSubject<ProcessRecord> = {
    ...QUERY_ROWS,
    candidates: async () =>
      (await backend.queries()).map((q) => {
        const rec = toProcess(q, serverId);
        sources.set(rec, q);
        return rec;
      }),
    isCurrent: () => true,
    whenGone: (r, stop) => queries.whenGone(r.key, stop),
    cancel: async (r, req) => {
      const q = sources.get(r) as BackendQuery | undefined;
      if (!q) return false;
      await backend.killQuery(q, req.soft);
      return true;
    },
  };

  const connections: KillSubject<ConnectionRecord> = {
    ...CONNECTION_ROWS,
    candidates: async () => (await backend.connections()).filter((c) => c.server_thread_id > 0).map((c) => toConnection(c, serverId)),
    isCurrent: () => true,
    // connection kills are never SYNC (served-table.ts withoutSync)
    whenGone: () => Promise.resolve(),
    cancel: async (r, req) => {
      // MariaDB drops a KILL QUERY that finds the connection idle: nothing to stop
      if (req.query_only && r.info === '') return false;
      await backend.killConnection(localPartOf(r.id), req.soft, req.query_only);
      return true;
    },
  };

  const mutations: KillSubject<MutationRecord> = {
    ...MUTATION_ROWS,
    candidates: async () =>
      (await backend.mutations()).map((m) => {
        const rec = toMutation(m);
        sources.set(rec, m);
        return rec;
      }),
    isCurrent: () => true,
    whenGone: (r, stop) => mutationsGone.whenGone(r.key, stop),
    cancel: async (r) => {
      const m = sources.get(r) as BackendMutation | undefined;
      if (!m) return false;
      const result = await backend.killMutation(m);
      if (result.status === 'cant_cancel') return { cantCancel: result.reason };
      return result.status === 'waiting';
    },
  };

  return { processes, connections, mutations };
}
