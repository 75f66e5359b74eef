import type { Dialect } from '../../../errors/quell-error';

/**
 * ExecuteRequest.dialect as the statement runner takes it. Unset means nothing: DIALECT_UNSPECIFIED
 * (and a value this coordinator does not know) is no session dialect, and the one statement that
 * needs it, a bare SHOW PROCESSLIST, is refused with BAD_ARGUMENTS (INVALID_ARGUMENT) naming the
 * field (coordinator/statements/select/select.ts); every other statement's form says its dialect.
 */
export function sessionDialect(wire: unknown): Dialect | undefined {
  if (wire === 'DIALECT_MARIADB') return 'mariadb';
  if (wire === 'DIALECT_CLICKHOUSE') return 'clickhouse';
  return undefined;
}
