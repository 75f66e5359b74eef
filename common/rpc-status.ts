import * as grpc from '@grpc/grpc-js';
import { QuellError } from '../errors/quell-error';
import { errorText } from '../errors/error-text';
import { tlsFailure } from './tls/failures';
import { ERROR_CODE_TRAILER, ERROR_DIALECT_TRAILER, ERROR_NAME_TRAILER, NOT_STARTED_TRAILER, remoteErrorOf, transportReason, type CallStatus } from './call-status';

export { transportReason } from './call-status';

/**
 * The boundary between gRPC statuses and quell's typed errors. Servers turn a QuellError
 * into a status carrying its code, name and dialect in trailers; clients turn any failed call
 * back into a QuellError or a NodeFailure. Nothing else looks at raw gRPC status codes.
 */


export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (err instanceof QuellError) {
    metadata.set(ERROR_CODE_TRAILER, String(err.code));
    metadata.set(ERROR_NAME_TRAILER, err.errorName);
    metadata.set(ERROR_DIALECT_TRAILER, err.dialect);
    return { code: grpc.status.FAILED_PRECONDITION, details: err.message, metadata };
  }
  const message = errorText(err);
  return { code: grpc.status.INTERNAL, details: message, metadata };
}

/**
 * The status for a call refused before its statement started (a draining coordinator): the
 * error travels as usual, and the marker tells a client it may send the statement elsewhere.
 */
export function notStartedStatus(err: QuellError): Partial<grpc.StatusObject> {
  const status = toServiceError(err);
  status.metadata?.set(NOT_STARTED_TRAILER, '1');
  return { ...status, code: grpc.status.UNAVAILABLE };
}

/**
 * Whether a failed call certainly never reached the statement: grpc-js found no connection to
 * send it on, the server refused the HTTP/2 stream (REFUSED_STREAM: not processed), or the
 * server marked its refusal. A call that broke after it was sent may have started, whatever its
 * code, and is never in this class.
 */
export function statementNotStarted(err: unknown): boolean {
  if (!isServiceError(err)) return false;
  if (err.metadata.get(NOT_STARTED_TRAILER)[0] === '1') return true;
  return err.code === grpc.status.UNAVAILABLE && /^No connection established|Stream refused by server/.test(err.details);
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

/** A failed grpc-js call's status, as common/call-status.ts reads it. */
export function callStatus(err: grpc.ServiceError): CallStatus {
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
