import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, renderError, type QuellError } from '../../../errors/quell-error';

/**
 * A failed statement as ClickHouse's HTTP interface answers it: the status its
 * exceptionCodeToHTTPStatus gives the code, and the text of its getExceptionMessage
 * (`Code: 516. DB::Exception: alice: Authentication failed: …. (AUTHENTICATION_FAILED) (version …)`),
 * which is what @clickhouse/client and other drivers parse.
 */

const STATUS_BY_CODE: ReadonlyMap<number, number> = new Map([
  // ClickHouse answers a wrong password with 403, and only a missing one (REQUIRED_PASSWORD) with 401
  [ErrorCode.AUTHENTICATION_FAILED, 403],
  [ErrorCode.ACCESS_DENIED, 403],
  [ErrorCode.BAD_ARGUMENTS, 400],
  [ErrorCode.SYNTAX_ERROR, 400],
  [ErrorCode.UNKNOWN_TABLE, 404],
  [ErrorCode.UNKNOWN_FUNCTION, 404],
  [ErrorCode.UNKNOWN_IDENTIFIER, 404],
  [ErrorCode.UNKNOWN_SETTING, 404],
  [ErrorCode.UNKNOWN_FORMAT, 404],
  [ErrorCode.NOT_IMPLEMENTED, 501],
  [ErrorCode.CANNOT_OPEN_FILE, 503],
  [ErrorCode.TIMEOUT_EXCEEDED, 408],
]);

/** The HTTP status ClickHouse sends for an error; 500 for every code it does not single out. */
export function httpStatusOf(err: QuellError): number {
  if (err.dialect === 'mariadb') return 500;
  return STATUS_BY_CODE.get(err.code) ?? 500;
}

let version: string | undefined;

/** quell's version, where ClickHouse names its own. */
function quellVersion(): string {
  if (version === undefined) {
    try {
      // dist/coordinator/doors/http/ → the package root
      const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
      version = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

/**
 * The error's text as ClickHouse writes it into an HTTP body (without the newline). A MariaDB-form
 * error (a MariaDB statement sent over HTTP) keeps its own words: `ERROR 1094 (HY000): …`.
 */
export function clickhouseExceptionText(err: QuellError): string {
  if (err.dialect === 'mariadb') return renderError(err);
  const text = `DB::Exception: ${err.message}`;
  const stop = text.endsWith('.') ? '' : '.';
  return `Code: ${err.code}. ${text}${stop} (${err.errorName}) (version ${quellVersion()} (quell))`;
}
