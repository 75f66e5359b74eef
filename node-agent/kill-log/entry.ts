import { KILL_LOG_COLUMNS } from '../../sql/tables';
import type { SqlValue } from '../../sql/types';

/**
 * One system.kill_log row as this node stores it (docs/statement-path.md §The kill log). The field names are
 * the column names, so the file, the table and the filter compiler share one vocabulary.
 */
export interface KillLogEntry {
  /** unix seconds */
  readonly event_time: number;
  readonly statement_id: string;
  /** the killing user */
  readonly user: string;
  /** the client's address or certificate identity */
  readonly client: string;
  /** the coordinator's identity or address that sent the kill */
  readonly coordinator: string;
  /** what was killed: QUERY, MUTATION, CONNECTION */
  readonly target: string;
  /** SYNC, ASYNC, TEST, HARD, SOFT or POLICY */
  readonly mode: string;
  /** the canonical WHERE, or the id that was named */
  readonly condition: string;
  readonly query_id: string;
  readonly mutation_id: string;
  readonly thread_id: number;
  /** the owner of the killed process */
  readonly process_user: string;
  readonly query: string;
  /** the status the row reported: finished, waiting, cant_cancel, unknown_status, … */
  readonly kill_status: string;
  readonly error: string;
  /** the kill policy that fired, for mode POLICY */
  readonly policy: string;
}

/** One JSON line, keys in column order (a line is easy to read with jq or grep). */
export function encodeEntry(e: KillLogEntry): string {
  const out: Record<string, SqlValue> = {};
  const fields = e as unknown as Record<string, SqlValue>;
  for (const c of KILL_LOG_COLUMNS) out[c.name] = fields[c.name] ?? null;
  return `${JSON.stringify(out)}\n`;
}

/**
 * An entry from one line, or undefined for a line that is not one (a write torn by a crash or a
 * full disk). A field that is missing or of the wrong type reads as '' or 0, so that lines from
 * an older or newer quell stay readable.
 */
export function decodeEntry(line: string): KillLogEntry | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const fields = parsed as Record<string, unknown>;
  if (typeof fields.event_time !== 'number') return undefined;
  const out: Record<string, SqlValue> = {};
  for (const c of KILL_LOG_COLUMNS) {
    const v = fields[c.name];
    if (c.type === 'String') out[c.name] = typeof v === 'string' ? v : '';
    else out[c.name] = typeof v === 'number' && Number.isFinite(v) ? v : 0;
  }
  return out as unknown as KillLogEntry;
}
