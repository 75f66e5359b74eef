import { parseStatement } from '../sql/parser';
import { QuellError } from '../sql/errors';
import type { Statement } from '../sql/ast';
import type { ResultSink, StatementContext, StatementOutcome } from './context';
import { kill } from './kill';
import { select, showProcesslist } from './select';

/** parser → interpreter: picks the interpreter for a parsed statement. */
export function interpret(stmt: Statement, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  switch (stmt.kind) {
    case 'kill':
      return kill(stmt, ctx, sink);
    case 'select':
      return select(stmt, ctx, sink);
    case 'showProcesslist':
      return showProcesslist(stmt, ctx, sink);
    case 'mysqlKill':
      // The MariaDB form (connections and cluster-wide thread ids) is the subject of its own issue.
      throw QuellError.mariadb(1235, '42000', 'This version of quell doesn\'t yet support the MariaDB form of KILL');
  }
}

export function parse(sql: string): Statement {
  return parseStatement(sql);
}
