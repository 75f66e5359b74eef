import { EventEmitter } from 'node:events';
import { constants, type ClientHttp2Stream } from 'node:http2';
import { NOT_STARTED_TRAILER, STATUS, type CallStatus } from '../../common/grpc/call-status';
import { frame, MessageReader, statusOf } from './grpc-wire';
import { serviceDefinition, type GeneratedCodec } from '../../proto/service-definition';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_PROTOCOL_ERROR } = constants;

/** One RPC of a service: its path and its messages' codecs. */
export interface Method<Req, Res> {
  readonly path: string;
  readonly encode: (request: Req) => Buffer;
  readonly decode: (bytes: Buffer) => Res;
}

/**
 * The method `name` of `service` in a generated codec (scripts/gen-codec.js), its messages as
 * @grpc/proto-loader would make them: the service definition servers use, one method of it.
 */
export function methodOf<Req, Res>(codec: GeneratedCodec, service: string, name: string): Method<Req, Res> {
  const m = serviceDefinition(codec, service)[name];
  if (!m) throw new Error(`no generated method ${service}/${name}: run npm run gen`);
  return {
    path: m.path,
    encode: m.requestSerialize as (request: Req) => Buffer,
    decode: m.responseDeserialize as (bytes: Buffer) => Res,
  };
}

/**
 * How a call ended other than OK. `notStarted`: the server certainly did nothing for it (it
 * refused the stream, or marked its refusal), so the request may go elsewhere.
 */
export class CallError extends Error {
  constructor(
    readonly status: CallStatus,
    readonly notStarted: boolean,
  ) {
    super(status.details);
    this.name = 'CallError';
  }

  get code(): number {
    return this.status.code;
  }

  /** The status message, under the name grpc-js's ServiceError gives it. */
  get details(): string {
    return this.status.details;
  }

  /** The trailers as grpc-js's Metadata shows them (`-bin` values decoded), for a caller that reads a failed call as grpc-js reported it. */
  readonly metadata = {
    get: (key: string): (string | Buffer)[] => {
      const v = this.status.trailer(key);
      if (v === undefined) return [];
      return [key.endsWith('-bin') ? Buffer.from(v, 'base64') : v];
    },
  };
}

const none = (): undefined => undefined;

/** A status of this side's making (no trailers). */
export function localStatus(code: number, details: string): CallStatus {
  return { code, details, trailer: none };
}

/**
 * One gRPC call on one HTTP/2 stream, unary or streaming either way. It emits what grpc-js's
 * calls emit, in the same order: `data` per message, then `end` and `status` (OK), or `error`
 * (a CallError) and `status`. Messages are read as they come: gRPC's framing at any split,
 * its status from the trailers or a trailers-only response, and nothing compressed.
 */
export class GrpcCall<Req, Res> extends EventEmitter {
  private status: CallStatus | undefined;
  private cancelled = false;
  /** a message could not be read: the call failed here, whatever status the server sends */
  private broken = false;
  private readonly reader = new MessageReader();

  constructor(
    private readonly stream: ClientHttp2Stream,
    private readonly method: Method<Req, Res>,
    /** why the connection is gone, when it is (a stream that broke with it says so) */
    private readonly connectionGone: () => string | undefined,
  ) {
    super();
    stream.on('response', (headers) => {
      this.status = statusOf(headers);
      const http = Number(headers[':status']);
      if (!this.status && http !== 200) this.status = localStatus(STATUS.UNAVAILABLE, `HTTP status ${http}`);
    });
    stream.on('trailers', (trailers) => {
      if (!this.broken) this.status = statusOf(trailers) ?? this.status;
    });
    stream.on('data', (chunk: Buffer) => this.receive(chunk));
    // the server's side ended (its status came): the call is over, whether or not this side had
    // ended its own (a streaming request that the server answered early or refused)
    stream.on('end', () => {
      if (!stream.closed) stream.close();
    });
    // the close event tells how the call ended
    stream.on('error', none);
    stream.on('close', () => this.closed());
  }

  write(request: Req): boolean {
    return this.stream.write(frame(this.method.encode(request)));
  }

  /** Ends this side of the call, with a last request if given. */
  end(request?: Req): void {
    if (request === undefined) this.stream.end();
    else this.stream.end(frame(this.method.encode(request)));
  }

  /** Ends the call at once; it fails with CANCELLED. */
  cancel(): void {
    if (this.stream.closed) return;
    this.cancelled = true;
    this.stream.close(NGHTTP2_CANCEL);
  }

  /** Stops reading: HTTP/2 flow control then stops the server's writes. */
  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  private receive(chunk: Buffer): void {
    if (this.cancelled || this.broken) return;
    try {
      this.reader.push(chunk, (message) => this.emit('data', this.method.decode(message)));
    } catch (err) {
      // a message that cannot be read fails the call, whatever status follows
      this.broken = true;
      this.status = localStatus(STATUS.INTERNAL, err instanceof Error ? err.message : String(err));
      this.stream.close(NGHTTP2_PROTOCOL_ERROR);
    }
  }

  private closed(): void {
    const end = this.cancelled ? localStatus(STATUS.CANCELLED, 'Cancelled on client') : (this.status ?? this.withoutStatus());
    if (end.code === STATUS.OK) {
      this.emit('end');
    } else {
      const refused = end.trailer(NOT_STARTED_TRAILER) === '1' || (this.status === undefined && this.stream.rstCode === NGHTTP2_REFUSED_STREAM);
      this.emit('error', new CallError(end, refused));
    }
    this.emit('status', { code: end.code });
  }

  /** What grpc-js reports for a stream that ended without a gRPC status. */
  private withoutStatus(): CallStatus {
    const rst = this.stream.rstCode;
    if (rst === NGHTTP2_REFUSED_STREAM) return localStatus(STATUS.UNAVAILABLE, 'Stream refused by server');
    const gone = this.connectionGone();
    if (gone !== undefined) return localStatus(STATUS.UNAVAILABLE, gone);
    return localStatus(STATUS.INTERNAL, `Received RST_STREAM with code ${rst ?? 0}`);
  }
}
