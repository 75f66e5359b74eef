import * as crypto from 'node:crypto';
import { KILL_LOG_ENTRY_COLUMNS } from '../../../sql/tables';
import type { SqlValue } from '../../../sql/types';

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
  /** the statement class of `query` (sql/normalize.ts); 0 for no process, and in entries written before it was logged */
  readonly normalized_query_hash: number;
  /** the kill's kill_reason setting; '' when none was given, and in entries written before it was logged */
  readonly reason: string;
  /** 1 for the escalation step of a kill (escalate_after: the hard kill) and the statuses after it; 0 for its cancel */
  readonly escalated: number;
}

/**
 * The fields of one entry as a JSON object without its closing brace, keys in column order (a line
 * is easy to read with jq or grep). KillLog seals it into a line (sealEntry) when it knows the
 * entry's place in the chain.
 */
export function encodeBody(e: KillLogEntry): string {
  const out: Record<string, SqlValue> = {};
  const fields = e as unknown as Record<string, SqlValue>;
  for (const c of KILL_LOG_ENTRY_COLUMNS) out[c.name] = fields[c.name] ?? null;
  const json = JSON.stringify(out);
  return json.slice(0, -1);
}

/** The hash chain: each line's hash covers its fields and the previous line's hash (docs/statement-path.md §The kill log). */
export interface ChainHead {
  /** entries since the chain began, across rotations and restarts; 0 before the first */
  readonly seq: number;
  /** the SHA-256 of the line numbered `seq` (lowercase hex); GENESIS_HASH before the first */
  readonly hash: string;
}

/** What the first entry of a chain links to. */
export const GENESIS_HASH = '0'.repeat(64);
export const GENESIS: ChainHead = { seq: 0, hash: GENESIS_HASH };

const HASH_KEY = ',"hash":"';
/** `,"hash":"<64 hex>"}` closes every sealed line */
const SEAL_LENGTH = HASH_KEY.length + 64 + 2;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * One line for a body that follows `prev`: `{<fields>,"seq":N,"prev":"<hex>","hash":"<hex>"}\n`,
 * where hash = SHA-256 of the line up to (not including) `,"hash"`. One hash per entry.
 */
export function sealEntry(body: string, prev: ChainHead): { line: string; head: ChainHead } {
  const seq = prev.seq + 1;
  const sealed = `${body},"seq":${seq},"prev":"${prev.hash}"`;
  const hash = sha256(sealed);
  return { line: `${sealed}${HASH_KEY}${hash}"}\n`, head: { seq, hash } };
}

/** Encodes a whole entry as a line that follows `prev` (tests and tools; the log encodes in two steps). */
export function encodeEntry(e: KillLogEntry, prev: ChainHead = GENESIS): string {
  return sealEntry(encodeBody(e), prev).line;
}

/** crypto.hash (Node ≥ 20.12) is a one-shot hash without a Hash object; older Nodes use createHash. */
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'hex') => string }).hash;
function sha256(text: string): string {
  return oneShot ? oneShot('sha256', text, 'hex') : crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A line as read: its entry and, for a sealed line, its place in the chain and whether its own hash holds. */
export interface DecodedLine {
  readonly entry: KillLogEntry;
  /** undefined for a line written before the chain (read as unverified) */
  readonly chain?: { readonly seq: number; readonly prev: string; readonly hash: string; readonly intact: boolean };
}

/**
 * An entry from one line, or undefined for a line that is not one (a write torn by a crash or a
 * full disk). A field that is missing or of the wrong type reads as '' or 0, so that lines from
 * an older or newer quell stay readable.
 */
export function decodeEntry(line: string): KillLogEntry | undefined {
  return decodeLine(line)?.entry;
}

/** decodeEntry, plus the chain fields of a sealed line, its own hash checked against its text. */
export function decodeLine(line: string): DecodedLine | undefined {
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
  for (const c of KILL_LOG_ENTRY_COLUMNS) {
    const v = fields[c.name];
    if (c.type === 'String') out[c.name] = typeof v === 'string' ? v : '';
    else out[c.name] = typeof v === 'number' && Number.isFinite(v) ? v : 0;
  }
  const entry = out as unknown as KillLogEntry;
  const { seq, prev, hash } = fields;
  // a line with none of the chain's fields predates it; one with some of them is a broken link
  if (seq === undefined && prev === undefined && hash === undefined) return { entry };
  const wellFormed = typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 && typeof prev === 'string' && HEX64.test(prev) && typeof hash === 'string' && HEX64.test(hash);
  const intact = wellFormed && line.length > SEAL_LENGTH && line.endsWith(`${HASH_KEY}${hash}"}`) && sha256(line.slice(0, -SEAL_LENGTH)) === hash;
  return {
    entry,
    chain: { seq: typeof seq === 'number' ? seq : 0, prev: typeof prev === 'string' ? prev : '', hash: typeof hash === 'string' ? hash : '', intact },
  };
}
