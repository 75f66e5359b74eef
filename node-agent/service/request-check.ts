import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { ScanRequest__Output } from '../../proto/generated/quell/v1/ScanRequest';
import { chError, type QuellError } from '../../errors/quell-error';

/**
 * An unset enum field means nothing (docs/api.md §Compatibility): a request whose target, mode
 * or table is the `_UNSPECIFIED` zero — a sender that left it out, or one newer than this agent
 * naming a value it does not know — is refused with BAD_ARGUMENTS (gRPC INVALID_ARGUMENT;
 * in band on a Session, an AgentError with that code) naming the field, never run as some
 * default.
 */
function unspecified(field: string, value: string, known: readonly string[]): QuellError | undefined {
  if (known.includes(value)) return undefined;
  const what = value === '' || value.endsWith('_UNSPECIFIED') ? 'is unspecified' : `is ${value}, not one this agent knows`;
  return chError('BAD_ARGUMENTS', `${field} ${what}: it must be one of ${known.join(', ')}`);
}

const KILL_TARGETS = ['KILL_TARGET_QUERY', 'KILL_TARGET_MUTATION', 'KILL_TARGET_CONNECTION'] as const;
const KILL_MODES = ['KILL_MODE_ASYNC', 'KILL_MODE_SYNC', 'KILL_MODE_TEST'] as const;
const TABLES = ['TABLE_PROCESSES', 'TABLE_MUTATIONS', 'TABLE_CONNECTIONS', 'TABLE_KILL_LOG'] as const;

/** Throws when the kill names no target or no mode. */
export function checkKillRequest(req: Pick<KillRequest__Output, 'target' | 'mode'>): void {
  const refused = unspecified('KillRequest.target', String(req.target ?? ''), KILL_TARGETS) ?? unspecified('KillRequest.mode', String(req.mode ?? ''), KILL_MODES);
  if (refused) throw refused;
}

/** Throws when the scan names no table. */
export function checkScanRequest(req: Pick<ScanRequest__Output, 'table'>): void {
  const refused = unspecified('ScanRequest.table', String(req.table ?? ''), TABLES);
  if (refused) throw refused;
}
