import type { Backend, ServerMutation } from '../../node-agent/backends/backend';
import { mutationKey, type MutationRow } from '../../node-agent/tables/rows';

/** An unfinished mutation as a server lists it. */
export function serverMutation(table: string, id: string, createTime = 0): MutationRow {
  return {
    database: 'db', table, mutation_id: id, command: 'DELETE WHERE 1', create_time: createTime, parts_to_do: 4, parts_done: 0, is_killed: 0,
    latest_failed_part: '', latest_fail_time: 0, latest_fail_reason: '',
  };
}

/**
 * A fronted ClickHouse whose mutations and KILL MUTATION a test scripts: the piece behind the
 * agent, for durable-kill tests with and without real processes.
 */
export class ScriptedServer implements Backend {
  readonly kind = 'clickhouse' as const;
  readonly description = 'clickhouse://127.0.0.1:8123';
  /** every KILL MUTATION sent, failed or not */
  readonly killed: string[] = [];
  /** this many KILL MUTATION calls throw before the server answers (the server went away) */
  failKills = 0;

  constructor(
    public running: MutationRow[],
    /** a killed mutation leaves the listing; false: a slow server still lists it */
    private readonly dropKilled = false,
  ) {}

  queries = async () => [];
  connections = async () => [];
  mutations = async (): Promise<ServerMutation[]> =>
    this.running.map((m) => ({
      key: mutationKey(m),
      row: m,
      kill: async () => {
        this.killed.push(m.mutation_id);
        if (this.failKills > 0) {
          this.failKills--;
          throw new Error(`${this.description}: connect ECONNREFUSED`);
        }
        if (this.dropKilled) this.running = this.running.filter((r) => r !== m);
        return { status: 'waiting' as const };
      },
    }));
  ping = async () => undefined;
  close = async () => undefined;
}
