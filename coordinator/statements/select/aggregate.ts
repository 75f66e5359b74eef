import type { Expr, SelectStatement } from '../../../sql/ast';
import { renderExpr } from '../../../sql/render';
import { isNumericType, type Column, type ColumnType, type SqlValue } from '../../../sql/types';
import { isTrue, type Compiled } from '../../../sql/compile';
import { chError } from '../../../errors/quell-error';
import { analyzeExpr, checkFilter } from '../analysis';
import { compareRows, compareValues } from '../../../sql/sort';
import { aliasSubstitution } from './select-aliases';

/**
 * SELECT with aggregate functions and GROUP BY/HAVING, as ClickHouse answers it, over rows that
 * arrive from every node. The nodes evaluate only the *leaves*: the GROUP BY keys and each
 * aggregate's argument, where the rows live; the coordinator keeps one state per group, then
 * evaluates the select list, HAVING and ORDER BY over the groups. Memory is one state per group,
 * never the rows.
 */

const AGGREGATES = ['count', 'sum', 'min', 'max', 'avg', 'any', 'uniq'] as const;
type AggregateName = (typeof AGGREGATES)[number];

/** ClickHouse's names are case-sensitive except the SQL standard ones (count, sum, min, max, avg). */
function aggregateName(e: Expr): AggregateName | undefined {
  if (e.kind !== 'call') return undefined;
  const lower = e.name.toLowerCase();
  const standard = lower === 'count' || lower === 'sum' || lower === 'min' || lower === 'max' || lower === 'avg';
  if (standard) return lower;
  return (AGGREGATES as readonly string[]).includes(e.name) ? (e.name as AggregateName) : undefined;
}

function containsAggregate(e: Expr): boolean {
  if (aggregateName(e)) return true;
  if (e.kind === 'call') return e.args.some(containsAggregate);
  if (e.kind === 'tuple') return e.items.some(containsAggregate);
  return false;
}

interface AggregateSpec {
  readonly name: AggregateName;
  /** index of its argument among the leaves; undefined for count() */
  readonly arg: number | undefined;
  readonly type: ColumnType;
}

/** What a grouped read asks of the nodes and how the coordinator finishes it. */
export interface AggregatePlan {
  /** the expressions each node evaluates per matching row: the keys, then the aggregates' arguments */
  readonly leaves: readonly Expr[];
  /** the result's columns */
  readonly columns: readonly Column[];
  readonly where: Expr | undefined;
  readonly keyCount: number;
  readonly aggregates: readonly AggregateSpec[];
  /** over a group's row (keys, then aggregate values): the select list, then the hidden ORDER BY keys */
  readonly outputs: readonly Compiled<readonly unknown[]>[];
  readonly having: Compiled<readonly unknown[]> | undefined;
  readonly orderKeys: readonly { index: number; desc: boolean }[];
  readonly limit: number | undefined;
  readonly offset: number;
}

/** A positive integer literal in GROUP BY or ORDER BY names a select item (ClickHouse's enable_positional_arguments). */
export function positional(e: Expr, items: readonly (Expr | undefined)[]): Expr {
  if (e.kind !== 'literal' || typeof e.value !== 'number' || e.isFloat || !Number.isInteger(e.value)) return e;
  const item = items[e.value - 1];
  if (e.value < 1 || item === undefined) throw chError('BAD_ARGUMENTS', `Positional argument out of bounds: ${e.value} (the select list has ${items.length} items)`);
  return item;
}

function sumType(t: ColumnType): ColumnType {
  if (t === 'Float64') return 'Float64';
  if (t === 'Int64') return 'Int64';
  return 'UInt64';
}

function resultType(name: AggregateName, arg: ColumnType | undefined): ColumnType {
  switch (name) {
    case 'count':
    case 'uniq':
      return 'UInt64';
    case 'avg':
      return 'Float64';
    case 'sum':
      return sumType(arg ?? 'UInt64');
    default:
      return arg ?? 'UInt64';
  }
}

/**
 * The plan of a SELECT that aggregates (an aggregate function anywhere, or GROUP BY), or
 * undefined for a plain read. Type errors, a column outside every aggregate and not grouped by,
 * and nested aggregates are refused here, before any node is asked.
 */
export function planAggregate(stmt: SelectStatement, columns: readonly Column[]): AggregatePlan | undefined {
  const items = stmt.items;
  const grouped = (stmt.groupBy?.length ?? 0) > 0;
  const aggregating = grouped || stmt.having !== undefined || items.some((i) => i.expr && containsAggregate(i.expr)) || stmt.orderBy.some((o) => containsAggregate(o.expr));
  if (!aggregating) return undefined;
  if (items.some((i) => !i.expr)) throw chError('NOT_AN_AGGREGATE', 'SELECT * cannot be grouped: name the columns, each in GROUP BY or inside an aggregate function');
  const itemExprs = items.map((i) => i.expr as Expr);
  const aliasesIn = aliasSubstitution(stmt, columns);
  const leaves: Expr[] = [];
  const leafTypes: ColumnType[] = [];
  const keys = (stmt.groupBy ?? []).map((k) => aliasesIn(positional(k, itemExprs)));
  for (const k of keys) {
    if (containsAggregate(k)) throw chError('ILLEGAL_AGGREGATION', `Aggregate function ${renderExpr(k)} is found in GROUP BY`);
    leaves.push(k);
    leafTypes.push(analyzeExpr(k, columns).type);
  }
  const keyText = keys.map((k) => renderExpr(k));
  const aggregates: AggregateSpec[] = [];
  const aggregateText: string[] = [];

  // the expression over a group's row: keys become __k<i>, aggregates __a<j>
  const rewrite = (e: Expr, insideAggregate: boolean): Expr => {
    const keyAt = keyText.indexOf(renderExpr(e));
    if (keyAt >= 0 && !insideAggregate) return { kind: 'identifier', name: `__k${keyAt}`, pos: e.pos };
    const name = aggregateName(e);
    if (name && e.kind === 'call') {
      if (insideAggregate) throw chError('ILLEGAL_AGGREGATION', `Aggregate function ${renderExpr(e)} is found inside another aggregate function`);
      const arity = name === 'count' ? [0, 1] : [1];
      if (!arity.includes(e.args.length)) throw chError('NUMBER_OF_ARGUMENTS_DOESNT_MATCH', `Aggregate function ${e.name} requires ${name === 'count' ? 'zero or one argument' : 'one argument'}, got ${e.args.length}`);
      const text = renderExpr(e);
      let at = aggregateText.indexOf(text);
      if (at < 0) {
        const argExpr = e.args[0];
        let arg: number | undefined;
        let argType: ColumnType | undefined;
        if (argExpr) {
          rewrite(argExpr, true); // refuses a nested aggregate
          argType = analyzeExpr(argExpr, columns).type;
          if ((name === 'sum' || name === 'avg') && !isNumericType(argType) && argType !== 'Nullable(Nothing)') {
            throw chError('ILLEGAL_TYPE_OF_ARGUMENT', `Illegal type ${argType} of argument for aggregate function ${e.name}`);
          }
          arg = leaves.length;
          leaves.push(argExpr);
          leafTypes.push(argType);
        }
        at = aggregates.length;
        aggregates.push({ name, arg, type: resultType(name, argType) });
        aggregateText.push(text);
      }
      return { kind: 'identifier', name: `__a${at}`, pos: e.pos };
    }
    if (e.kind === 'identifier' && !insideAggregate) {
      throw chError('NOT_AN_AGGREGATE', `Column \`${e.name}\` is not under aggregate function and not in GROUP BY. Have columns: [${keyText.join(', ')}]`);
    }
    if (e.kind === 'call') return { ...e, args: e.args.map((a) => rewrite(a, insideAggregate)) };
    if (e.kind === 'tuple') return { ...e, items: e.items.map((a) => rewrite(a, insideAggregate)) };
    return e;
  };

  const where = stmt.where ? aliasesIn(stmt.where) : undefined;
  if (where && containsAggregate(where)) throw chError('ILLEGAL_AGGREGATION', `Aggregate function is found in WHERE: ${renderExpr(where)}; filter groups with HAVING`);
  const outputExprs = itemExprs.map((e) => rewrite(aliasesIn(e), false));
  const having = stmt.having ? rewrite(aliasesIn(stmt.having), false) : undefined;
  const orderExprs = stmt.orderBy.map((o) => rewrite(aliasesIn(positional(o.expr, itemExprs)), false));
  const groupColumns: Column[] = [...keys.map((_, i) => ({ name: `__k${i}`, type: leafTypes[i] as ColumnType })), ...aggregates.map((a, j) => ({ name: `__a${j}`, type: a.type }))];
  const outputs = [...outputExprs, ...orderExprs].map((e) => analyzeExpr(e, groupColumns));
  if (having) checkFilter(having, groupColumns);
  return {
    leaves,
    columns: items.map((item, i) => ({ name: item.alias ?? item.text, type: (outputs[i] as Compiled<readonly unknown[]>).type })),
    where,
    keyCount: keys.length,
    aggregates,
    outputs,
    having: having ? analyzeExpr(having, groupColumns) : undefined,
    orderKeys: stmt.orderBy.map((o, i) => ({ index: items.length + i, desc: o.desc })),
    limit: stmt.limit,
    offset: stmt.offset ?? 0,
  };
}

/** One aggregate's running state in one group. */
interface State {
  n: number;
  value: SqlValue;
  seen?: Set<string>;
}

function fresh(): State {
  return { n: 0, value: null };
}

function step(name: AggregateName, s: State, v: SqlValue): void {
  if (name === 'count') {
    if (v !== null) s.n++;
    return;
  }
  if (v === null) return; // aggregates skip NULL, as ClickHouse's do
  s.n++;
  switch (name) {
    case 'sum':
    case 'avg':
      s.value = Number(s.value ?? 0) + Number(v);
      return;
    case 'min':
      if (s.value === null || compareValues(v, s.value) < 0) s.value = v;
      return;
    case 'max':
      if (s.value === null || compareValues(v, s.value) > 0) s.value = v;
      return;
    case 'any':
      if (s.n === 1) s.value = v;
      return;
    case 'uniq':
      (s.seen ??= new Set()).add(typeof v === 'number' ? `n${v}` : `s${v}`);
      return;
  }
}

/** A state's value; an empty group gets ClickHouse's defaults (0, '', nan for avg). */
function final(spec: AggregateSpec, s: State): SqlValue {
  switch (spec.name) {
    case 'count':
      return s.n;
    case 'uniq':
      return s.seen?.size ?? 0;
    case 'avg':
      return s.n === 0 ? NaN : Number(s.value) / s.n;
    case 'sum':
      return s.value ?? 0;
    default:
      return s.value ?? (spec.type === 'String' ? '' : 0);
  }
}

/** The groups of one grouped read, fed leaf rows as they arrive from the nodes. */
export class Aggregation {
  private readonly groups = new Map<string, { keys: SqlValue[]; states: State[] }>();

  constructor(
    private readonly plan: AggregatePlan,
    /** most groups held (max_result_rows; 0: none) */
    private readonly maxGroups: number,
  ) {}

  add(rows: readonly (readonly SqlValue[])[]): void {
    const { keyCount, aggregates } = this.plan;
    for (const r of rows) {
      const keys = r.slice(0, keyCount);
      const id = keyCount === 0 ? '' : JSON.stringify(keys);
      const g = this.groups.get(id) ?? this.newGroup(id, keys);
      aggregates.forEach((a, j) => step(a.name, g.states[j] as State, a.arg === undefined ? 1 : (r[a.arg] ?? null)));
    }
  }

  private newGroup(id: string, keys: SqlValue[]): { keys: SqlValue[]; states: State[] } {
    if (this.maxGroups > 0 && this.groups.size >= this.maxGroups) {
      throw chError('TOO_MANY_ROWS_OR_BYTES', `Limit for result exceeded, max rows: ${this.maxGroups}, current rows: ${this.groups.size + 1}`);
    }
    const g = { keys, states: this.plan.aggregates.map(fresh) };
    this.groups.set(id, g);
    return g;
  }

  /** The result rows: one per group (one in all without GROUP BY, even with no rows), HAVING, ORDER BY, LIMIT. */
  rows(): SqlValue[][] {
    const { plan } = this;
    if (this.groups.size === 0 && plan.keyCount === 0) this.groups.set('', { keys: [], states: plan.aggregates.map(fresh) });
    const out: SqlValue[][] = [];
    for (const g of this.groups.values()) {
      const row = [...g.keys, ...plan.aggregates.map((a, j) => final(a, g.states[j] as State))];
      if (plan.having && !isTrue(plan.having.evaluate(row))) continue;
      out.push(plan.outputs.map((o) => o.evaluate(row)));
    }
    if (plan.orderKeys.length > 0) out.sort((a, b) => compareRows(a, b, plan.orderKeys));
    const end = plan.limit === undefined ? out.length : plan.offset + plan.limit;
    return out.slice(plan.offset, end).map((r) => r.slice(0, plan.columns.length));
  }
}
