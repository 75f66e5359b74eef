/**
 * The expression compiler's public surface: type-checked closures over rows (compiler), the
 * callable names (functions), the LIKE/regex engine (patterns) and text-to-value parsing.
 */
export { compileExpr, compileFilter } from './compiler';
export { FUNCTION_NAMES } from './functions';
export { evalContext, isTrue, unixNow, type ColumnBinding, type Compiled, type EvalContext, type Resolver } from './node';
export { likeTest, regexTest } from './patterns';
export { parseDateTime, valueToString } from './convert';
