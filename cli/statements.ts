/**
 * Splits client input into statements at `;` outside quotes and comments. Returns the complete
 * statements and the unfinished rest (the interactive shell keeps reading until `;`).
 */
export function splitStatements(text: string): { statements: string[]; rest: string } {
  const statements: string[] = [];
  let start = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '/' && text[i + 1] === '*') {
      // an unterminated block comment runs to the end: the rest stays unfinished
      const close = text.indexOf('*/', i + 2);
      i = close === -1 ? text.length : close + 1;
    } else if (c === '-' && text[i + 1] === '-') {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? text.length : nl;
    } else if (c === ';') {
      const s = text.slice(start, i).trim();
      if (s) statements.push(s);
      start = i + 1;
    }
  }
  return { statements, rest: text.slice(start) };
}

/**
 * Statements of a batch (`-q` or stdin): the last one needs no `;`, and an unfinished one (an
 * unterminated string or comment) is still sent, so that the parser answers SYNTAX_ERROR
 * instead of the input being dropped.
 */
/** Whether every line is blank or a `--` comment. */
function onlyCommentsAndBlanks(text: string): boolean {
  return text.split('\n').every((line) => {
    const t = line.trimStart();
    return t === '' || t.startsWith('--');
  });
}

export function batchStatements(text: string): string[] {
  const { statements, rest } = splitStatements(text);
  if (!onlyCommentsAndBlanks(rest)) statements.push(rest.trim());
  return statements;
}
