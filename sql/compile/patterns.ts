import { RE2JS } from 're2js';
import { chError } from '../../errors/quell-error';
import { errorText } from '../../errors/error-text';
import { asciiLower, isHigh, isLow, NON_ASCII } from './utf8';

/** The pattern engine: LIKE and regular expressions (RE2: linear time whatever the pattern). */

export type StringTest = (s: string) => boolean;

function compileRe2(pattern: string, flags: number, shown: string): RE2JS {
  try {
    return RE2JS.compile(pattern, flags);
  } catch (e) {
    throw chError('BAD_ARGUMENTS', `Cannot compile regular expression '${shown}': ${errorText(e)}`);
  }
}

const REGEX_META = /[\\.+*?()|[\]{}^$]/;

/** match(): RE2 syntax, search semantics, `.` matches newlines (as ClickHouse sets dot_nl). */
export function regexTest(pattern: string): StringTest {
  if (!REGEX_META.test(pattern)) return (s) => s.includes(pattern);
  const re = compileRe2(pattern, RE2JS.DOTALL, pattern);
  return (s) => re.test(s);
}

/** A run of a LIKE pattern between two `%`: literal text and counts of `_` (one character each). */
type Piece = (string | number)[];

/**
 * LIKE: `%` any bytes, `_` one character, `\%` `\_` `\\` literal; a backslash before anything
 * else is itself literal. Most patterns are matched with startsWith/indexOf, much faster than
 * any regex engine and still linear; only `_` between two `%` (or ILIKE with non-ASCII text)
 * needs RE2.
 */
export function likeTest(pattern: string, caseInsensitive: boolean): StringTest {
  let cur: Piece = [];
  const pieces: Piece[] = [cur];
  const add = (item: string | number): void => {
    const last = cur[cur.length - 1];
    if (typeof item === 'string' && typeof last === 'string') cur[cur.length - 1] = last + item;
    else if (typeof item === 'number' && typeof last === 'number') cur[cur.length - 1] = last + item;
    else cur.push(item);
  };
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\' && i + 1 < pattern.length) {
      const next = pattern[i + 1] as string;
      add(next === '%' || next === '_' || next === '\\' ? next : '\\' + next);
      i++;
    } else if (ch === '%') {
      cur = [];
      pieces.push(cur);
    } else if (ch === '_') add(1);
    else add(ch);
  }

  const hasWildcard = (p: Piece): boolean => p.some((it) => typeof it === 'number');
  const asciiPattern = pieces.every((p) => p.every((it) => typeof it === 'number' || !NON_ASCII.test(it)));
  if (!pieces.slice(1, -1).some(hasWildcard) && (!caseInsensitive || asciiPattern)) {
    const ps = caseInsensitive ? pieces.map((p) => p.map((it) => (typeof it === 'string' ? it.toLowerCase() : it))) : pieces;
    const test = ps.some(hasWildcard) ? anchoredTest(ps) : piecesTest(ps.map((p) => p.join('')));
    return caseInsensitive ? (s) => test(asciiLower(s)) : test;
  }
  const regex = pieces.map((p) => p.map((it) => (typeof it === 'string' ? RE2JS.quote(it) : '.'.repeat(it))).join('')).join('.*');
  const re = compileRe2(regex, RE2JS.DOTALL | (caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0), pattern);
  return (s) => re.testExact(s);
}

/** Whole-string match of literal pieces separated by `%`; leftmost placement is optimal. */
function piecesTest(pieces: readonly string[]): StringTest {
  const first = pieces[0] ?? '';
  if (pieces.length === 1) return (s) => s === first;
  const last = pieces[pieces.length - 1] ?? '';
  const middle = pieces.slice(1, -1).filter((p) => p !== '');
  const minLen = first.length + last.length;
  if (middle.length === 0) return (s) => s.length >= minLen && s.startsWith(first) && s.endsWith(last);
  if (middle.length === 1 && minLen === 0) {
    const m = middle[0] ?? '';
    return (s) => s.includes(m);
  }
  return (s) => s.length >= minLen && s.startsWith(first) && s.endsWith(last) && middlesFit(s, middle, first.length, s.length - last.length);
}

/** The middle pieces appear in order within s[from, to), each placed leftmost. */
function middlesFit(s: string, middle: readonly string[], from: number, to: number): boolean {
  let at = from;
  for (const m of middle) {
    const k = s.indexOf(m, at);
    if (k < 0 || k + m.length > to) return false;
    at = k + m.length;
  }
  return at <= to;
}

/** Like piecesTest, where the first and last pieces (anchored at the ends) may contain `_`. */
function anchoredTest(pieces: readonly Piece[]): StringTest {
  const first = pieces[0] ?? [];
  if (pieces.length === 1) return (s) => matchForward(s, first) === s.length;
  const last = pieces[pieces.length - 1] ?? [];
  const middle = pieces
    .slice(1, -1)
    .map((p) => p.join(''))
    .filter((p) => p !== '');
  return (s) => {
    const from = matchForward(s, first);
    if (from < 0) return false;
    const to = matchBackward(s, last);
    return to >= from && middlesFit(s, middle, from, to);
  };
}


/** Offset after matching the piece at the start of s, or -1. `_` steps over one code point. */
function matchForward(s: string, piece: Piece): number {
  let p = 0;
  for (const it of piece) {
    if (typeof it === 'string') {
      if (!s.startsWith(it, p)) return -1;
      p += it.length;
      continue;
    }
    for (let k = 0; k < it; k++) {
      if (p >= s.length) return -1;
      p += isHigh(s.charCodeAt(p)) && isLow(s.charCodeAt(p + 1)) ? 2 : 1;
    }
  }
  return p;
}

/** Offset where the piece starts when it matches at the end of s, or -1. */
function matchBackward(s: string, piece: Piece): number {
  let end = s.length;
  for (let i = piece.length - 1; i >= 0; i--) {
    const it = piece[i] ?? '';
    if (typeof it === 'string') {
      const start = end - it.length;
      if (start < 0 || !s.startsWith(it, start)) return -1;
      end = start;
      continue;
    }
    for (let k = 0; k < it; k++) {
      if (end <= 0) return -1;
      end -= isLow(s.charCodeAt(end - 1)) && isHigh(s.charCodeAt(end - 2)) ? 2 : 1;
    }
  }
  return end;
}
