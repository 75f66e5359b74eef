/**
 * MariaDB's executable comments, as its own lexer reads them: `/*! text *\/` is part of the
 * statement, `/*!NNNNN text *\/` (and MariaDB's `/*M!NNNNN text *\/`) is part of it when the
 * server's version is at least NNNNN (5 digits: 50038 is 5.0.38; 6: 100100 is 10.1.0), and is
 * a comment otherwise. Tools put connection chatter in them (pt-kill's
 * `SELECT @@server_id /*!50038 , @@hostname*\/`). Quoted strings and names, `--` and `#`
 * comments and plain block comments pass unchanged. One pass over the text.
 */

/** `10.11.99-MariaDB-quell` → 101199, the number executable comments compare with. */
export function versionNumber(version: string): number {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return 0;
  return Number(m[1]) * 10_000 + Number(m[2]) * 100 + Number(m[3]);
}

/** The statement with each executable comment replaced by its text (or by a blank, when its version is newer). */
export function expandExecutableComments(sql: string, serverVersion: number): string {
  if (!sql.includes('/*!') && !sql.includes('/*M!')) return sql;
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === '`') {
      const end = quotedEnd(sql, i);
      out += sql.slice(i, end);
      i = end;
    } else if ((c === '-' && sql[i + 1] === '-') || c === '#') {
      const nl = sql.indexOf('\n', i);
      const end = nl < 0 ? n : nl + 1;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      const end = close < 0 ? n : close + 2;
      const bang = sql[i + 2] === '!' ? i + 3 : sql[i + 2] === 'M' && sql[i + 3] === '!' ? i + 4 : -1;
      if (bang < 0 || close < 0) {
        out += sql.slice(i, end);
      } else {
        let digits = bang;
        while (digits < close && digits - bang < 6 && sql.charCodeAt(digits) >= 48 && sql.charCodeAt(digits) <= 57) digits++;
        const version = digits > bang ? Number(sql.slice(bang, digits)) : 0;
        out += version <= serverVersion ? ` ${sql.slice(digits, close)} ` : ' ';
      }
      i = end;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The offset after the quoted string or name that starts at `start` (backslash escapes and doubled quotes). */
function quotedEnd(sql: string, start: number): number {
  const quote = sql[start];
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (c === '\\' && quote !== '`') i += 2;
    else if (c === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return sql.length;
}
