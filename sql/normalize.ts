import * as crypto from 'node:crypto';
import { scan } from './tokenizer';

/**
 * Statement classes (docs/statement-path.md §Statement classes): a statement's text with its
 * literals replaced, as ClickHouse's normalizeQuery does, and a hash of that text, so that every
 * run of one statement shape — whatever its values, spacing, comments or keyword case — has one
 * `normalized_query_hash`. The text may be in any dialect (MariaDB, PostgreSQL, ClickHouse): the
 * normaliser reads it with quell's own linear lexer and never fails.
 *
 * The rules:
 * - a literal (number, string, a unary sign on a number, `?`, PostgreSQL's `$1` and `$$…$$`) is `?`;
 *   a comma-separated run of literals is `?..`, and a literal list right after `IN (` is `?..`
 *   whatever its length, so `IN (1, 2, 3)` and `IN (4)` read alike;
 * - comments go; tokens are joined by single spaces (none inside `(…)`, before `,` or `)`, around
 *   `.`, or between a function's name and its `(`), so the original spacing does not matter;
 * - keywords (KEYWORDS below) are upper-cased; other names keep their case; a name that looks
 *   generated (36 characters or more, whitespace, or more than two digits, as ClickHouse's
 *   isComplexIdentifier) is `` `?` ``, unless it names a function;
 * - a character the lexer does not know is kept as it is (runs of them stay together: `::`, `||`),
 *   non-ASCII letters stay part of their name, and what follows an unterminated string, quoted
 *   name or comment is appended raw.
 *
 * The hash is the first 53 bits of the SHA-256 of the normalized text (UTF-8), read big-endian: a
 * UInt64 that stays below 2^53 like every number quell tracks (sql/types.ts), so it survives JSON
 * and JS numbers exactly. normalizedQueryHash(s) = that hash of normalizeQuery(s).
 */

/** Words upper-cased in a normalized statement: the clause and operator words of the three dialects. */
const KEYWORDS: ReadonlySet<string> = new Set(
  `ADD ALL ALTER ANALYZE AND ANY ARRAY AS ASC ASYNC BEGIN BETWEEN BY CASE CAST CHANGE CLUSTER COLLATE
  COLUMN COMMIT CONFLICT CONNECTION CREATE CROSS DATABASE DEFAULT DELAYED DELETE DESC DESCRIBE DISTINCT
  DIV DO DROP DUPLICATE ELSE END ESCAPE EXCEPT EXISTS EXPLAIN FALSE FETCH FINAL FOLLOWING FOR FORMAT
  FROM FULL GLOBAL GRANT GROUP HAVING HIGH_PRIORITY IF IGNORE ILIKE IN INNER INSERT INTERSECT INTERVAL
  INTO IS JOIN KILL LEFT LIKE LIMIT LOCK LOW_PRIORITY MOD MODIFY MUTATION NATURAL NOT NOTHING NOWAIT
  NULL NULLS OFFSET ON OPTIMIZE OR ORDER OUTER OVER PARTITION PRECEDING PREWHERE REGEXP RENAME REPLACE
  RETURNING REVOKE RIGHT RLIKE ROLLBACK SAMPLE SELECT SET SETTINGS SHARE SHOW SOME
  SQL_CALC_FOUND_ROWS SQL_NO_CACHE STRAIGHT_JOIN SYNC TABLE THEN TO TRANSACTION TRUE TRUNCATE
  UNBOUNDED UNION UPDATE USE USING VALUES VIEW WHEN WHERE WINDOW WITH XOR`.split(/\s+/),
);

type PieceKind = 'word' | 'quoted' | 'literal' | 'op' | 'raw';

/** One significant token of the statement, as the normaliser sees it. */
interface Piece {
  readonly kind: PieceKind;
  text: string;
  /** offset after the piece: adjacent pieces may merge (`::`, a name with non-ASCII letters) */
  end: number;
  /** literals only: a number, which a unary sign may precede */
  readonly num: boolean;
}

function piece(kind: PieceKind, text: string, end: number, num = false): Piece {
  return { kind, text, end, num };
}

function isAsciiWordChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** At `$`: `$1` (a parameter) or `$tag$…$tag$` (a dollar-quoted string), as the literal's end offset; -1 if neither, -2 if unterminated. */
function dollarLiteralEnd(text: string, p: number): number {
  const n = text.length;
  let i = p + 1;
  if (isDigit(text.charCodeAt(i))) {
    while (i < n && isDigit(text.charCodeAt(i))) i++;
    return i;
  }
  while (i < n && isAsciiWordChar(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== 36) return -1;
  const delimiter = text.slice(p, i + 1);
  const close = text.indexOf(delimiter, i + 1);
  return close < 0 ? -2 : close + delimiter.length;
}

/** ASCII symbols no dialect's lexer here knows, which may continue a run of them */
const RAW_SYMBOLS = '!#&:[\\]^{|}~';

const prev = (out: readonly Piece[]): Piece | undefined => out[out.length - 1];

function glue(p: Piece, text: string, end: number): void {
  p.text += text;
  p.end = end;
}

/** `=`, `<`, `>` and their pairs: they finish an operator the lexer does not know (`:=`, `|>`), written without a space. */
function isComparison(op: string): boolean {
  for (let i = 0; i < op.length; i++) if (!'=<>!'.includes(op.charAt(i))) return false;
  return true;
}

/** The statement's significant pieces: tokens where the lexer knows them, kept characters where it does not. */
function piecesOf(text: string): Piece[] {
  const out: Piece[] = [];
  const n = text.length;
  let from = 0;
  while (from < n) {
    const r = scan(text, from);
    for (const t of r.tokens) {
      if (t.kind === 'end') break;
      if (t.kind === 'number' || t.kind === 'string') out.push(piece('literal', '?', t.pos + t.text.length, t.kind === 'number'));
      else if (t.kind === 'word') out.push(piece('word', t.text, t.pos + t.text.length));
      else if (t.kind === 'quotedIdent') out.push(piece('quoted', t.text, t.pos + t.text.length));
      else if (isComparison(t.text) && prev(out)?.kind === 'raw' && prev(out)?.end === t.pos) glue(prev(out) as Piece, t.text, t.pos + t.text.length);
      else out.push(piece('op', t.text, t.pos + t.text.length));
    }
    if (!r.error) break;
    from = resume(text, r.error.pos, out);
  }
  return out;
}

/** Past a lexical error at `p`: adds what stands there to `out` and returns where lexing resumes (n: the rest was taken raw). */
function resume(text: string, p: number, out: Piece[]): number {
  const n = text.length;
  const c = text.charCodeAt(p);
  const last = prev(out);
  // an unterminated string, quoted name or comment: the rest as written ("" and `` the lexer refuses as empty names)
  if (c === 39 || c === 34 || c === 96 || c === 47) {
    if ((c === 34 || c === 96) && text.charCodeAt(p + 1) === c) {
      // "" is MariaDB's empty string; `` names nothing in any dialect
      out.push(c === 34 ? piece('literal', '?', p + 2) : piece('raw', text.slice(p, p + 2), p + 2));
      return p + 2;
    }
    out.push(piece('raw', text.slice(p), n));
    return n;
  }
  if (c === 63 /* ? */) {
    out.push(piece('literal', '?', p + 1));
    return p + 1;
  }
  if (c === 36 /* $ */) {
    const end = dollarLiteralEnd(text, p);
    if (end === -2) {
      out.push(piece('raw', text.slice(p), n));
      return n;
    }
    if (end > 0) {
      out.push(piece('literal', '?', end));
      return end;
    }
  }
  if (c >= 128) {
    // letters of other scripts: part of the name they stand in (or a name of their own)
    let end = p + 1;
    while (end < n) {
      const d = text.charCodeAt(end);
      if (!(d >= 128 || isAsciiWordChar(d) || d === 36)) break;
      end++;
    }
    if (last && last.kind === 'word' && last.end === p) glue(last, text.slice(p, end), end);
    else out.push(piece('word', text.slice(p, end), end));
    return end;
  }
  // a run of symbols the lexer does not know stays one piece (`::`, `||`, `#>>`): one restart per run
  let end = p + 1;
  while (end < n && RAW_SYMBOLS.includes(text.charAt(end))) end++;
  if (last && last.kind === 'raw' && last.end === p) glue(last, text.slice(p, end), end);
  else out.push(piece('raw', text.slice(p, end), end));
  return end;
}

/** ClickHouse's isComplexIdentifier: a name that looks generated (a temporary table, a dated partition). */
function isComplexName(name: string): boolean {
  if (name.length >= 36) return true;
  let digits = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12) return true;
    if (isDigit(c) && ++digits > 2) return true;
  }
  return false;
}

const NO_SPACE_BEFORE: ReadonlySet<string> = new Set([')', ',', '.', ';', '::', '[', ']']);
const NO_SPACE_AFTER: ReadonlySet<string> = new Set(['(', '.', '@', '::', '[']);

type OutKind = 'keyword' | 'name' | 'literal' | 'op';

/** The normalized text of a statement (see the rules above). */
export function normalizeQuery(text: string): string {
  const pieces = piecesOf(text);
  const out: string[] = [];
  let lastKind: OutKind | undefined;
  let lastText = '';
  let beforeLastText = '';
  const emit = (kind: OutKind, t: string): void => {
    if (lastKind !== undefined && !NO_SPACE_BEFORE.has(t) && !NO_SPACE_AFTER.has(lastText) && !(t === '(' && lastKind === 'name')) out.push(' ');
    out.push(t);
    beforeLastText = lastText;
    lastKind = kind;
    lastText = t;
  };
  /** a sign that belongs to the number after it: at the start, or after an operator or a keyword */
  const signedNumberAt = (i: number): boolean => {
    const p = pieces[i];
    const next = pieces[i + 1];
    if (!p || p.kind !== 'op' || (p.text !== '-' && p.text !== '+') || !next || next.kind !== 'literal' || !next.num) return false;
    return lastKind === undefined || lastKind === 'keyword' || (lastKind === 'op' && lastText !== ')' && lastText !== ']');
  };
  /** the index after a literal at i (a signed number counts as one), or -1 */
  const literalEnd = (i: number, signed: boolean): number => {
    if (pieces[i]?.kind === 'literal') return i + 1;
    return signed ? i + 2 : -1;
  };

  for (let i = 0; i < pieces.length; ) {
    const p = pieces[i] as Piece;
    const first = literalEnd(i, signedNumberAt(i));
    if (first >= 0) {
      // a run of literals joined by commas: `?`, or `?..` for two or more (or for any list right after IN)
      let count = 1;
      let j = first;
      for (;;) {
        if (pieces[j]?.text !== ',' || pieces[j]?.kind !== 'op') break;
        const q = pieces[j + 1];
        const signed = !!q && q.kind === 'op' && (q.text === '-' || q.text === '+') && pieces[j + 2]?.kind === 'literal' && pieces[j + 2]?.num === true;
        const next = literalEnd(j + 1, signed);
        if (next < 0) break;
        count++;
        j = next;
      }
      const inList = lastText === '(' && beforeLastText === 'IN' && pieces[j]?.text === ')';
      emit('literal', count > 1 || inList ? '?..' : '?');
      i = j;
      continue;
    }
    if (p.kind === 'word') {
      const upper = p.text.toUpperCase();
      if (KEYWORDS.has(upper)) emit('keyword', upper);
      else {
        const isCall = pieces[i + 1]?.text === '(' && pieces[i + 1]?.kind === 'op';
        emit('name', !isCall && isComplexName(p.text) ? '`?`' : p.text);
      }
    } else if (p.kind === 'quoted') {
      emit('name', isComplexName(p.text) ? '`?`' : p.text);
    } else emit('op', p.text);
    i++;
  }
  return out.join('');
}

/** crypto.hash (Node ≥ 20.12) hashes without a Hash object; older Nodes use createHash. */
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'buffer') => Buffer }).hash;

/** The first 53 bits of the text's SHA-256 (big-endian): below 2^53, so exact as a JS number. */
export function hash53(text: string): number {
  const d = oneShot ? oneShot('sha256', text, 'buffer') : crypto.createHash('sha256').update(text, 'utf8').digest();
  return d.readUInt32BE(0) * 0x20_0000 + (d.readUInt32BE(4) >>> 11);
}

/** normalizedQueryHash(s): the statement class of a text as a number. */
export function normalizedQueryHash(text: string): number {
  return hash53(normalizeQuery(text));
}

/** A statement's class: its normalized text and that text's hash. */
export interface StatementClass {
  readonly normalized: string;
  readonly hash: number;
}

/** The cache's bounds: at most this many texts, of at most this many characters together. */
const CACHE_ENTRIES = 4096;
const CACHE_CHARS = 32 * 1024 * 1024;

/**
 * Statement classes of recent texts. An agent reads a backend's process list for every statement;
 * its texts repeat, so each is normalized once while it keeps running. A full cache starts over
 * (as the pattern cache in compile/functions.ts): O(1) per text, and the running texts come back
 * on the next listing.
 */
class ClassCache {
  private readonly byText = new Map<string, StatementClass>();
  private chars = 0;

  get(text: string): StatementClass {
    const hit = this.byText.get(text);
    if (hit) return hit;
    const normalized = normalizeQuery(text);
    const cls: StatementClass = { normalized, hash: hash53(normalized) };
    const size = text.length + normalized.length;
    if (size > CACHE_CHARS) return cls;
    if (this.byText.size >= CACHE_ENTRIES || this.chars + size > CACHE_CHARS) {
      this.byText.clear();
      this.chars = 0;
    }
    this.byText.set(text, cls);
    this.chars += size;
    return cls;
  }
}

const CACHE = new ClassCache();

/** The statement class of a text, normalized once while the text keeps coming back (cached by text). */
export function statementClass(text: string): StatementClass {
  return CACHE.get(text);
}
