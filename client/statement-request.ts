import type { ExecuteRequest } from '../proto/generated/quell/v1/ExecuteRequest';
import { chError, type Dialect } from '../errors/quell-error';

/** How long a client waits for a connection to one coordinator before trying the next. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** `a,b,c` or a list: the coordinator addresses, in the order they are tried. */
export function coordinatorAddresses(spec: string | readonly string[]): string[] {
  const list = (typeof spec === 'string' ? [spec] : spec).flatMap((a) => a.split(',')).map((a) => a.trim()).filter(Boolean);
  if (list.length === 0) throw chError('BAD_ARGUMENTS', 'no coordinator address given');
  return list;
}

/** A statement as the coordinator's Execute and Session calls take it. */
export function executeRequest(sql: string, login: { readonly user?: string; readonly password?: string }, o: { readonly statementId?: string; readonly dialect?: Dialect }): ExecuteRequest {
  return {
    sql,
    user: login.user ?? 'default',
    password: login.password ?? '',
    statement_id: o.statementId ?? '',
    dialect: o.dialect === 'mariadb' ? 'DIALECT_MARIADB' : 'DIALECT_CLICKHOUSE',
  };
}
