import * as grpc from '@grpc/grpc-js';
import { oneLine, QuellError, type ErrorName } from '../../errors/quell-error';
import { encodeStatusDetails, errorInfoOf, STATUS_DETAILS_TRAILER } from './status-details';
import { errorText } from '../../errors/error-text';
import { tlsFailure } from '../tls/failures';
import { ERROR_CODE_TRAILER, ERROR_DIALECT_TRAILER, ERROR_NAME_TRAILER, NOT_STARTED_TRAILER, remoteErrorOf, transportReason, type CallStatus } from './call-status';

export { transportReason } from './call-status';

/**
 * The boundary between gRPC statuses and quell's typed errors. Servers turn a QuellError
 * into a status carrying its code, name and dialect in trailers; clients turn any failed call
 * back into a QuellError or a NodeFailure. Nothing else looks at raw gRPC status codes.
 */


/**
 * The gRPC status of every typed error, by the gRPC status code guide: ClickHouse-form errors by
 * name, MariaDB-form errors by number. The one table; docs/grpc-status.md shows the same.
 */
export const STATUS_OF_ERROR: Readonly<Partial<Record<ErrorName, grpc.status>>> = {
  SYNTAX_ERROR: grpc.status.INVALID_ARGUMENT,
  BAD_ARGUMENTS: grpc.status.INVALID_ARGUMENT,
  NUMBER_OF_ARGUMENTS_DOESNT_MATCH: grpc.status.INVALID_ARGUMENT,
  ILLEGAL_TYPE_OF_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  UNKNOWN_FUNCTION: grpc.status.INVALID_ARGUMENT,
  UNKNOWN_IDENTIFIER: grpc.status.INVALID_ARGUMENT,
  UNKNOWN_TABLE: grpc.status.INVALID_ARGUMENT,
  UNKNOWN_FORMAT: grpc.status.INVALID_ARGUMENT,
  UNKNOWN_SETTING: grpc.status.INVALID_ARGUMENT,
  NOT_AN_AGGREGATE: grpc.status.INVALID_ARGUMENT,
  ILLEGAL_AGGREGATION: grpc.status.INVALID_ARGUMENT,
  SETTING_CONSTRAINT_VIOLATION: grpc.status.INVALID_ARGUMENT,
  CLUSTER_DOESNT_EXIST: grpc.status.NOT_FOUND,
  UNKNOWN_ROW_POLICY: grpc.status.NOT_FOUND,
  ACCESS_ENTITY_ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  AUTHENTICATION_FAILED: grpc.status.UNAUTHENTICATED,
  ACCESS_DENIED: grpc.status.PERMISSION_DENIED,
  READONLY: grpc.status.PERMISSION_DENIED,
  TOO_MANY_SIMULTANEOUS_QUERIES: grpc.status.RESOURCE_EXHAUSTED,
  TOO_MANY_ROWS_OR_BYTES: grpc.status.RESOURCE_EXHAUSTED,
  MEMORY_LIMIT_EXCEEDED: grpc.status.RESOURCE_EXHAUSTED,
  TIMEOUT_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  QUERY_WAS_CANCELLED: grpc.status.CANCELLED,
  ABORTED: grpc.status.UNAVAILABLE,
  ALL_CONNECTION_TRIES_FAILED: grpc.status.UNAVAILABLE,
  NETWORK_ERROR: grpc.status.UNAVAILABLE,
  // an agent that cannot open its kill log (HTTP door: 503)
  CANNOT_OPEN_FILE: grpc.status.UNAVAILABLE,
  LOGICAL_ERROR: grpc.status.INTERNAL,
  NOT_IMPLEMENTED: grpc.status.UNIMPLEMENTED,
};

/** The MariaDB-form errors (dialect mariadb), by error number. */
export const STATUS_OF_MARIADB_ERROR: Readonly<Record<number, grpc.status>> = {
  1054: grpc.status.INVALID_ARGUMENT, // unknown column
  1064: grpc.status.INVALID_ARGUMENT, // syntax error
  1970: grpc.status.INVALID_ARGUMENT, // KILL (SELECT …): no subqueries
  1094: grpc.status.NOT_FOUND, // unknown thread id
  1957: grpc.status.NOT_FOUND, // unknown query id
  1095: grpc.status.PERMISSION_DENIED, // not owner of thread
  1979: grpc.status.PERMISSION_DENIED, // not owner of query
  1105: grpc.status.FAILED_PRECONDITION, // KILL USER: a node it needed did not answer
};

/** The gRPC status a typed error ends a call with; INTERNAL for a name or number outside the tables (a bug). */
export function statusCodeOf(err: QuellError): grpc.status {
  const code = err.dialect === 'mariadb' ? STATUS_OF_MARIADB_ERROR[err.code] : STATUS_OF_ERROR[err.errorName as ErrorName];
  return code ?? grpc.status.INTERNAL;
}

/** A failed call as grpc-js's client reports one (ServiceError), for a failure made on this side of the call. */
export function serviceError(code: grpc.status, details: string, metadata = new grpc.Metadata()): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata });
}

/**
 * A failed call's status: a QuellError's mapped code, its message, its code, name and dialect in
 * trailers (what quell's clients read), and the same as a google.rpc.Status with an ErrorInfo
 * in `grpc-status-details-bin` (what any gRPC client can read); anything else INTERNAL.
 * `override` replaces the table's code (a refusal before the statement started is UNAVAILABLE).
 */
export function toServiceError(err: unknown, override?: grpc.status): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (err instanceof QuellError) {
    const code = override ?? statusCodeOf(err);
    metadata.set(ERROR_CODE_TRAILER, String(err.code));
    metadata.set(ERROR_NAME_TRAILER, err.errorName);
    metadata.set(ERROR_DIALECT_TRAILER, err.dialect);
    metadata.set(STATUS_DETAILS_TRAILER, encodeStatusDetails(code, err.message, errorInfoOf(err)));
    return { code, details: err.message, metadata };
  }
  const message = errorText(err);
  metadata.set(STATUS_DETAILS_TRAILER, encodeStatusDetails(grpc.status.INTERNAL, message));
  return { code: grpc.status.INTERNAL, details: message, metadata };
}

/** A status of grpc-js's own making (a refused message, a deadline), with its one-line details in a google.rpc.Status too. */
export function plainStatus(code: grpc.status, details: string): Partial<grpc.StatusObject> {
  const message = oneLine(details);
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_TRAILER, encodeStatusDetails(code, message));
  return { code, details: message, metadata };
}

/**
 * The status for a call refused before its statement started (a draining coordinator, ABORTED):
 * the error travels as usual, UNAVAILABLE, and the marker tells a client it may send the
 * statement elsewhere.
 */
export function notStartedStatus(err: QuellError): Partial<grpc.StatusObject> {
  const status = toServiceError(err, grpc.status.UNAVAILABLE);
  status.metadata?.set(NOT_STARTED_TRAILER, '1');
  return status;
}

/** Why a node could not answer: the kill_status of its node row. */
export type NodeFailureKind = 'node_unreachable' | 'node_timeout' | 'node_error';

export class NodeFailure extends Error {
  constructor(
    readonly kind: NodeFailureKind,
    message: string,
    override readonly cause?: QuellError,
  ) {
    super(message);
    this.name = 'NodeFailure';
  }
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return typeof err === 'object' && err !== null && 'code' in err && 'metadata' in err;
}

/** A failed grpc-js call's status, as common/grpc/call-status.ts reads it. */
function callStatus(err: grpc.ServiceError): CallStatus {
  return {
    code: err.code,
    details: err.details,
    trailer: (key) => {
      const v = err.metadata.get(key)[0];
      return v === undefined ? undefined : String(v);
    },
  };
}

/** A QuellError the remote side raised, if the status carries one. */
export function remoteQuellError(err: unknown): QuellError | undefined {
  return isServiceError(err) ? remoteErrorOf(callStatus(err)) : undefined;
}

/** Classifies a failed agent call. */
export function toNodeFailure(err: unknown): NodeFailure {
  if (err instanceof NodeFailure) return err;
  const remote = remoteQuellError(err);
  if (remote) return new NodeFailure('node_error', remote.message, remote);
  if (isServiceError(err)) {
    if (err.code === grpc.status.DEADLINE_EXCEEDED) return new NodeFailure('node_timeout', 'no answer before the deadline');
    if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.CANCELLED) {
      // a certificate problem or an impostor is not an outage: it stays until someone fixes it
      const tls = tlsFailure(err.details);
      if (tls?.definite) return new NodeFailure('node_error', tls.reason);
      return new NodeFailure('node_unreachable', transportReason(err.details));
    }
    return new NodeFailure('node_error', err.details || grpc.status[err.code] || 'agent error');
  }
  return new NodeFailure('node_error', errorText(err));
}

/** A call's failure as it travels inside a multiplexed session (agent.proto AgentError). */
export interface InBandError {
  code: number;
  name: string;
  message: string;
  dialect: string;
  unavailable: boolean;
}

/** The agent's side: a QuellError keeps its code, name and dialect; anything else is its text. */
export function toInBandError(err: unknown, unavailable = false): InBandError {
  if (err instanceof QuellError) return { code: err.code, name: err.errorName, message: err.message, dialect: err.dialect, unavailable };
  return { code: 0, name: '', message: errorText(err), dialect: '', unavailable };
}

/** The coordinator's side: what the node row says about a call the agent failed in band. */
export function inBandFailure(e: Partial<InBandError> | null | undefined): NodeFailure {
  const message = e?.message || 'agent error';
  if (e?.unavailable) return new NodeFailure('node_unreachable', message);
  if (e?.code && e.name) {
    const remote = new QuellError(e.code, e.name, message, e.dialect === 'mariadb' ? 'mariadb' : 'clickhouse');
    return new NodeFailure('node_error', message, remote);
  }
  return new NodeFailure('node_error', message);
}

/**
 * A broken session fails the calls in flight on it: as unreachable, unless the agent refused
 * the session itself (a QuellError) or the peer is not the agent (a definite TLS failure).
 */
export function sessionFailure(err: unknown): NodeFailure {
  const failure = toNodeFailure(err);
  if (failure.kind === 'node_unreachable' || failure.cause || (isServiceError(err) && tlsFailure(err.details)?.definite)) return failure;
  return new NodeFailure('node_unreachable', `stream to the agent broke: ${failure.message}`);
}
