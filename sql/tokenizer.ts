import { chError, QuellError } from '../errors/quell-error';

/**
 * Lexer for both dialects. Keywords are not distinguished from bare identifiers here: whether
 * `test` is the TEST mode or a column depends on where it stands, which only the parser knows.
 */

export type TokenKind = 'word' | 'quotedIdent' | 'string' | 'number' | 'op' | 'end';

export interface Token {
  readonly kind: TokenKind;
  /** The source text exactly as written (error messages quote it). */
  readonly text: string;
  /** word/quotedIdent: the name; string: the decoded contents; op: the operator; number: the text. */
  readonly value: string;
  /** 0-based offset into the statement text. */
  readonly pos: number;
  /** numbers only */
  readonly num?: number;
  /** numbers only: written with a fraction or exponent (or too large for UInt64) */
  readonly isFloat?: boolean;
}

/** Tokens up to the first lexical error; the list always ends with an `end` token. */
export interface ScanResult {
  readonly tokens: Token[];
  /** Set when lexing stopped early; the `end` token then sits at the offending position. */
  readonly error?: { readonly pos: number; readonly message: string };
}

const SINGLE_OPERATORS = new Set(['=', '<', '>', '+', '-', '*', '/', '%', '(', ')', ',', '.', ';', '@']);
const DOUBLE_OPERATORS = new Set(['==', '!=', '<>', '<=', '>=']);

/** The operator at text[i], longest first so `<=` is not read as `<` `=`. */
function operatorAt(text: string, i: number): string | undefined {
  const two = text.slice(i, i + 2);
  if (DOUBLE_OPERATORS.has(two)) return two;
  const one = text.charAt(i);
  return SINGLE_OPERATORS.has(one) ? one : undefined;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  e: '\x1b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '0': '\0',
};

const UINT64_MAX = 18446744073709551615;

// Every token has the same fields, so the engine keeps one object shape for all of them.
function token(kind: TokenKind, text: string, value: string, pos: number, num?: number, isFloat?: boolean): Token {
  return { kind, text, value, pos, num, isFloat };
}

function isWordStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isWordChar(c: number): boolean {
  return isWordStart(c) || isDigit(c) || c === 36; // `$` inside names, as ClickHouse allows
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHexDigit(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}

/**
 * Lex as far as possible. The parser uses this rather than tokenize() so that an error inside a
 * MariaDB-form statement can be reported in MariaDB's words, and an error after a complete
 * prefix is reported where the parser actually gets stuck. `from` starts lexing further on (the
 * statement normaliser resumes after a character it does not know); positions stay absolute.
 */
export function scan(text: string, from = 0): ScanResult {
  const tokens: Token[] = [];
  const n = text.length;
  let i = from;
  const stop = (pos: number, message: string): ScanResult => {
    tokens.push(token('end', '', '', pos));
    return { tokens, error: { pos, message } };
  };

  while (i < n) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    // Comments, which both dialects' clients send: `-- …` and `/* … */`.
    if (c === 45 && text.charCodeAt(i + 1) === 45) {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
      continue;
    }
    if (c === 47 && text.charCodeAt(i + 1) === 42) {
      const close = text.indexOf('*/', i + 2);
      if (close < 0) return stop(i, 'Unterminated comment');
      i = close + 2;
      continue;
    }

    const start = i;
    if (isWordStart(c)) {
      i++;
      while (i < n && isWordChar(text.charCodeAt(i))) i++;
      const word = text.slice(start, i);
      tokens.push(token('word', word, word, start));
      continue;
    }

    const prev = tokens[tokens.length - 1];
    // `.5` is a number, but in `t.5`-like positions the dot belongs to a name, which we never need.
    const dotNumber =
      c === 46 && isDigit(text.charCodeAt(i + 1)) && !(prev && (prev.kind === 'word' || prev.kind === 'quotedIdent' || prev.text === ')'));
    if (isDigit(c) || dotNumber) {
      const tok = readNumber(text, start);
      tokens.push(tok);
      i = start + tok.text.length;
      continue;
    }

    if (c === 39 /* ' */ || c === 96 /* ` */ || c === 34 /* " */) {
      const r = readQuoted(text, start);
      if (typeof r === 'string') return stop(start, r);
      tokens.push(token(c === 39 ? 'string' : 'quotedIdent', text.slice(start, r.end), r.value, start));
      i = r.end;
      continue;
    }

    const op = operatorAt(text, i);
    if (op === undefined) return stop(start, 'Unrecognized token');
    tokens.push(token('op', op, op, start));
    i += op.length;
  }
  tokens.push(token('end', '', '', n));
  return { tokens };
}

function readNumber(text: string, start: number): Token {
  const n = text.length;
  let i = start;
  if (text.charCodeAt(i) === 48 && (text[i + 1] === 'x' || text[i + 1] === 'X') && isHexDigit(text.charCodeAt(i + 2))) {
    i += 2;
    while (i < n && isHexDigit(text.charCodeAt(i))) i++;
    const src = text.slice(start, i);
    const num = Number(src);
    return token('number', src, src, start, num, num > UINT64_MAX);
  }
  let isFloat = false;
  while (i < n && isDigit(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) === 46) {
    isFloat = true;
    i++;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
  }
  const e = text[i];
  if (e === 'e' || e === 'E') {
    let j = i + 1;
    if (text[j] === '+' || text[j] === '-') j++;
    if (isDigit(text.charCodeAt(j))) {
      isFloat = true;
      while (j < n && isDigit(text.charCodeAt(j))) j++;
      i = j;
    }
  }
  const src = text.slice(start, i);
  const num = Number(src.endsWith('.') ? src.slice(0, -1) : src);
  // Integers past UInt64 become Float64 in ClickHouse too.
  return token('number', src, src, start, num, isFloat || num > UINT64_MAX);
}

/** Returns the decoded value and the offset after the closing quote, or an error description. */
function readQuoted(text: string, start: number): { value: string; end: number } | string {
  const quote = text[start];
  const n = text.length;
  let out = '';
  let i = start + 1;
  let runStart = i;
  while (i < n) {
    const ch = text[i];
    if (ch === '\\') {
      out += text.slice(runStart, i);
      const next = text[i + 1];
      if (next === undefined) break;
      if (next === 'x' && isHexDigit(text.charCodeAt(i + 2)) && isHexDigit(text.charCodeAt(i + 3))) {
        out += String.fromCharCode(parseInt(text.slice(i + 2, i + 4), 16));
        i += 4;
      } else {
        // Unknown escapes keep only the character: '\%' is '%' (as in ClickHouse), so LIKE needs '\\%'.
        out += SIMPLE_ESCAPES[next] ?? next;
        i += 2;
      }
      runStart = i;
      continue;
    }
    if (ch === quote) {
      if (text[i + 1] === quote) {
        out += text.slice(runStart, i + 1);
        i += 2;
        runStart = i;
        continue;
      }
      out += text.slice(runStart, i);
      if (quote !== "'" && out === '') return 'Empty quoted identifier';
      return { value: out, end: i + 1 };
    }
    i++;
  }
  return quote === "'" ? 'Unterminated quoted string' : 'Unterminated quoted identifier';
}

/** Error text for a lexical error, in ClickHouse's shape. */
export function lexErrorMessage(text: string, pos: number, description: string): string {
  const ch = text.slice(pos, pos + 1);
  return `Syntax error: failed at position ${pos + 1} ('${ch}'): ${snippet(text, pos)}. ${description}`;
}

/** The text from `pos` on, cut short so an error stays one readable line. */
export function snippet(text: string, pos: number, max = 80): string {
  return text.slice(pos, pos + max);
}

/** All tokens, ending with `end`; any lexical error is a SYNTAX_ERROR. */
export function tokenize(text: string): Token[] {
  const r = scan(text);
  if (r.error) throw lexError(text, r.error.pos, r.error.message);
  return r.tokens;
}

export function lexError(text: string, pos: number, description: string): QuellError {
  return chError('SYNTAX_ERROR', lexErrorMessage(text, pos, description));
}
