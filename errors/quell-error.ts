/**
 * Every error a user can see is a QuellError: a numeric code, a name, a one-line message.
 * ClickHouse-form errors carry ClickHouse codes and names; MariaDB-form errors carry the
 * MariaDB error number and its SQLSTATE. Rendering to text happens only in renderError().
 */

export const ErrorCode = {
  NUMBER_OF_ARGUMENTS_DOESNT_MATCH: 42,
  ILLEGAL_TYPE_OF_ARGUMENT: 43,
  UNKNOWN_FUNCTION: 46,
  UNKNOWN_IDENTIFIER: 47,
  NOT_IMPLEMENTED: 48,
  LOGICAL_ERROR: 49,
  BAD_ARGUMENTS: 36,
  UNKNOWN_TABLE: 60,
  SYNTAX_ERROR: 62,
  UNKNOWN_FORMAT: 73,
  CANNOT_OPEN_FILE: 76,
  UNKNOWN_SETTING: 115,
  READONLY: 164,
  TIMEOUT_EXCEEDED: 159,
  TOO_MANY_SIMULTANEOUS_QUERIES: 202,
  NETWORK_ERROR: 210,
  ABORTED: 236,
  QUERY_WAS_CANCELLED: 394,
  TOO_MANY_ROWS_OR_BYTES: 396,
  SETTING_CONSTRAINT_VIOLATION: 452,
  MEMORY_LIMIT_EXCEEDED: 241,
  ILLEGAL_AGGREGATION: 184,
  NOT_AN_AGGREGATE: 215,
  ALL_CONNECTION_TRIES_FAILED: 279,
  ACCESS_ENTITY_ALREADY_EXISTS: 493,
  ACCESS_DENIED: 497,
  AUTHENTICATION_FAILED: 516,
  UNKNOWN_ROW_POLICY: 523,
  CLUSTER_DOESNT_EXIST: 701,
} as const;

export type ErrorName = keyof typeof ErrorCode;

export type Dialect = 'clickhouse' | 'mariadb';

export class QuellError extends Error {
  /** ClickHouse code, or MariaDB error number. */
  readonly code: number;
  /** ClickHouse error name, or MariaDB SQLSTATE. */
  readonly errorName: string;
  readonly dialect: Dialect;
  /** Worth trying again unchanged (a node or etcd that may come back). */
  readonly retryable: boolean;

  constructor(code: number, errorName: string, message: string, dialect: Dialect = 'clickhouse', retryable = false) {
    super(oneLine(message));
    this.name = 'QuellError';
    this.code = code;
    this.errorName = errorName;
    this.dialect = dialect;
    this.retryable = retryable;
  }

  static clickhouse(name: ErrorName, message: string, retryable = false): QuellError {
    return new QuellError(ErrorCode[name], name, message, 'clickhouse', retryable);
  }

  static mariadb(code: number, sqlstate: string, message: string): QuellError {
    return new QuellError(code, sqlstate, message, 'mariadb');
  }
}

/** Shorthand for the ClickHouse-form errors. */
export function chError(name: ErrorName, message: string, retryable = false): QuellError {
  return QuellError.clickhouse(name, message, retryable);
}

/** `Code: 62. SYNTAX_ERROR: …` or `ERROR 1094 (HY000): …`: the one place errors become text. */
export function renderError(e: { code: number; errorName: string; message: string; dialect: Dialect }): string {
  if (e.dialect === 'mariadb') return `ERROR ${e.code} (${e.errorName}): ${e.message}`;
  return `Code: ${e.code}. ${e.errorName}: ${e.message}`;
}

/** The text on one line: each line break, with the blanks around it, becomes one space (one linear pass, whatever the text). */
export function oneLine(s: string): string {
  const lines = s.split(/[\r\n]+/);
  if (lines.length === 1) return s;
  const last = lines.length - 1;
  return lines
    .map((line, i) => (i === 0 ? line.trimEnd() : i === last ? line.trimStart() : line.trim()))
    .filter((line, i) => line !== '' || i === 0 || i === last)
    .join(' ');
}
