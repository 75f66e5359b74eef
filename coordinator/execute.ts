import { parseStatement } from '../sql/parser';
import { chError, QuellError } from '../sql/errors';
import type { Statement } from '../sql/ast';
import type { ResultSink, StatementContext, StatementOutcome } from './context';
import { killQuery } from './kill-query';
import { select, showProcesslist } from './select';

/** parser → interpreter: picks the interpreter for a parsed statement. */
export function interpret(stmt: Statement, ctx: StatementContext, sink: ResultSink): Promise<StatementOutcome> {
  switch (stmt.kind) {
    case 'kill':
      if (stmt.target === 'QUERY') return killQuery(stmt, ctx, sink);
      // KILL MUTATION is the subject of its own issue (mutations across a cluster, durable kills).
      throw chError('NOT_IMPLEMENTED', 'KILL MUTATION is not supported by this coordinator yet');
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
