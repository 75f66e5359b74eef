import { QuellError, type Dialect } from '../../errors/quell-error';
import { tlsFailure } from '../tls/failures';

/**
 * A failed call's status as quell reads it, with no gRPC library loaded: common/grpc/rpc-status.ts
 * reads it from grpc-js, client/transport/ from HTTP/2 headers and trailers.
 */
export interface CallStatus {
  readonly code: number;
  readonly details: string;
  /** the first value of a trailer (metadata) key */
  trailer(key: string): string | undefined;
}

/** The trailers in which a server sends a QuellError's code, name and dialect. */
export const ERROR_CODE_TRAILER = 'quell-error-code';
export const ERROR_NAME_TRAILER = 'quell-error-name';
export const ERROR_DIALECT_TRAILER = 'quell-error-dialect';
/** Set by a server that refused a call before doing anything for it. */
export const NOT_STARTED_TRAILER = 'quell-not-started';

/** The gRPC status codes quell tells apart, by their numbers on the wire (grpc.status). */
export const STATUS = { OK: 0, CANCELLED: 1, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14 } as const;

/** A QuellError the remote side raised, if the status carries one. */
export function remoteErrorOf(s: CallStatus): QuellError | undefined {
  const code = s.trailer(ERROR_CODE_TRAILER);
  const name = s.trailer(ERROR_NAME_TRAILER);
  if (code === undefined || name === undefined) return undefined;
  const dialect: Dialect = s.trailer(ERROR_DIALECT_TRAILER) === 'mariadb' ? 'mariadb' : 'clickhouse';
  return new QuellError(Number(code), name, s.details, dialect);
}

/** grpc-js's connect failures are long; the operator needs the cause (`connect ECONNREFUSED 127.0.0.1:9701`). */
export function transportReason(details: string): string {
  const tls = tlsFailure(details);
  if (tls) return tls.reason;
  const m = /connect (E[A-Z]+) (\S+)/.exec(details);
  if (m) return `connect ${m[1]} ${(m[2] as string).replace(/\.$/, '')}`;
  // a subchannel another channel saw fail first has no error of its own to report
  return withoutSuffix(withoutSuffix(details.trimEnd(), /Resolution note:$/), /Last error: null\.?$/) || 'connection failed';
}

/** `text` without a suffix that `pattern` (anchored at `$`, no leading blanks) matches, and the blanks before it. */
function withoutSuffix(text: string, pattern: RegExp): string {
  return text.replace(pattern, '').trimEnd();
}
