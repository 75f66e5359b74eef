import { LiveTable, type LiveEntry, type Owner } from './live-table';
import { mutationKey, type MutationRow } from './rows';
import { unixNow } from '../../sql/compile';

/** What a workload says of a mutation it starts. */
export type MutationRegistration = Pick<MutationRow, 'database' | 'table' | 'mutation_id' | 'command' | 'create_time' | 'parts_to_do'>;

/** What a workload reports as a mutation goes: its parts, and the latest failure if one happened. */
export type MutationProgressUpdate = Pick<MutationRow, 'parts_done' | 'parts_to_do'> &
  Partial<Pick<MutationRow, 'latest_failed_part' | 'latest_fail_reason'>>;

/**
 * The node's unfinished mutations (system.mutations). A finished or killed mutation leaves the
 * table, as in ClickHouse; parts it already mutated stay mutated (nothing is rolled back).
 */
export class MutationTable extends LiveTable<MutationRow> {
  register(reg: MutationRegistration, owner: Owner): LiveEntry<MutationRow> {
    // listed fields, not a spread: see rows.ts processRow
    const row: MutationRow = {
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
    };
    return this.add(mutationKey(reg), owner, row, `Mutation ${reg.mutation_id} of ${reg.database}.${reg.table} is already registered`);
  }

  progress(key: string, owner: Owner, p: MutationProgressUpdate): void {
    const row = this.ownedBy(key, owner)?.row;
    if (!row) return;
    row.parts_done = p.parts_done;
    row.parts_to_do = p.parts_to_do;
    if (p.latest_failed_part) {
      row.latest_failed_part = p.latest_failed_part;
      row.latest_fail_reason = p.latest_fail_reason ?? '';
      row.latest_fail_time = unixNow();
    }
  }

  cancel(entry: LiveEntry<MutationRow>): void {
    const row = entry.row;
    row.is_killed = 1;
    entry.owner.cancel({ kind: 'mutation', database: row.database, table: row.table, mutation_id: row.mutation_id }, false);
  }
}
