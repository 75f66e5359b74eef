import assert from 'node:assert/strict';
import { parseStatement } from '../../sql/parser';
import { QuellError, renderError } from '../../errors/quell-error';

/** The value without `pos` fields, for shape comparisons. */
export function noPos<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (k, x: unknown) => (k === 'pos' ? undefined : x))) as T;
}

/** The rendered error of a statement that must fail. */
export function errorOf(text: string): string {
  try {
    parseStatement(text);
  } catch (e) {
    assert.ok(e instanceof QuellError, String(e));
    return renderError(e);
  }
  assert.fail(`parsed: ${text}`);
}
