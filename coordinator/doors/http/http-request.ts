import type { IncomingHttpHeaders } from 'node:http';
import { chError, type QuellError } from '../../../errors/quell-error';
import { canonicalFormatName } from '../../../sql/formats';
import type { Setting } from '../../../sql/ast';
import { isSettingName } from '../../statements/settings';

/**
 * What a ClickHouse HTTP request says besides its statement text: who logs in, the default
 * format, the query id and settings, read the way ClickHouse's HTTPHandler and
 * authenticateUserByHTTP read them. Pure: headers and parameters in, values or a coded error out.
 */

export interface HttpCredentials {
  /** 'default' when the request names nobody */
  readonly user: string;
  readonly password: string;
  /** `X-ClickHouse-SSL-Certificate-Auth: on`: the client certificate is the credential */
  readonly certificateAuth: boolean;
}

export interface HttpStatementParams {
  readonly credentials: HttpCredentials;
  /** the `query` parameter, if given (the body follows it after a newline) */
  readonly query: string | undefined;
  /** the `query_id` parameter or `X-ClickHouse-Query-Id` header; undefined: the coordinator picks one */
  readonly queryId: string | undefined;
  /** what a statement without FORMAT is printed in (canonical name) */
  readonly defaultFormat: string;
  /** parameters that are statement settings */
  readonly settings: Setting[];
}

export const DEFAULT_HTTP_FORMAT = 'TabSeparated';

/** The longest `query_id` a request may name: it is echoed in a response header. */
export const MAX_QUERY_ID_LENGTH = 256;

/**
 * A `query_id` is echoed in `X-ClickHouse-Query-Id`, so it must be a valid header value: printable
 * ASCII or printable Latin-1, no control characters, at most MAX_QUERY_ID_LENGTH. Anything else
 * is refused before the statement runs (it could not be answered).
 */
export function checkedQueryId(id: string): string {
  if (id.length > MAX_QUERY_ID_LENGTH) throw chError('BAD_ARGUMENTS', `query_id is ${id.length} characters long; at most ${MAX_QUERY_ID_LENGTH} are allowed`);
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const printable = (c >= 0x20 && c <= 0x7e) || (c >= 0xa0 && c <= 0xff);
    if (!printable) throw chError('BAD_ARGUMENTS', `query_id has the character U+${c.toString(16).toUpperCase().padStart(4, '0')} at position ${i}: only printable ASCII and Latin-1 characters are allowed`);
  }
  return id;
}

/**
 * Parameters of ClickHouse's HTTP interface that are not settings, and HTTP-only settings that
 * change nothing here (quell never compresses, buffers or sends progress headers). They are
 * accepted and ignored, as a client library sends some of them unasked.
 */
const IGNORED_PARAMS: ReadonlySet<string> = new Set([
  'database',
  'quota_key',
  'stacktrace',
  'role',
  'buffer_size',
  'wait_end_of_query',
  'session_id',
  'session_timeout',
  'session_check',
  'close_session',
  'client_protocol_version',
  'enable_http_compression',
  'http_zlib_compression_level',
  'send_progress_in_http_headers',
  'http_headers_progress_interval_ms',
  'http_response_buffer_size',
  'http_wait_end_of_query',
  'cancel_http_readonly_queries_on_client_close',
  'add_http_cors_header',
]);

/** Parameters read by the door itself. */
const DOOR_PARAMS: ReadonlySet<string> = new Set(['query', 'user', 'password', 'query_id', 'default_format']);

function header(headers: IncomingHttpHeaders, name: string): string {
  const v = headers[name];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

function multipleMethods(a: string, b: string): QuellError {
  return chError('AUTHENTICATION_FAILED', `Invalid authentication: it is not allowed to use ${a} and ${b} simultaneously`);
}

function nonEmptyUser(user: string, method: string): string {
  if (user === '') throw chError('AUTHENTICATION_FAILED', `Got an empty user name from ${method}`);
  return user;
}

/**
 * ClickHouse's order: the X-ClickHouse headers, else HTTP Basic auth, else the `user` and
 * `password` parameters (user `default` when none is named); two of them at once is an error.
 */
export function httpCredentials(headers: IncomingHttpHeaders, params: URLSearchParams): HttpCredentials {
  const user = header(headers, 'x-clickhouse-user');
  const password = header(headers, 'x-clickhouse-key');
  const certificateAuth = header(headers, 'x-clickhouse-ssl-certificate-auth') === 'on';
  const authorization = header(headers, 'authorization');
  const inParams = params.has('user') || params.has('password');
  if (certificateAuth) {
    nonEmptyUser(user, 'X-ClickHouse HTTP headers');
    if (password !== '') throw multipleMethods('SSL certificate authentication', 'authentication via password');
    if (authorization !== '') throw multipleMethods('SSL certificate authentication', 'Authorization HTTP header');
    if (inParams) throw multipleMethods('SSL certificate authentication', 'authentication via parameters');
    return { user, password: '', certificateAuth };
  }
  if (user !== '' || password !== '') {
    nonEmptyUser(user, 'X-ClickHouse HTTP headers');
    if (authorization !== '') throw multipleMethods('X-ClickHouse HTTP headers', 'Authorization HTTP header');
    if (inParams) throw multipleMethods('X-ClickHouse HTTP headers', 'authentication via parameters');
    return { user, password, certificateAuth };
  }
  if (authorization !== '') {
    if (inParams) throw multipleMethods('Authorization HTTP header', 'authentication via parameters');
    const [scheme = '', info = ''] = authorization.trim().split(/\s+/, 2);
    if (scheme.toLowerCase() !== 'basic') throw chError('AUTHENTICATION_FAILED', `Invalid authentication: '${scheme}' HTTP Authorization scheme is not supported`);
    const decoded = Buffer.from(info, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const name = colon < 0 ? decoded : decoded.slice(0, colon);
    return { user: nonEmptyUser(name, 'Authorization HTTP header'), password: colon < 0 ? '' : decoded.slice(colon + 1), certificateAuth };
  }
  return { user: nonEmptyUser(params.get('user') ?? 'default', 'authentication via parameters'), password: params.get('password') ?? '', certificateAuth };
}

function checkedQueryIdOrNone(id: string | null): string | undefined {
  return id ? checkedQueryId(id) : undefined;
}

/**
 * Everything but the body. The `X-ClickHouse-Format` header wins over `default_format`, the
 * `query_id` parameter over `X-ClickHouse-Query-Id`; any other parameter is a setting, and one
 * quell does not know fails as ClickHouse fails it (UNKNOWN_SETTING).
 */
export function httpStatementParams(headers: IncomingHttpHeaders, params: URLSearchParams): HttpStatementParams {
  const credentials = httpCredentials(headers, params);
  if (params.get('compress') === '1') throw chError('NOT_IMPLEMENTED', "compress=1 (ClickHouse's own compressed result blocks) is not supported by quell's HTTP interface");
  if (params.get('decompress') === '1') throw chError('NOT_IMPLEMENTED', "decompress=1 (a body in ClickHouse's own compressed blocks) is not supported by quell's HTTP interface");
  const encoding = header(headers, 'content-encoding');
  if (encoding !== '' && encoding !== 'identity') throw chError('NOT_IMPLEMENTED', `Content-Encoding ${encoding} is not supported by quell's HTTP interface: send the statement uncompressed`);
  const format = header(headers, 'x-clickhouse-format') || params.get('default_format') || DEFAULT_HTTP_FORMAT;
  const defaultFormat = canonicalFormatName(format);
  if (defaultFormat === undefined) throw chError('UNKNOWN_FORMAT', `Unknown format ${format}`);
  const settings: Setting[] = [];
  for (const [name, value] of params) {
    // an empty name comes from `?&a=b`; query parameters (param_x) have nothing to fill in quell's statements
    if (name === '' || DOOR_PARAMS.has(name) || IGNORED_PARAMS.has(name) || name.startsWith('param_')) continue;
    if (!isSettingName(name)) throw chError('UNKNOWN_SETTING', `Unknown setting ${name}`);
    settings.push({ name, value, pos: 0 });
  }
  return {
    credentials,
    query: params.get('query') ?? undefined,
    queryId: checkedQueryIdOrNone(params.get('query_id') || header(headers, 'x-clickhouse-query-id')),
    defaultFormat,
    settings,
  };
}
