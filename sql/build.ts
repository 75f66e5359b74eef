import type { Expr } from './ast';
import type { SqlValue } from './types';

/**
 * Expression trees built by code rather than parsed from a statement (filters the coordinator
 * makes itself). They carry no position: nothing in them was written by the user.
 */

export function ident(name: string): Expr {
  return { kind: 'identifier', name, pos: 0 };
}

export function lit(value: SqlValue): Expr {
  return { kind: 'literal', value, pos: 0 };
}

/** A function by its canonical name (`equals`, `and`, …), as the parser normalises operators. */
export function call(name: string, ...args: Expr[]): Expr {
  return { kind: 'call', name, args, pos: 0 };
}
