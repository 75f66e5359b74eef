import type { Setting } from '../../sql/ast';
import { chError } from '../../errors/quell-error';
import { reasonProblem } from '../../common/kill-reason';

export type OutputMode = 'never_throw' | 'throw';

/** The settings a statement may carry (docs/statement-path.md §Settings), already validated. */
export interface StatementSettings {
  /** seconds to wait for each node's first answer */
  readonly distributed_ddl_task_timeout: number;
  /** seconds a SYNC kill waits for processes to stop */
  readonly sync_kill_timeout: number;
  readonly distributed_ddl_output_mode: OutputMode;
  /** seconds a queued (durable) mutation kill waits for its nodes to return */
  readonly mutation_kill_ttl: number;
  /** most rows a read may return (0: no limit); unset: the coordinator's --max-result-rows */
  readonly max_result_rows?: number;
  /** fail at start when more statements than this (itself included) would run on the coordinator (0: no limit of its own) */
  readonly max_concurrent_statements?: number;
  /** CREATE KILL POLICY: allow a WHERE that matches everything without a LIMIT */
  readonly allow_unbounded_policy: boolean;
  /** why the kill: one line of at most KILL_REASON_MAX characters, into the kill log and the victim's cancel ('' none) */
  readonly kill_reason: string;
  /** SYNC: seconds after its cancel a process still running gets its hard kill (0: never) */
  readonly escalate_after: number;
}

export const DEFAULT_SETTINGS: StatementSettings = {
  distributed_ddl_task_timeout: 10,
  sync_kill_timeout: 30,
  distributed_ddl_output_mode: 'never_throw',
  mutation_kill_ttl: 3600,
  allow_unbounded_policy: false,
  kill_reason: '',
  escalate_after: 0,
};

/** kill_reason: one line of text, no control characters, at most KILL_REASON_MAX characters. */
export function killReason(s: Setting): string {
  if (typeof s.value !== 'string') {
    throw chError('BAD_ARGUMENTS', `Invalid value ${JSON.stringify(s.value)} for setting ${s.name}: expected a string`);
  }
  return oneLineReason(s.value, `setting ${s.name}`);
}

/** A kill's reason (the kill_reason setting, a policy's REASON): one line of at most KILL_REASON_MAX characters, without control characters. */
export function oneLineReason(v: string, what: string): string {
  const problem = reasonProblem(v);
  if (problem) throw chError('BAD_ARGUMENTS', `Invalid value for ${what}: ${problem}`);
  return v;
}

/**
 * A KILL's escalate_after in ms (0: none). It needs SYNC, whose wait is what notices that a
 * process outlived its cancel, and must fall within sync_kill_timeout, or it could never fire.
 */
export function escalateAfterMs(settings: StatementSettings, mode: 'SYNC' | 'ASYNC' | 'TEST', target: 'QUERY' | 'MUTATION' | 'CONNECTION'): number {
  const s = settings.escalate_after;
  if (s === 0) return 0;
  if (target === 'MUTATION') throw chError('BAD_ARGUMENTS', 'Setting escalate_after applies to KILL QUERY: a mutation has no harder kill than KILL MUTATION');
  if (target === 'CONNECTION') throw chError('BAD_ARGUMENTS', 'Setting escalate_after applies to KILL QUERY: KILL CONNECTION is already the hardest kill');
  if (mode !== 'SYNC') throw chError('BAD_ARGUMENTS', `Setting escalate_after needs SYNC (this kill is ${mode}): only a SYNC kill waits to see a process outlive its cancel`);
  if (s > settings.sync_kill_timeout) {
    throw chError('BAD_ARGUMENTS', `Setting escalate_after (${s} s) is longer than sync_kill_timeout (${settings.sync_kill_timeout} s): the kill would stop waiting before it escalates`);
  }
  return Math.max(1, Math.round(s * 1000));
}

function seconds(min: number, max: number): (s: Setting) => number {
  return (s) => {
    const v = typeof s.value === 'string' && s.value.trim() !== '' ? Number(s.value) : s.value;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw chError('BAD_ARGUMENTS', `Invalid value ${JSON.stringify(s.value)} for setting ${s.name}: expected seconds between ${min} and ${max}`);
    }
    return v;
  };
}

function count(s: Setting): number {
  const v = typeof s.value === 'string' && s.value.trim() !== '' ? Number(s.value) : s.value;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw chError('BAD_ARGUMENTS', `Invalid value ${JSON.stringify(s.value)} for setting ${s.name}: expected a non-negative integer`);
  }
  return v;
}

function flag(s: Setting): boolean {
  if (s.value === 0 || s.value === 1 || s.value === '0' || s.value === '1') return Number(s.value) === 1;
  throw chError('BAD_ARGUMENTS', `Invalid value ${JSON.stringify(s.value)} for setting ${s.name}: expected 0 or 1`);
}

function outputMode(s: Setting): OutputMode {
  if (s.value === 'never_throw' || s.value === 'throw') return s.value;
  throw chError('BAD_ARGUMENTS', `Invalid value ${JSON.stringify(s.value)} for setting ${s.name}: expected 'never_throw' or 'throw'`);
}

const PARSERS = {
  // ClickHouse's 0 means "do not wait"; quell always reports every node, so it needs a wait
  distributed_ddl_task_timeout: seconds(0.001, 3600),
  sync_kill_timeout: seconds(0, 3600),
  distributed_ddl_output_mode: outputMode,
  // etcd leases are whole seconds and at least about 2 s long
  mutation_kill_ttl: seconds(1, 30 * 24 * 3600),
  max_result_rows: count,
  max_concurrent_statements: count,
  allow_unbounded_policy: flag,
  kill_reason: killReason,
  escalate_after: seconds(0.001, 3600),
} as const;

type Name = keyof typeof PARSERS;

function isKnown(name: string): name is Name {
  return Object.prototype.hasOwnProperty.call(PARSERS, name);
}

/** Whether `name` is a setting a statement may carry (front doors that take settings outside the SQL check names with it). */
export function isSettingName(name: string): boolean {
  return isKnown(name);
}

export function resolveSettings(list: readonly Setting[]): StatementSettings {
  const out: { -readonly [K in Name]?: StatementSettings[K] } = { ...DEFAULT_SETTINGS };
  for (const s of list) {
    if (!isKnown(s.name)) throw chError('UNKNOWN_SETTING', `Unknown setting ${s.name}`);
    (out as Record<Name, unknown>)[s.name] = PARSERS[s.name](s);
  }
  return out as StatementSettings;
}

/**
 * The row limit of a read: the statement's max_result_rows, within the coordinator's
 * --max-result-rows (0: none), which is also the default. 0 means no limit.
 */
export function resultRowLimit(settings: StatementSettings, coordinatorMax: number): number {
  const asked = settings.max_result_rows;
  if (asked === undefined) return coordinatorMax;
  if (coordinatorMax > 0 && (asked === 0 || asked > coordinatorMax)) {
    throw chError('SETTING_CONSTRAINT_VIOLATION', `Setting max_result_rows shouldn't be greater than ${coordinatorMax} (the coordinator's --max-result-rows)`);
  }
  return asked;
}

/**
 * The statement's max_concurrent_statements, read before anything else runs: the slot is taken
 * first, so the rest of the settings are checked later in their usual order.
 */
export function concurrencySetting(list: readonly Setting[]): number | undefined {
  const s = list.filter((x) => x.name === 'max_concurrent_statements').at(-1);
  return s ? PARSERS.max_concurrent_statements(s) : undefined;
}

