import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backendSubjects } from '../../node-agent/backends/backend-subjects';
import { SERVER_IDS, type Backend, type MutationKillResult, type ServerConnection, type ServerMutation, type ServerQuery } from '../../node-agent/backends/backend';
import { memoryKillLog } from './kill-recorder-fixture';
import { executeKill, type KillSubject } from '../../node-agent/kill/kill-executor';
import { mutationKey, processRow, type ConnectionRow, type MutationRow } from '../../node-agent/tables/rows';
import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { KillResponse } from '../../proto/generated/quell/v1/KillResponse';
import { localPartOf, serverIdOf } from '../../common/thread-id';

// The piece in front of a database server: a scripted server stands in for it here; the real
// servers are in the backend integration tests.

/** What the scripted server runs: a query by key and user, on a server thread (0: none). */
interface Running {
  readonly key: string;
  readonly user: string;
  readonly thread: number;
  /** ignores its cancel (a bulk load waiting for its client): only a terminate stops it */
  readonly deaf?: boolean;
}

class ScriptedServer implements Backend {
  kind: Backend['kind'] = 'mariadb';
  readonly description = 'mariadb://quell@10.0.0.9:3306';
  running: Running[] = [];
  conns: ConnectionRow[] = [];
  muts: MutationRow[] = [];
  readonly calls: string[] = [];
  mutationAnswer: MutationKillResult = { status: 'waiting' };

  queries = async (ids = SERVER_IDS): Promise<ServerQuery[]> =>
    this.running.map(({ key, user, thread, deaf }) => ({
      key,
      row: processRow(
        {
          query_id: key, user, query: `SELECT sleep(${key})`, initial_query_id: key, initial_user: user, address: '10.0.0.9', port: 5000,
          client_hostname: '', client_name: '', current_database: 'db', query_kind: 'Select', thread_id: ids(thread), uncancellable: false,
        },
        0,
      ),
      kill: async (soft: boolean, note = '') => {
        this.calls.push(`query ${key} ${soft ? 'soft' : 'hard'}${note}`);
        // the server stops it a little later
        if (!deaf) setTimeout(() => (this.running = this.running.filter((r) => r.key !== key)), 5);
      },
      // ClickHouse has no harder kill than KILL QUERY
      ...(this.kind === 'clickhouse'
        ? {}
        : {
            terminate: async (note = '') => {
              this.calls.push(`terminate ${key}${note}`);
              setTimeout(() => (this.running = this.running.filter((r) => r.key !== key)), 5);
            },
          }),
    }));

  // the connection rows are given with the server's own ids
  connections = async (ids = SERVER_IDS): Promise<ServerConnection[]> =>
    this.conns.map((c) => ({
      key: String(ids(c.id)),
      row: { ...c, id: ids(c.id) },
      kill: async (_soft: boolean, queryOnly: boolean) => {
        this.calls.push(`connection ${c.id} ${queryOnly ? 'query' : 'connection'}`);
      },
    }));

  mutations = async (): Promise<ServerMutation[]> =>
    this.muts.map((m) => ({
      key: mutationKey(m),
      row: m,
      kill: async () => {
        this.calls.push(`mutation ${m.mutation_id}`);
        return this.mutationAnswer;
      },
    }));

  async ping() {}
  async close() {}
}

function req(target: KillRequest__Output['target'], where: string, mode: KillRequest__Output['mode'], extra: Partial<KillRequest__Output> = {}): KillRequest__Output {
  return { target, where, mode, soft: false, user: 'root', may_kill_others: true, sync_timeout_ms: 2000, statement_id: 't', query_only: false, client: '', condition: '', act_by_unix_ms: '0', reason: '', plan: false, order_by: [], picks: [], picked: false, limit: 0, escalate_after_ms: 0, ...extra };
}

async function run<R>(subject: KillSubject<R>, r: KillRequest__Output, filter: (x: R) => boolean): Promise<KillResponse[]> {
  const out: KillResponse[] = [];
  await executeKill(r, subject, filter, { write: (m) => out.push(m), closed: false }, memoryKillLog());
  return out;
}

test('SYNC on a server: kills with its command and reports finished when a poll no longer sees it', async () => {
  const server = new ScriptedServer();
  server.running = [{ key: 'q1', user: 'etl', thread: 7 }, { key: 'q2', user: 'bob', thread: 0 }];
  const { processes } = backendSubjects(server, () => 3);
  const rows = await run(processes, req('KILL_TARGET_QUERY', '', 'KILL_MODE_SYNC'), (r) => r.user === 'etl');
  assert.deepEqual(rows[0], { plan: { eligible: 1, skipped: 0, skipped_owner: '', skipped_id: '' } });
  assert.deepEqual(rows.slice(1).map((m) => [m.process?.status, m.process?.query_id]), [['KILL_STATUS_FINISHED', 'q1']]);
  assert.deepEqual(server.calls, ['query q1 hard']);
  assert.deepEqual(server.running.map((q) => q.key), ['q2']);
  // the server's thread id becomes a cluster-wide id under server id 3
  const [q2] = [...(await processes.candidates())];
  assert.equal(q2?.row.thread_id, 0, 'q2 has no connection');
  const withThread = backendSubjects(server, () => 3);
  server.running = [{ key: 'q3', user: 'etl', thread: 7 }];
  const [r3] = [...(await withThread.processes.candidates())];
  assert.deepEqual([serverIdOf(r3?.row.thread_id ?? 0), localPartOf(r3?.row.thread_id ?? 0)], [3, 7]);
});

test('connections: KILL QUERY of an idle connection sends nothing; others go to the server by its own id', async () => {
  const server = new ScriptedServer();
  const base = { user: 'carol', host: 'localhost', db: '', commandSince: 0, state: '', query_id: 0, memory_used: 0, max_memory_used: 0, examined_rows: 0, progress: 0 };
  server.conns = [
    { ...base, id: 11, command: 'Sleep', info: '' },
    { ...base, id: 12, command: 'Query', info: 'SELECT SLEEP(100)' },
  ];
  const { connections } = backendSubjects(server, () => 2);
  const rows = await run(connections, req('KILL_TARGET_CONNECTION', '', 'KILL_MODE_ASYNC', { query_only: true }), () => true);
  assert.deepEqual(rows.slice(1).map((m) => m.process?.status), ['KILL_STATUS_FINISHED', 'KILL_STATUS_WAITING']);
  assert.deepEqual(server.calls, ['connection 12 query']);
});

test('mutations the server cannot kill are cant_cancel with its reason', async () => {
  const server = new ScriptedServer();
  server.muts = [{ database: 'db', table: 't', mutation_id: 'mutation_1.txt', command: 'DELETE WHERE 1', create_time: 0, parts_to_do: 3, parts_done: 0, is_killed: 0, latest_failed_part: '', latest_fail_time: 0, latest_fail_reason: '' }];
  server.mutationAnswer = { status: 'cant_cancel', reason: 'Code: 62. DB::Exception: Syntax error' };
  const { mutations } = backendSubjects(server, () => 1);
  const rows = await run(mutations, req('KILL_TARGET_MUTATION', '', 'KILL_MODE_ASYNC'), () => true);
  assert.deepEqual(rows[1]?.process?.status, 'KILL_STATUS_CANT_CANCEL');
  assert.equal(rows[1]?.process?.error, 'Code: 62. DB::Exception: Syntax error');
});

test('escalate_after on a server: a query deaf to its cancel gets its terminate (with the reason as a comment); on ClickHouse it reads cant_cancel', async () => {
  const server = new ScriptedServer();
  server.running = [{ key: '7', user: 'etl', thread: 3, deaf: true }];
  const { processes } = backendSubjects(server, () => 0);
  const out = await run(processes, req('KILL_TARGET_QUERY', '1', 'KILL_MODE_SYNC', { escalate_after_ms: 30, reason: 'stuck */' }), () => true);
  assert.deepEqual(server.calls, ['query 7 hard /* quell: stuck * / */', 'terminate 7 /* quell: stuck * / */']);
  assert.deepEqual(out.filter((m) => m.process).map((m) => [m.process?.status, m.process?.escalated]), [['KILL_STATUS_FINISHED', true]]);

  const ch = new ScriptedServer();
  ch.kind = 'clickhouse';
  ch.running = [{ key: '8', user: 'etl', thread: 0, deaf: true }];
  const chOut = await run(backendSubjects(ch, () => 0).processes, req('KILL_TARGET_QUERY', '1', 'KILL_MODE_SYNC', { escalate_after_ms: 30 }), () => true);
  assert.deepEqual(ch.calls, ['query 8 hard']);
  assert.deepEqual(chOut.filter((m) => m.process).map((m) => [m.process?.status, m.process?.error]), [
    ['KILL_STATUS_CANT_CANCEL', 'still running 0.03 s after its cancel, and ClickHouse has no harder kill than KILL QUERY'],
  ]);
});
