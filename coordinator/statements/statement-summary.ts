import type { Statement } from '../../sql/ast';

/** The statement as the log names it: what it does, never its text (which may hold secrets). */
export function statementKind(stmt: Statement): string {
  switch (stmt.kind) {
    case 'kill':
      return `KILL ${stmt.target} ${stmt.mode}`;
    case 'mysqlKill': {
      const by = { threadId: '', queryId: ' ID', user: ' USER', currentUser: ' USER' }[stmt.by.kind];
      return `KILL ${stmt.soft ? 'SOFT' : 'HARD'} ${stmt.target}${by}`;
    }
    case 'select':
      return `SELECT ${stmt.from.name}`;
    case 'showProcesslist':
      return stmt.full ? 'SHOW FULL PROCESSLIST' : 'SHOW PROCESSLIST';
    case 'createKillPolicy':
      return 'CREATE KILL POLICY';
    case 'dropKillPolicy':
      return 'DROP KILL POLICY';
  }
}

/**
 * What the coordinator's one info line per statement says besides who ran it: the kind, the
 * condition as canonical text (never the raw SQL), how many rows had each kill_status, and
 * which nodes did not take part. Interpreters fill it as rows go out.
 */
export class StatementSummary {
  kind = '';
  /** the canonical WHERE, or the id the MariaDB form named */
  condition = '';
  private readonly statusCounts = new Map<string, number>();
  private readonly missed = new Set<string>();

  count(status: string, n = 1): void {
    if (n > 0) this.statusCounts.set(status, (this.statusCounts.get(status) ?? 0) + n);
  }

  /** rows (or processes) per kill_status so far */
  get statuses(): ReadonlyMap<string, number> {
    return this.statusCounts;
  }

  miss(nodeId: string): void {
    this.missed.add(nodeId);
  }

  /** The log line's fields: statuses and nodes only when the statement has any. */
  fields(): Record<string, unknown> {
    const out: Record<string, unknown> = { kind: this.kind };
    if (this.condition) out.condition = this.condition;
    if (this.statusCounts.size > 0) out.statuses = Object.fromEntries(this.statusCounts);
    if (this.missed.size > 0) out.nodes_missed = [...this.missed].sort();
    return out;
  }
}
