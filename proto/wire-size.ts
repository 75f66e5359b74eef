import type { Row } from './generated/quell/v1/Row';
import type { KillResponse } from './generated/quell/v1/KillResponse';

/**
 * Sizes of messages on a multiplexed stream, from above. One oversized message fails the whole
 * stream (a receiver refuses anything past gRPC's 4 MB default) and with it every statement on
 * it, so writers split by these estimates instead of by counts.
 */

/** gRPC's default receive limit: no message on a session may pass it. */
export const MESSAGE_LIMIT_BYTES = 4 * 1024 * 1024;
/** What a writer gathers into one message before it sends: well under the limit. */
export const MESSAGE_TARGET_BYTES = 1024 * 1024;
/** The most one reply may take, leaving room for the envelope of the message that carries it. */
export const REPLY_LIMIT_BYTES = MESSAGE_LIMIT_BYTES - 64 * 1024;

/** A string field: its UTF-8 bytes, the tag and the length prefix. */
function str(s: string | undefined | null): number {
  return s ? Buffer.byteLength(s) + 6 : 0;
}

export function rowBytes(row: Row): number {
  let n = 8;
  for (const v of row.values ?? []) n += v.str !== undefined && v.str !== null ? str(v.str) + 4 : v.int !== undefined && v.int !== null ? str(v.int) + 4 : 16;
  return n;
}

export function rowsBytes(rows: readonly Row[]): number {
  let n = 8;
  for (const r of rows) n += rowBytes(r);
  return n;
}

export function killResponseBytes(msg: KillResponse): number {
  const p = msg.process;
  if (!p) return 64 + str(msg.plan?.skipped_owner) + str(msg.plan?.skipped_id);
  return 32 + str(p.query_id) + str(p.user) + str(p.query) + str(p.database) + str(p.table) + str(p.mutation_id) + str(p.command) + str(p.thread_id) + str(p.error);
}
