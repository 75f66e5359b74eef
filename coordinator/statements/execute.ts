import type { Statement } from '../../sql/ast';
import type { ResultSink, StatementContext, StatementOutcome } from '../context';
import { kill } from './kill/kill';
import { mariadbKill } from './kill/mariadb-kill';
import { select, showProcesslist } from './select/select';
import { createKillPolicy, dropKillPolicy } from '../policies/kill-policy';

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
      return mariadbKill(stmt, ctx, sink);
    case 'createKillPolicy':
      return createKillPolicy(stmt, ctx, sink);
    case 'dropKillPolicy':
      return dropKillPolicy(stmt, ctx, sink);
  }
}
