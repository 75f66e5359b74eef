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
    else if (c === '-' && text[i + 1] === '-') {
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
