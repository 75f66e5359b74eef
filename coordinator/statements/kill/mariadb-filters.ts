import type { Expr } from '../../../sql/ast';
import { call, ident, lit } from '../../../sql/build';

/**
 * The filters of the MariaDB KILL forms over information_schema.PROCESSLIST, as expression
 * trees: they travel as renderExpr text like any user's WHERE, and the unit tests type-check
 * them against the table.
 */

/** KILL [CONNECTION|QUERY] id and KILL QUERY ID id: ids are cluster-wide, so this matches one row. */
export function idFilter(column: 'ID' | 'QUERY_ID', id: number): Expr {
  return call('equals', ident(column), lit(id));
}

/** KILL USER name[@host]: every connection of that user, from that host when one is named. */
export function userFilter(user: string, host: string | undefined): Expr {
  const byUser = call('equals', ident('USER'), lit(user));
  const byHost = host === undefined ? undefined : hostFilter(host);
  return byHost === undefined ? byUser : call('and', byUser, byHost);
}

/**
 * `user@host` as MariaDB matches it: the host part of HOST (a backend shows `ip:port`), case
 * folded; `%` and `_` in the host are wildcards; a bare `%` is any host.
 */
function hostFilter(host: string): Expr | undefined {
  if (host === '%') return undefined;
  const lowered = call('lower', ident('HOST'));
  const colon = call('position', lowered, lit(':'));
  const hostOnly = call('if', call('greater', colon, lit(0)), call('substring', lowered, lit(1), call('minus', colon, lit(1))), lowered);
  return call(/[%_]/.test(host) ? 'like' : 'equals', hostOnly, lit(host));
}
