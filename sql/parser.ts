import type {
  CreateKillPolicyStatement,
  DropKillPolicyStatement,
  Expr,
  KillMode,
  KillStatement,
  MysqlKillStatement,
  OrderItem,
  PolicyTarget,
  SelectItem,
  SelectStatement,
  Setting,
  ShowProcesslistStatement,
  Statement,
  TableRef,
  Tail,
} from './ast';
import { chError, QuellError } from '../errors/quell-error';
import { RESERVED_WORDS, renderExpr } from './render';
import { lexErrorMessage, scan, snippet, type Token } from './tokenizer';
import type { SqlValue } from './types';

/** ClickHouse's default max_query_size. */
export const MAX_QUERY_SIZE = 262144;
/**
 * Expressions arrive from the coordinator already rendered as function calls, which is longer
 * than what the user typed (`a>=b` is `greaterOrEquals(a, b)`), so they get more room.
 */
export const MAX_EXPRESSION_SIZE = 8 * MAX_QUERY_SIZE;
/** Nesting limit for parentheses, calls and operator chains: deep garbage must not blow the stack. */
export const MAX_PARSE_DEPTH = 128;

export function parseStatement(text: string): Statement {
  checkSize(text, MAX_QUERY_SIZE);
  return new Parser(text).statement();
}

export function parseExpression(text: string): Expr {
  checkSize(text, MAX_EXPRESSION_SIZE);
  const p = new Parser(text);
  return p.standaloneExpression();
}

function checkSize(text: string, max: number): void {
  // A UTF-16 unit is at most 3 UTF-8 bytes, so most statements pass without counting.
  if (text.length * 3 <= max) return;
  // Counting is native and linear (a few ms for 10 MB), and happens before any lexing.
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > max) throw maxQuerySizeExceeded(String(bytes), max);
}

/** The error for a statement over MAX_QUERY_SIZE; `bytes` is its size, or a bound ("more than 262144") when it was not read whole. */
export function maxQuerySizeExceeded(bytes: string, max = MAX_QUERY_SIZE): QuellError {
  return chError('SYNTAX_ERROR', `Max query size exceeded: ${bytes} bytes, max ${max}`);
}

const COMPARISONS: Readonly<Record<string, string>> = {
  '=': 'equals',
  '==': 'equals',
  '!=': 'notEquals',
  '<>': 'notEquals',
  '<': 'less',
  '<=': 'lessOrEquals',
  '>': 'greater',
  '>=': 'greaterOrEquals',
};

const OP_NAMES: Readonly<Record<string, string>> = {
  '(': 'opening bracket',
  ')': 'closing bracket',
  ',': 'comma',
};

const END = 'end of query';
const EXPRESSION = 'expression';

type Dialect = 'clickhouse' | 'mariadb';

class Parser {
  private readonly tokens: Token[];
  private readonly scanError: { readonly pos: number; readonly message: string } | undefined;
  private i = 0;
  /** What the parser tried at the current token and did not find: the error's "Expected one of". */
  private expected: string[] = [];
  private depth = 0;
  /** Depth of each call node built, so operator chains count towards the nesting limit. */
  private readonly treeDepth = new Map<Expr, number>();
  /** Upper-cased spelling of each word token, for keyword checks. */
  private readonly upper: string[];
  private dialect: Dialect = 'clickhouse';

  constructor(private readonly text: string) {
    const r = scan(text);
    this.tokens = r.tokens;
    this.scanError = r.error;
    this.upper = r.tokens.map((t) => (t.kind === 'word' ? t.value.toUpperCase() : ''));
  }

  // ---- statements -------------------------------------------------------------------------

  statement(): Statement {
    let st: Statement;
    const first = this.kw();
    if (first === 'KILL') st = this.kill();
    else if (first === 'SELECT') st = this.select();
    else if (first === 'SHOW') st = this.show();
    else if (first === 'CREATE') st = this.createKillPolicy();
    else if (first === 'DROP') st = this.dropKillPolicy();
    else {
      this.expected.push('KILL', 'SELECT', 'SHOW', 'CREATE', 'DROP');
      this.fail();
    }
    this.finish();
    return st;
  }

  standaloneExpression(): Expr {
    const e = this.expr();
    this.expectEnd();
    return e;
  }

  /** One optional `;`, then nothing. */
  private finish(): void {
    if (this.peek().text === ';' && this.peek().kind === 'op') this.advance();
    this.expectEnd();
  }

  private expectEnd(): void {
    if (this.peek().kind !== 'end' || this.scanError) {
      this.expected.push(END);
      this.fail();
    }
  }

  private kill(): Statement {
    this.advance();
    if (this.kw() === 'MUTATION') return this.clickhouseKill();
    // KILL CONNECTION ON CLUSTER … / WHERE …: no MariaDB KILL takes those words there
    if (this.kw() === 'CONNECTION' && (this.kw(1) === 'ON' || this.kw(1) === 'WHERE')) return this.clickhouseKill();
    if (this.kw() === 'QUERY') {
      const n = this.peek(1);
      const endsHere = n.kind === 'end' || (n.kind === 'op' && n.text === ';' && this.peek(2).kind === 'end');
      if (this.kw(1) === 'ON' || this.kw(1) === 'WHERE' || endsHere) return this.clickhouseKill();
    }
    this.dialect = 'mariadb';
    return this.mariadbKill();
  }

  private clickhouseKill(): KillStatement {
    const word = this.advance().value.toUpperCase();
    const target = word === 'MUTATION' || word === 'CONNECTION' ? word : 'QUERY';
    const cluster = this.onCluster();
    this.expectKw('WHERE');
    const where = this.expr();
    const orderBy = this.acceptKw('ORDER', 'ORDER BY') ? this.orderItems() : [];
    const limit = this.acceptKw('LIMIT') ? this.signedInteger() : undefined;
    let mode: KillMode = 'ASYNC';
    for (const m of ['SYNC', 'ASYNC', 'TEST'] as const) {
      if (this.acceptKw(m)) {
        mode = m;
        break;
      }
    }
    const tail = this.tail();
    return { kind: 'kill', target, ...(cluster !== undefined ? { cluster } : {}), where, orderBy, ...(limit !== undefined ? { limit } : {}), mode, ...tail };
  }

  private onCluster(): string | undefined {
    if (!this.acceptKw('ON', 'ON CLUSTER')) return undefined;
    this.expectKw('CLUSTER');
    return this.name('cluster name');
  }

  /** A name that may be a bare word (keywords included: position decides), quoted, or a string. */
  private name(what: string): string {
    const t = this.peek();
    if (t.kind === 'word' || t.kind === 'quotedIdent' || t.kind === 'string') {
      this.advance();
      return t.value;
    }
    this.expected.push(what);
    return this.fail();
  }

  private tail(): Tail {
    let settings: Setting[] | undefined;
    let format: Tail['format'];
    for (;;) {
      if (settings === undefined && this.acceptKw('SETTINGS')) settings = this.settings();
      else if (format === undefined && this.acceptKw('FORMAT')) {
        const pos = this.peek().pos;
        format = { name: this.name('format name'), pos };
      } else break;
    }
    return { settings: settings ?? [], ...(format ? { format } : {}) };
  }

  private settings(): Setting[] {
    const out: Setting[] = [];
    do {
      const t = this.peek();
      if (t.kind !== 'word') {
        this.expected.push('setting name');
        this.fail();
      }
      this.advance();
      this.expectOp('=');
      out.push({ name: t.value, value: this.settingValue(), pos: t.pos });
    } while (this.acceptOp(','));
    return out;
  }

  private settingValue(): SqlValue {
    const t = this.peek();
    const neg = t.kind === 'op' && t.text === '-' && this.peek(1).kind === 'number';
    const v = neg ? this.peek(1) : t;
    if (v.kind === 'number' && v.num !== undefined) {
      this.advance();
      if (neg) this.advance();
      return neg ? -v.num : v.num;
    }
    if (t.kind === 'string') {
      this.advance();
      return t.value;
    }
    if (t.kind === 'word' || t.kind === 'quotedIdent') {
      this.advance();
      const up = t.value.toUpperCase();
      if (t.kind === 'word' && up === 'TRUE') return 1;
      if (t.kind === 'word' && up === 'FALSE') return 0;
      if (t.kind === 'word' && up === 'NULL') return null;
      // Enum-like settings read naturally unquoted: distributed_ddl_output_mode = throw.
      return t.value;
    }
    this.expected.push('literal');
    return this.fail();
  }

  private select(): SelectStatement {
    this.advance();
    const items: SelectItem[] = [];
    do items.push(this.selectItem());
    while (this.acceptOp(','));

    let from: TableRef = { kind: 'table', name: 'system.one', pos: this.peek().pos };
    if (this.acceptKw('FROM')) from = this.tableRef();
    const where = this.acceptKw('WHERE') ? this.expr() : undefined;
    const groupBy: Expr[] = [];
    if (this.acceptKw('GROUP', 'GROUP BY')) {
      this.expectKw('BY');
      do groupBy.push(this.expr());
      while (this.acceptOp(','));
    }
    const having = this.acceptKw('HAVING') ? this.expr() : undefined;
    const orderBy = this.acceptKw('ORDER', 'ORDER BY') ? this.orderItems() : [];
    let limit: number | undefined;
    let offset: number | undefined;
    if (this.acceptKw('LIMIT')) {
      limit = this.unsigned();
      if (this.acceptOp(',')) {
        offset = limit;
        limit = this.unsigned();
      } else if (this.acceptKw('OFFSET')) {
        offset = this.unsigned();
      }
    }
    const tail = this.tail();
    return {
      kind: 'select',
      items,
      from,
      ...(where ? { where } : {}),
      ...(groupBy.length > 0 ? { groupBy } : {}),
      ...(having ? { having } : {}),
      orderBy,
      ...(limit !== undefined ? { limit } : {}),
      ...(offset !== undefined ? { offset } : {}),
      ...tail,
    };
  }

  /** After ORDER: `BY expr [ASC|DESC][, …]` (SELECT, ranked KILL, kill policies). */
  private orderItems(): OrderItem[] {
    this.expectKw('BY');
    const items: OrderItem[] = [];
    do {
      const expr = this.expr();
      let desc = false;
      if (this.acceptKw('DESC')) desc = true;
      else this.acceptKw('ASC');
      items.push({ expr, desc });
    } while (this.acceptOp(','));
    return items;
  }

  private selectItem(): SelectItem {
    const t = this.peek();
    if (t.kind === 'op' && t.text === '*') {
      this.advance();
      return { text: '*' };
    }
    const expr = this.expr();
    // ClickHouse names a column after its identifier as is: `limit`'s column is limit, unquoted
    const text = expr.kind === 'identifier' ? expr.name : renderExpr(expr);
    let alias: string | undefined;
    const a = this.peek();
    if (this.acceptKw('AS')) alias = this.identifierName('alias');
    else if (a.kind === 'quotedIdent' || (a.kind === 'word' && !RESERVED_WORDS.has(a.value.toUpperCase()))) {
      this.advance();
      alias = a.value;
    }
    return { expr, ...(alias !== undefined ? { alias } : {}), text };
  }

  private identifierName(what: string): string {
    const t = this.peek();
    if (t.kind === 'word' || t.kind === 'quotedIdent') {
      this.advance();
      return t.value;
    }
    this.expected.push(what);
    return this.fail();
  }

  private unsigned(): number {
    const t = this.peek();
    if (t.kind === 'number' && !t.isFloat && t.num !== undefined && Number.isSafeInteger(t.num)) {
      this.advance();
      return t.num;
    }
    this.expected.push('unsigned integer');
    return this.fail();
  }

  private tableRef(): TableRef {
    const t = this.peek();
    if (t.kind === 'word' && this.peek(1).kind === 'op' && this.peek(1).text === '(') {
      const fn = t.value.toLowerCase();
      if (fn !== 'clusterallreplicas' && fn !== 'cluster') {
        throw chError('UNKNOWN_FUNCTION', `Unknown table function ${t.value}`);
      }
      this.advance();
      this.advance();
      const cluster = this.name('cluster name');
      this.expectOp(',');
      let name = this.qualifiedName();
      // clusterAllReplicas('c', system, processes): database and table as separate arguments.
      if (!name.includes('.') && this.acceptOp(',')) name = `${name}.${this.identifierName('table name')}`;
      this.expectOp(')');
      return { kind: 'cluster', cluster, name, pos: t.pos };
    }
    return { kind: 'table', name: this.qualifiedName(), pos: t.pos };
  }

  private qualifiedName(): string {
    let name = this.identifierName('table name');
    const dot = this.peek();
    if (dot.kind === 'op' && dot.text === '.') {
      this.advance();
      name += '.' + this.identifierName('table name');
    }
    return name;
  }

  private show(): ShowProcesslistStatement | SelectStatement {
    const show = this.advance();
    const full = this.acceptKw('FULL');
    if (!full && this.acceptKw('KILL')) {
      this.expectKw('POLICIES');
      // SHOW KILL POLICIES is SELECT * FROM system.kill_policies
      return { kind: 'select', items: [{ text: '*' }], from: { kind: 'table', name: 'system.kill_policies', pos: show.pos }, orderBy: [], ...this.tail() };
    }
    this.expectKw('PROCESSLIST');
    const cluster = this.onCluster();
    const tail = this.tail();
    return { kind: 'showProcesslist', full, ...(cluster !== undefined ? { cluster } : {}), ...tail };
  }

  // ---- kill policies -----------------------------------------------------------------------

  /** CREATE KILL POLICY …: the clauses after WHERE may come in any order, each once. */
  private createKillPolicy(): CreateKillPolicyStatement {
    this.advance();
    this.expectKw('KILL');
    this.expectKw('POLICY');
    const ifNotExists = this.ifExistsClause(['IF', 'NOT', 'EXISTS']);
    const name = this.name('policy name');
    const cluster = this.onCluster();
    this.expectKw('WHERE');
    const where = this.expr();
    let target: PolicyTarget | undefined;
    let everySeconds: number | undefined;
    let limit: number | undefined;
    let orderBy: OrderItem[] | undefined;
    let dryRun = false;
    let escalateAfterSeconds: number | undefined;
    let reason: string | undefined;
    for (;;) {
      if (target === undefined && this.acceptKw('KILL')) target = this.policyTarget();
      else if (orderBy === undefined && this.acceptKw('ORDER', 'ORDER BY')) orderBy = this.orderItems();
      else if (everySeconds === undefined && this.acceptKw('EVERY')) {
        everySeconds = this.signedInteger();
        if (!this.acceptKw('SECONDS')) this.expectKw('SECOND');
      } else if (limit === undefined && this.acceptKw('LIMIT')) limit = this.signedInteger();
      else if (escalateAfterSeconds === undefined && this.acceptKw('ESCALATE')) {
        this.expectKw('AFTER');
        escalateAfterSeconds = this.signedInteger();
        if (!this.acceptKw('SECONDS')) this.expectKw('SECOND');
      } else if (reason === undefined && this.acceptKw('REASON')) reason = this.policyReason();
      else if (!dryRun && this.acceptKw('DRY', 'DRY RUN')) {
        this.expectKw('RUN');
        dryRun = true;
      } else break;
    }
    return {
      kind: 'createKillPolicy',
      name,
      ifNotExists,
      ...(cluster !== undefined ? { cluster } : {}),
      where,
      target: target ?? 'QUERY',
      ...(everySeconds !== undefined ? { everySeconds } : {}),
      ...(limit !== undefined ? { limit } : {}),
      orderBy: orderBy ?? [],
      dryRun,
      ...(escalateAfterSeconds !== undefined ? { escalateAfterSeconds } : {}),
      ...(reason !== undefined ? { reason } : {}),
      ...this.tail(),
    };
  }

  /** REASON 'text': a string literal (its content is the interpreter's to judge). */
  private policyReason(): string {
    const t = this.peek();
    if (t.kind === 'string') {
      this.advance();
      return t.value;
    }
    this.expected.push('string literal');
    return this.fail();
  }

  private dropKillPolicy(): DropKillPolicyStatement {
    this.advance();
    this.expectKw('KILL');
    this.expectKw('POLICY');
    const ifExists = this.ifExistsClause(['IF', 'EXISTS']);
    const name = this.name('policy name');
    const cluster = this.onCluster();
    return { kind: 'dropKillPolicy', name, ifExists, ...(cluster !== undefined ? { cluster } : {}), ...this.tail() };
  }

  /** `IF [NOT] EXISTS` before a name; only the whole phrase counts, so a policy may still be called `if`. */
  private ifExistsClause(words: readonly string[]): boolean {
    if (this.kw() !== 'IF' || this.kw(1) !== words[1]) return false;
    for (const w of words) this.expectKw(w);
    return true;
  }

  private policyTarget(): PolicyTarget {
    for (const t of ['QUERY', 'CONNECTION', 'MUTATION'] as const) if (this.acceptKw(t)) return t;
    return this.fail();
  }

  /** An integer with an optional minus: its range is the interpreter's to judge. */
  private signedInteger(): number {
    const t = this.peek();
    if (t.kind === 'op' && t.text === '-' && this.peek(1).kind === 'number') {
      this.advance();
      return 0 - this.unsigned();
    }
    return this.unsigned();
  }

  private mariadbKill(): MysqlKillStatement {
    let soft = false;
    if (this.acceptKw('SOFT')) soft = true;
    else this.acceptKw('HARD');
    let target: 'CONNECTION' | 'QUERY' = 'CONNECTION';
    if (this.acceptKw('QUERY')) {
      target = 'QUERY';
      if (this.acceptKw('ID')) return { kind: 'mysqlKill', soft, target, by: { kind: 'queryId', expr: this.expr() } };
    } else {
      this.acceptKw('CONNECTION');
    }
    if (this.acceptKw('USER')) return { kind: 'mysqlKill', soft, target, by: this.mariadbUser() };
    return { kind: 'mysqlKill', soft, target, by: { kind: 'threadId', expr: this.expr() } };
  }

  private mariadbUser(): MysqlKillStatement['by'] {
    const t = this.peek();
    if (this.kw() === 'CURRENT_USER') {
      this.advance();
      if (this.acceptOp('(')) this.expectOp(')');
      return { kind: 'currentUser' };
    }
    if (t.kind !== 'word' && t.kind !== 'quotedIdent' && t.kind !== 'string') this.fail();
    this.advance();
    const user = t.value;
    if (!this.acceptOp('@')) return { kind: 'user', user };
    return { kind: 'user', user, host: this.mariadbHost().toLowerCase() };
  }

  /** MariaDB lexes an unquoted host (`bob@10.0.0.1`, `bob@db-1`) as one word; so do we. */
  private mariadbHost(): string {
    const t = this.peek();
    if (t.kind === 'string' || t.kind === 'quotedIdent') {
      this.advance();
      return t.value;
    }
    if (t.kind === 'end') this.fail();
    const re = /[A-Za-z0-9_.$%-]+/y;
    re.lastIndex = t.pos;
    const m = re.exec(this.text);
    if (!m) this.fail();
    const end = t.pos + m[0].length;
    let j = this.i;
    while (j < this.tokens.length - 1 && (this.tokens[j]?.pos ?? Infinity) < end) j++;
    const last = this.tokens[j - 1];
    if (last && last.pos + last.text.length > end) this.fail();
    this.i = j;
    this.expected = [];
    return m[0];
  }

  // ---- expressions -------------------------------------------------------------------------

  private expr(): Expr {
    this.enter();
    const e = this.orExpr();
    this.depth--;
    return e;
  }

  private enter(): void {
    if (++this.depth > MAX_PARSE_DEPTH) throw depthError();
  }

  private orExpr(): Expr {
    return this.chain('OR', 'or', () => this.andExpr());
  }

  private andExpr(): Expr {
    return this.chain('AND', 'and', () => this.notExpr());
  }

  /** ClickHouse makes one n-ary call of `a OR b OR c`, which also keeps the tree shallow. */
  private chain(kw: string, fn: string, operand: () => Expr): Expr {
    const first = operand();
    if (this.kw() !== kw) return first;
    const args = [first];
    while (this.kw() === kw) {
      this.advance();
      args.push(operand());
    }
    return this.call(fn, args, first.pos);
  }

  private notExpr(): Expr {
    const t = this.peek();
    if (this.kw() !== 'NOT') return this.comparison();
    this.advance();
    this.enter();
    const operand = this.notExpr();
    this.depth--;
    return this.call('not', [operand], t.pos);
  }

  private comparison(): Expr {
    let left = this.additive();
    for (;;) {
      const t = this.peek();
      if (t.kind === 'op' && COMPARISONS[t.text] !== undefined) {
        this.advance();
        left = this.call(COMPARISONS[t.text] ?? '', [left, this.additive()], left.pos);
        continue;
      }
      const kw = this.kw();
      if (kw === '') return left;
      let negated = false;
      let op = kw;
      if (kw === 'NOT') {
        const next = this.kw(1);
        if (next !== 'LIKE' && next !== 'ILIKE' && next !== 'IN' && next !== 'BETWEEN') return left;
        this.advance();
        negated = true;
        op = next;
      }
      if (op === 'LIKE' || op === 'ILIKE' || op === 'IN') {
        this.advance();
        const names: Record<string, [string, string]> = {
          LIKE: ['like', 'notLike'],
          ILIKE: ['ilike', 'notILike'],
          IN: ['in', 'notIn'],
        };
        const pair = names[op] ?? ['', ''];
        left = this.call(negated ? pair[1] : pair[0], [left, this.additive()], left.pos);
      } else if (op === 'BETWEEN') {
        this.advance();
        const lo = this.additive();
        this.expectKw('AND');
        const hi = this.additive();
        left = negated
          ? this.call('or', [this.call('less', [left, lo], left.pos), this.call('greater', [left, hi], left.pos)], left.pos)
          : this.call(
              'and',
              [this.call('greaterOrEquals', [left, lo], left.pos), this.call('lessOrEquals', [left, hi], left.pos)],
              left.pos,
            );
      } else if (op === 'IS') {
        this.advance();
        const not = this.acceptKw('NOT');
        this.expectKw('NULL');
        left = this.call(not ? 'isNotNull' : 'isNull', [left], left.pos);
      } else {
        return left;
      }
    }
  }

  private additive(): Expr {
    let left = this.multiplicative();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || (t.text !== '+' && t.text !== '-')) return left;
      this.advance();
      left = this.call(t.text === '+' ? 'plus' : 'minus', [left, this.multiplicative()], left.pos);
    }
  }

  private multiplicative(): Expr {
    const names: Record<string, string> = { '*': 'multiply', '/': 'divide', '%': 'modulo' };
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      const fn = t.kind === 'op' ? names[t.text] : undefined;
      if (fn === undefined) return left;
      this.advance();
      left = this.call(fn, [left, this.unary()], left.pos);
    }
  }

  private unary(): Expr {
    const t = this.peek();
    if (t.kind !== 'op' || t.text !== '-') return this.primary();
    this.advance();
    // `-1` is a negative literal, as in ClickHouse; `-x` is negate(x).
    const lit = this.numberLiteral();
    if (lit) {
      this.advance();
      const v = lit.value === 0 && !lit.isFloat ? 0 : -lit.value;
      return { kind: 'literal', value: v, isFloat: lit.isFloat, pos: t.pos };
    }
    this.enter();
    const operand = this.unary();
    this.depth--;
    return this.call('negate', [operand], t.pos);
  }

  /** The current token as a number literal (`inf` and `nan` included), if it is one. */
  private numberLiteral(): { value: number; isFloat: boolean } | undefined {
    const t = this.peek();
    if (t.kind === 'number' && t.num !== undefined) return { value: t.num, isFloat: t.isFloat === true };
    const up = this.kw();
    if ((up === 'INF' || up === 'NAN') && !this.nextIsOpenParen(1)) return { value: up === 'INF' ? Infinity : NaN, isFloat: true };
    return undefined;
  }

  private nextIsOpenParen(k: number): boolean {
    const n = this.peek(k);
    return n.kind === 'op' && n.text === '(';
  }

  private primary(): Expr {
    const t = this.peek();
    const lit = this.numberLiteral();
    if (lit) {
      this.advance();
      return { kind: 'literal', value: lit.value, isFloat: lit.isFloat, pos: t.pos };
    }
    if (t.kind === 'string') {
      this.advance();
      return { kind: 'literal', value: t.value, pos: t.pos };
    }
    if (t.kind === 'quotedIdent') {
      this.advance();
      return { kind: 'identifier', name: t.value, pos: t.pos };
    }
    if (t.kind === 'word') {
      if (this.nextIsOpenParen(1)) return this.functionCall(t);
      const up = this.kw();
      if (up === 'NULL') {
        this.advance();
        return { kind: 'literal', value: null, pos: t.pos };
      }
      if (up === 'TRUE' || up === 'FALSE') {
        this.advance();
        return { kind: 'literal', value: up === 'TRUE' ? 1 : 0, isFloat: false, pos: t.pos };
      }
      if (!RESERVED_WORDS.has(up)) {
        this.advance();
        return { kind: 'identifier', name: t.value, pos: t.pos };
      }
    }
    if (t.kind === 'op' && t.text === '(') return this.parenthesized();
    this.expected.push(EXPRESSION);
    return this.fail();
  }

  private functionCall(name: Token): Expr {
    this.advance();
    this.advance();
    const args = this.exprList();
    return this.call(name.value, args, name.pos);
  }

  /** Comma-separated expressions up to and including `)`; the `(` is already consumed. */
  private exprList(): Expr[] {
    const items: Expr[] = [];
    if (!this.acceptOp(')')) {
      do items.push(this.expr());
      while (this.acceptOp(','));
      this.expectOp(')');
    }
    return items;
  }

  private parenthesized(): Expr {
    const open = this.advance();
    if (this.dialect === 'mariadb' && this.kw() === 'SELECT') {
      throw QuellError.mariadb(1970, '42000', 'KILL does not support subqueries or stored functions');
    }
    const items = this.exprList();
    if (items.length === 1 && items[0]) return items[0];
    return this.node({ kind: 'tuple', items, pos: open.pos });
  }

  private call(name: string, args: Expr[], pos: number): Expr {
    return this.node({ kind: 'call', name, args, pos });
  }

  private node(e: Expr & { kind: 'call' | 'tuple' }): Expr {
    const children = e.kind === 'call' ? e.args : e.items;
    let d = 1;
    for (const c of children) d = Math.max(d, (this.treeDepth.get(c) ?? 1) + 1);
    if (d > MAX_PARSE_DEPTH) throw depthError();
    this.treeDepth.set(e, d);
    return e;
  }

  // ---- tokens ------------------------------------------------------------------------------

  private peek(k = 0): Token {
    const last = this.tokens.length - 1;
    return this.tokens[Math.min(this.i + k, last)] ?? (this.tokens[last] as Token);
  }

  private advance(): Token {
    const t = this.peek();
    if (t.kind !== 'end') this.i++;
    this.expected = [];
    return t;
  }

  /** The upper-cased word k tokens ahead, '' if that token is not a word. */
  private kw(k = 0): string {
    return this.upper[Math.min(this.i + k, this.upper.length - 1)] ?? '';
  }

  private acceptKw(kw: string, label = kw): boolean {
    if (this.kw() === kw) {
      this.advance();
      return true;
    }
    this.expected.push(label);
    return false;
  }

  private expectKw(kw: string): void {
    if (!this.acceptKw(kw)) this.fail();
  }

  private acceptOp(op: string): boolean {
    const t = this.peek();
    if (t.kind === 'op' && t.text === op) {
      this.advance();
      return true;
    }
    this.expected.push(OP_NAMES[op] ?? `'${op}'`);
    return false;
  }

  private expectOp(op: string): void {
    if (!this.acceptOp(op)) this.fail();
  }

  private fail(): never {
    const t = this.peek();
    const lexical = t.kind === 'end' && this.scanError ? this.scanError : undefined;
    if (this.dialect === 'mariadb') {
      const line = countLines(this.text, t.pos);
      throw QuellError.mariadb(
        1064,
        '42000',
        `You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '${snippet(this.text, t.pos)}' at line ${line}`,
      );
    }
    if (lexical) throw chError('SYNTAX_ERROR', lexErrorMessage(this.text, lexical.pos, lexical.message));
    const expected = [...new Set(this.expected)].join(', ');
    const where =
      t.kind === 'end'
        ? `failed at position ${t.pos + 1} (end of query)`
        : `failed at position ${t.pos + 1} ('${t.text.slice(0, 80)}'): ${snippet(this.text, t.pos)}`;
    throw chError('SYNTAX_ERROR', `Syntax error: ${where}` + (expected ? `. Expected one of: ${expected}` : ''));
  }
}

function depthError(): QuellError {
  return chError('SYNTAX_ERROR', `Maximum parse depth exceeded (max ${MAX_PARSE_DEPTH})`);
}

function countLines(text: string, pos: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < pos; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
