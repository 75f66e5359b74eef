import { LiveTable, type Owner } from './live-table';

export interface MutationRegistration {
  readonly database: string;
  readonly table: string;
  readonly mutation_id: string;
  readonly command: string;
  /** unix seconds */
  readonly create_time: number;
  readonly parts_to_do: number;
}

export interface MutationRecord extends MutationRegistration {
  readonly key: string;
  readonly owner: Owner;
  parts_done: number;
  parts_to_do: number;
  is_killed: number;
  latest_failed_part: string;
  latest_fail_time: number;
  latest_fail_reason: string;
}

export interface MutationProgressUpdate {
  readonly parts_done: number;
  readonly parts_to_do: number;
  readonly latest_failed_part?: string;
  readonly latest_fail_reason?: string;
}

export function mutationKey(database: string, table: string, mutationId: string): string {
  return `${database}\u0000${table}\u0000${mutationId}`;
}

/**
 * The node's unfinished mutations (system.mutations). A finished or killed mutation leaves the
 * table, as in ClickHouse; parts it already mutated stay mutated (nothing is rolled back).
 */
export class MutationTable extends LiveTable<MutationRecord> {
  register(reg: MutationRegistration, owner: Owner): MutationRecord {
    // listed fields, not a spread: see ProcessTable.register
    return this.add(
      {
        key: mutationKey(reg.database, reg.table, reg.mutation_id),
        owner,
        database: reg.database,
        table: reg.table,
        mutation_id: reg.mutation_id,
        command: reg.command,
        create_time: reg.create_time,
        parts_to_do: reg.parts_to_do,
        parts_done: 0,
        is_killed: 0,
        latest_failed_part: '',
        latest_fail_time: 0,
        latest_fail_reason: '',
      },
      `Mutation ${reg.mutation_id} of ${reg.database}.${reg.table} is already registered`,
    );
  }

  progress(key: string, owner: Owner, p: MutationProgressUpdate): void {
    const rec = this.get(key);
    if (!rec || rec.owner !== owner) return;
    rec.parts_done = p.parts_done;
    rec.parts_to_do = p.parts_to_do;
    if (p.latest_failed_part) {
      rec.latest_failed_part = p.latest_failed_part;
      rec.latest_fail_reason = p.latest_fail_reason ?? '';
      rec.latest_fail_time = Math.floor(Date.now() / 1000);
    }
  }

  cancel(rec: MutationRecord): void {
    rec.is_killed = 1;
    rec.owner.cancel({ kind: 'mutation', database: rec.database, table: rec.table, mutation_id: rec.mutation_id }, false);
  }
}
