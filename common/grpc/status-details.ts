import { messages } from '../../proto/generated/status-codec';
import { TO_OBJECT_OPTIONS, type MessageCodec } from '../../proto/service-definition';
import type { QuellError } from '../../errors/quell-error';

/**
 * The rich error model (Google AIP-193) of quell's failed calls: the `grpc-status-details-bin`
 * trailer holds a serialized google.rpc.Status whose details carry one google.rpc.ErrorInfo,
 * `reason` the error's name (SYNTAX_ERROR, or a MariaDB-form error's SQLSTATE), `domain` quell,
 * `metadata` its numeric `code` and its `dialect`. Loads no gRPC library. (quell's own client
 * reads the same error from the quell-error-* trailers: common/grpc/call-status.ts.)
 */

/** The trailer gRPC gives the serialized google.rpc.Status. */
export const STATUS_DETAILS_TRAILER = 'grpc-status-details-bin';
export const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';
export const ERROR_DOMAIN = 'quell';

const codec = messages as unknown as Record<string, MessageCodec>;
const STATUS = codec['google.rpc.Status'] as MessageCodec;
const ERROR_INFO = codec['google.rpc.ErrorInfo'] as MessageCodec;

export interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

export interface RichStatus {
  code: number;
  message: string;
  /** the ErrorInfo among the details, if one is */
  errorInfo: ErrorInfo | undefined;
  /** the type URLs of every detail, in order */
  detailTypes: string[];
}

/** A QuellError's ErrorInfo. */
export function errorInfoOf(err: QuellError): ErrorInfo {
  return { reason: err.errorName, domain: ERROR_DOMAIN, metadata: { code: String(err.code), dialect: err.dialect } };
}

/** A serialized google.rpc.Status of `code` and `message`, with `info` as its one detail when given. */
export function encodeStatusDetails(code: number, message: string, info?: ErrorInfo): Buffer {
  const details = info ? [{ type_url: ERROR_INFO_TYPE_URL, value: ERROR_INFO.encode(ERROR_INFO.fromObject(info)).finish() }] : [];
  return STATUS.encode(STATUS.fromObject({ code, message, details })).finish();
}

/** A serialized google.rpc.Status read back; throws on bytes that are not one. */
export function decodeStatusDetails(bytes: Uint8Array): RichStatus {
  const status = STATUS.toObject(STATUS.decode(Buffer.from(bytes)), TO_OBJECT_OPTIONS) as { code: number; message: string; details: { type_url: string; value: Uint8Array }[] };
  let errorInfo: ErrorInfo | undefined;
  for (const d of status.details) {
    if (d.type_url === ERROR_INFO_TYPE_URL && errorInfo === undefined) errorInfo = ERROR_INFO.toObject(ERROR_INFO.decode(Buffer.from(d.value)), TO_OBJECT_OPTIONS) as ErrorInfo;
  }
  return { code: status.code, message: status.message, errorInfo, detailTypes: status.details.map((d) => d.type_url) };
}
