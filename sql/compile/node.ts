import type { ColumnType, SqlValue } from '../types';

/**
 * What a compiled expression is made of: the public shapes callers bind columns and read results
 * through, and the internal node every compiled subexpression becomes.
 */

export interface ColumnBinding<R> {
  readonly type: ColumnType;
  readonly get: (row: R) => SqlValue;
}
export type Resolver<R> = (name: string) => ColumnBinding<R> | undefined;
export interface EvalContext {
  readonly hostName: string;
  /** unix seconds */
  readonly now: () => number;
}

/** The current time as a DateTime value: whole unix seconds, as ClickHouse's now(). */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/** How expressions evaluate on a host: its name for hostName(), the wall clock for now(). */
export function evalContext(hostName: string): EvalContext {
  return { hostName, now: unixNow };
}
export interface Compiled<R> {
  readonly type: ColumnType;
  evaluate(row: R): SqlValue;
}

export type Ev<R> = (row: R) => SqlValue;

/** A compiled subexpression; `value` is meaningful only when `isConst`. */
export interface Node<R> {
  readonly type: ColumnType;
  readonly evaluate: Ev<R>;
  readonly isConst: boolean;
  readonly value: SqlValue;
}

export function konst<R>(type: ColumnType, value: SqlValue): Node<R> {
  return { type, evaluate: () => value, isConst: true, value };
}

export function dyn<R>(type: ColumnType, evaluate: Ev<R>): Node<R> {
  return { type, evaluate, isConst: false, value: null };
}

export function map1<R>(a: Node<R>, f: (x: SqlValue) => SqlValue): Ev<R> {
  const ea = a.evaluate;
  return (row) => {
    const x = ea(row);
    return x === null ? null : f(x);
  };
}

export function map2<R>(a: Node<R>, b: Node<R>, f: (x: SqlValue, y: SqlValue) => SqlValue): Ev<R> {
  const ea = a.evaluate;
  const eb = b.evaluate;
  if (b.isConst) {
    const y = b.value;
    if (y === null) return () => null;
    return (row) => {
      const x = ea(row);
      return x === null ? null : f(x, y);
    };
  }
  if (a.isConst) {
    const x = a.value;
    if (x === null) return () => null;
    return (row) => {
      const y = eb(row);
      return y === null ? null : f(x, y);
    };
  }
  return (row) => {
    const x = ea(row);
    if (x === null) return null;
    const y = eb(row);
    return y === null ? null : f(x, y);
  };
}

/** ClickHouse's truth: a non-zero number. NULL is false; strings never reach a filter. */
export function isTrue(v: SqlValue): boolean {
  return typeof v === 'number' && v !== 0;
}
