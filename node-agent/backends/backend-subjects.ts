import { makeMappedId } from '../../common/thread-id';
import type { KillSubject } from '../kill/kill-executor';
import { CONNECTION_ROWS, MUTATION_ROWS, QUERY_ROWS } from '../kill/kill-subjects';
import type { ConnectionRow, MutationRow, ProcessRow } from '../tables/rows';
import { SERVER_NAMES, type Backend, type ServerConnection, type ServerMutation, type ServerQuery, type ToClusterId } from './backend';
import { GonePoller } from './gone-poller';
import { killNote } from './kill-note';

/**
 * A statement's start as a listing gives it (now minus its elapsed, at the read) moves by the
 * read's own latency from one read to the next: a ranked kill's two reads of one statement may
 * differ by this much and still name it. Its key (query id; PostgreSQL pid:query_start) does the rest.
 */
const START_SLACK_MS = 1_000;

/**
 * Kill subjects over a database server: every statement reads the server afresh (candidates),
 * kills through the handle each listed row carries, and for SYNC polls until the server no
 * longer runs it. Rows and user rules are those of the agent's own tables (kill-subjects.ts).
 */
export function backendSubjects(backend: Backend, serverId: () => number) {
  // Server ids become cluster-wide ids under this agent's server id (common/thread-id.ts).
  const ids: ToClusterId = (local) => {
    const held = serverId();
    return held > 0 && local > 0 ? makeMappedId(held, local) : 0;
  };
  const keys = (listed: ReadonlyArray<{ readonly key: string }>): Set<string> => new Set(listed.map((l) => l.key));
  const queriesGone = new GonePoller(async () => keys(await backend.queries()));
  const mutationsGone = new GonePoller(async () => keys(await backend.mutations()));

  const processes: KillSubject<ProcessRow, ServerQuery> = {
    ...QUERY_ROWS,
    startSlackMs: START_SLACK_MS,
    candidates: () => backend.queries(ids),
    isCurrent: () => true,
    whenGone: (q, stop) => queriesGone.whenGone(q.key, stop),
    cancel: async (q, req) => {
      await q.kill(req.soft, killNote(req.reason));
      return true;
    },
    hardKill: (q, req) => {
      const terminate = q.terminate;
      if (!terminate) return { none: `${SERVER_NAMES[backend.kind]} has no harder kill than KILL QUERY` };
      return {
        send: async () => {
          await terminate(killNote(req.reason));
          return true;
        },
      };
    },
  };

  const connections: KillSubject<ConnectionRow, ServerConnection> = {
    ...CONNECTION_ROWS,
    candidates: () => backend.connections(ids),
    isCurrent: () => true,
    // connection kills are never SYNC (served-table.ts withoutSync)
    whenGone: () => Promise.resolve(),
    cancel: async (c, req) => {
      // MariaDB drops a KILL QUERY that finds the connection idle: nothing to stop
      if (req.query_only && c.row.info === '') return false;
      await c.kill(req.soft, req.query_only, killNote(req.reason));
      return true;
    },
  };

  const mutations: KillSubject<MutationRow, ServerMutation> = {
    ...MUTATION_ROWS,
    candidates: () => backend.mutations(),
    isCurrent: () => true,
    whenGone: (m, stop) => mutationsGone.whenGone(m.key, stop),
    cancel: async (m, req) => {
      const result = await m.kill(killNote(req.reason));
      if (result.status === 'cant_cancel') return { cantCancel: result.reason };
      return result.status === 'waiting';
    },
  };

  return { processes, connections, mutations };
}
