import type { PlannedProcess, PlannedProcess__Output } from '../../proto/generated/quell/v1/PlannedProcess';
import type { KillResponse } from '../../proto/generated/quell/v1/KillResponse';
import { encodeRow } from '../../proto/codec';
import type { SqlValue } from '../../sql/types';
import type { Candidate, RowRules } from './row-rules';
import type { LoggedProcess } from './kill-record';
import type { RowOrder } from './kill-order';

/** A pick of a ranked kill that is no longer the process the plan listed, and why it is left alone. */
export interface MissedPick {
  readonly pick: PlannedProcess__Output;
  readonly why: string;
}

const ENDED = 'not killed: it ended between the plan and the kill';
const NO_LONGER_MATCHES = 'not killed: it no longer matches the WHERE';
const replaced = (id: string): string => `not killed: it ended between the plan and the kill, and another process with id ${id} started since`;

/**
 * Phase two of a ranked kill (docs/ranked-kills.md): of the node's candidates, the picked ones
 * that are still the processes the plan listed (same key, a start within the rules' `startSlackMs`) and still
 * match the WHERE. Every other candidate is not this kill's to touch; each pick that is not
 * found so is missed, and says why.
 */
export function matchPicks<R, C extends Candidate<R>>(
  picks: readonly PlannedProcess__Output[],
  listed: Iterable<C>,
  rules: Pick<RowRules<R>, 'startOf' | 'idOf' | 'startSlackMs'>,
  filter: (r: R) => boolean,
): { found: C[]; missed: MissedPick[] } {
  const byKey = new Map<string, C>();
  for (const c of listed) byKey.set(c.key, c);
  const found: C[] = [];
  const missed: MissedPick[] = [];
  for (const pick of picks) {
    const c = byKey.get(pick.key);
    if (!c) missed.push({ pick, why: ENDED });
    else if (Math.abs(rules.startOf(c.row) - pick.started_ms) > (rules.startSlackMs ?? 0)) missed.push({ pick, why: replaced(rules.idOf(c.row)) });
    else if (!filter(c.row)) missed.push({ pick, why: NO_LONGER_MATCHES });
    else found.push(c);
  }
  return { found, missed };
}

/** A missed pick's row: the process as the plan listed it, finished (it is not running as planned), and why. */
export function missedRow(m: MissedPick): KillResponse {
  return { process: { ...m.pick.process, status: 'KILL_STATUS_FINISHED', error: m.why } };
}

/** What the kill log keeps of a missed pick: the plan's listing of it. */
export function missedLogged(m: MissedPick): LoggedProcess {
  const p = m.pick.process;
  return {
    query_id: p?.query_id ?? '',
    mutation_id: p?.mutation_id ?? '',
    thread_id: Number(p?.thread_id ?? 0) || 0,
    process_user: p?.user ?? '',
    query: p?.query ?? '',
    normalized_query_hash: Number(m.pick.normalized_query_hash),
  };
}

/** How much of a planned process's text the plan carries: a plan of LIMIT processes stays far below a message's 4 MB. */
const PLANNED_TEXT_MAX = 1024;

function shortened(text: string): string {
  if (text.length <= PLANNED_TEXT_MAX) return text;
  const cut = text.slice(0, PLANNED_TEXT_MAX);
  // never half a surrogate pair
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/**
 * One eligible match as phase one lists it: its row (with the text the kill log keeps, which
 * for a mutation is its ALTER TABLE), its identity, and its ORDER BY values.
 */
export function plannedOf<R>(rules: Pick<RowRules<R>, 'report' | 'logged' | 'startOf'>, c: Candidate<R>, values: SqlValue[], order: RowOrder<R> | undefined): PlannedProcess {
  const logged = rules.logged(c.row);
  const process = rules.report(c.row, 'KILL_STATUS_UNKNOWN_STATUS').process ?? {};
  return {
    process: { ...process, query: shortened(logged.query) },
    key: c.key,
    started_ms: rules.startOf(c.row),
    order_by: order ? (encodeRow(values, order.columns).values ?? []) : [],
    normalized_query_hash: String(logged.normalized_query_hash),
  };
}
