import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import { messages, services } from '../proto/generated/coordinator-codec';
import { deserializer, serializer, TO_OBJECT_OPTIONS, type GeneratedCodec } from '../proto/service-definition';
import type { ExecuteRequest } from '../proto/generated/quell/v1/ExecuteRequest';
import type { ExecuteResponse__Output } from '../proto/generated/quell/v1/ExecuteResponse';
import { NOT_STARTED_TRAILER, remoteErrorOf, STATUS, type CallStatus } from '../common/grpc/call-status';
import { checkTrustDomain, DEFAULT_TRUST_DOMAIN } from '../common/tls/identity';
import { KEEPALIVE, type Keepalive } from '../common/grpc/keepalive';
import { loadCertFiles, type LoadedCerts } from '../common/tls/cert-files';
import type { TlsOptions } from '../common/tls/options';
import { serverIdentityCheck } from '../common/tls/peer';
import type { QuellError } from '../errors/quell-error';
import { coordinatorShuttingDown, ResultQueue, toEvent, transportError, type Item } from './result-events';

const CODEC = { messages, services } as unknown as GeneratedCodec;
const EXECUTE = CODEC.services['quell.v1.CoordinatorService']?.Execute;
const encodeRequest = serializer(CODEC.messages['quell.v1.ExecuteRequest'] as GeneratedCodec['messages'][string]);
const decodeResponse = deserializer(CODEC.messages['quell.v1.ExecuteResponse'] as GeneratedCodec['messages'][string], TO_OBJECT_OPTIONS) as (b: Buffer) => ExecuteResponse__Output;
const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_PROTOCOL_ERROR } = http2.constants;

/** An Execute call's result stream, or: the statement certainly did not start (with the coordinator's refusal, if it sent one). */
export type DirectAttempt = { readonly results: AsyncIterable<Item> } | { readonly notStarted: QuellError | undefined };

/** `host:port` or `[v6]:port`, which Node dials as it is; grpc-js's other targets (dns:…, unix:…) are not. */
function hostPort(address: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]/\s]+)):(\d{1,5})$/.exec(address);
  if (!m) return undefined;
  return { host: (m[1] ?? m[2]) as string, port: Number(m[3]) };
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The gRPC status in a response's headers (a trailers-only response) or trailers, if there is one. */
function statusOf(headers: http2.IncomingHttpHeaders): CallStatus | undefined {
  const code = first(headers['grpc-status']);
  if (code === undefined) return undefined;
  const raw = first(headers['grpc-message']) ?? '';
  let details = raw;
  try {
    details = decodeURIComponent(raw);
  } catch {
    // not percent-encoded after all: shown as it came
  }
  return { code: Number(code), details, trailer: (key) => first(headers[key]) };
}

/** gRPC's length-prefixed messages out of a stream's chunks; each message is copied once. */
export class MessageReader {
  private chunks: Buffer[] = [];
  private size = 0;

  /** Calls `each` with every whole message; throws on a compressed one (none was asked for). */
  push(chunk: Buffer, each: (message: Buffer) => void): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size >= 5) {
      if ((this.chunks[0] as Buffer).length < 5) this.chunks = [Buffer.concat(this.chunks)];
      const head = this.chunks[0] as Buffer;
      if (head[0] !== 0) throw new Error('the coordinator sent a compressed message');
      const total = 5 + head.readUInt32BE(1);
      if (this.size < total) return;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks);
      this.chunks = all.length > total ? [all.subarray(total)] : [];
      this.size -= total;
      each(all.subarray(5, total));
    }
  }
}

/**
 * One HTTP/2 connection to one coordinator, made with Node's http2 and tls modules and the
 * generated codec, for Execute calls: what `quell client -q` needs, without loading grpc-js
 * (a third of the command's start). The wire is the same gRPC; TLS is verified the same way
 * (the CA, the coordinator's SPIFFE ID, the client's own certificate if it has one).
 *
 * A call is sent only once the coordinator's HTTP/2 settings arrived, which it sends after it
 * accepted the TLS handshake (our certificate too): whatever failed before that, nothing was
 * sent, and the statement certainly did not start.
 */
export class DirectChannel {
  private readonly session: http2.ClientHttp2Session;
  /** true once the coordinator's settings arrived; false when the connection failed or timed out first */
  private readonly ready: Promise<boolean>;
  /** why this side ended the connection, when it did (a call that broke with it says so) */
  private dropped: string | undefined;

  /** A channel to `address`, or undefined where this way does not apply (plaintext, other targets, unusable files: QuellClient reports those). */
  static open(address: string, o: TlsOptions, connectTimeoutMs: number, keepalive: Keepalive = KEEPALIVE): DirectChannel | undefined {
    const target = hostPort(address);
    if (!target || o.insecure || o.ca === undefined || !EXECUTE) return undefined;
    try {
      const trustDomain = checkTrustDomain(o.trustDomain ?? DEFAULT_TRUST_DOMAIN);
      return new DirectChannel(address, target, loadCertFiles({ ca: o.ca, cert: o.cert, key: o.key }, trustDomain), trustDomain, connectTimeoutMs, keepalive);
    } catch {
      return undefined;
    }
  }

  private constructor(
    readonly address: string,
    target: { host: string; port: number },
    certs: LoadedCerts,
    trustDomain: string,
    connectTimeoutMs: number,
    keepalive: Keepalive,
  ) {
    const socket = tls.connect({
      host: target.host,
      port: target.port,
      ca: certs.ca,
      cert: certs.own?.cert,
      key: certs.own?.key,
      // No server name (grpc-js sends 'quell'): a coordinator has one certificate, verified by
      // its SPIFFE ID, never by name. Naming none also spares Node checking whether the name is
      // an IP address, whose first use compiles a large regular expression (~3 ms).
      ALPNProtocols: ['h2'],
      // said outright: Node's default turns false when NODE_TLS_REJECT_UNAUTHORIZED=0 is in the
      // environment, and then an impostor would get the statement and the password; grpc-js
      // refuses an unverified peer whatever the environment says
      rejectUnauthorized: true,
      checkServerIdentity: serverIdentityCheck('coordinator', trustDomain),
    });
    const authority = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    this.session = http2.connect(`https://${authority}`, { createConnection: () => socket });
    // a failed connection fails the call made on it; the session's own error event has no one else to tell
    this.session.on('error', () => undefined);
    this.ready = new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), connectTimeoutMs);
      this.session.once('remoteSettings', () => {
        done(true);
        this.keepAlive(keepalive);
      });
      this.session.once('close', () => done(false));
    });
  }

  /**
   * Pings the coordinator as grpc-js does on QuellClient's channels (common/grpc/keepalive.ts), and
   * ends a connection whose ping goes unanswered: a coordinator whose host died mid-statement
   * then fails the statement with NETWORK_ERROR, instead of leaving the client waiting forever.
   */
  private keepAlive(k: Keepalive): void {
    const interval = setInterval(() => {
      if (this.session.destroyed) return;
      const unanswered = setTimeout(() => {
        this.dropped = `no answer to a keepalive ping within ${k.timeoutMs / 1000} s`;
        this.session.destroy();
      }, k.timeoutMs);
      unanswered.unref();
      // false: pings already wait for their answers, whose own timers run
      const sent = this.session.ping(() => clearTimeout(unanswered));
      if (!sent) clearTimeout(unanswered);
    }, k.timeMs);
    // the calls keep the process alive, never the pings
    interval.unref();
    this.session.once('close', () => clearInterval(interval));
  }

  /** Sends the statement; resolves once anything came back, or with why it certainly did not start. */
  async execute(req: ExecuteRequest, signal: AbortSignal | undefined): Promise<DirectAttempt> {
    if (!(await this.ready) || this.session.closed || this.session.destroyed) return { notStarted: undefined };
    const path = (EXECUTE as { path: string }).path;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    } catch {
      // the coordinator sent GOAWAY (it is draining): no new stream, and its answer is its refusal
      return { notStarted: coordinatorShuttingDown(this.address) };
    }
    return new Promise((resolve) => {
      const queue = new ResultQueue(stream);
      const reader = new MessageReader();
      let status: CallStatus | undefined;
      let received = false;
      let settled = false;
      let cancelled = false;
      const started = (): void => {
        if (settled) return;
        settled = true;
        resolve({ results: queue.results });
      };
      const cancel = (): void => {
        cancelled = true;
        stream.close(NGHTTP2_CANCEL);
      };
      signal?.addEventListener('abort', cancel, { once: true });
      stream.on('response', (headers) => {
        status = statusOf(headers);
        const http = Number(headers[':status']);
        if (!status && http !== 200) status = { code: STATUS.UNAVAILABLE, details: `HTTP status ${http}`, trailer: () => undefined };
      });
      stream.on('trailers', (trailers) => {
        status = statusOf(trailers) ?? status;
      });
      stream.on('data', (chunk: Buffer) => {
        try {
          reader.push(chunk, (message) => {
            received = true;
            queue.push(toEvent(decodeResponse(message)));
          });
        } catch (err) {
          status = { code: STATUS.INTERNAL, details: err instanceof Error ? err.message : String(err), trailer: () => undefined };
          stream.close(NGHTTP2_PROTOCOL_ERROR);
          return;
        }
        if (received) started();
      });
      // the close event tells how the call ended
      stream.on('error', () => undefined);
      stream.on('close', () => {
        signal?.removeEventListener('abort', cancel);
        const end = status ?? this.closedWithoutStatus(stream.rstCode, cancelled);
        if (end.code !== STATUS.OK) {
          const refused = end.trailer(NOT_STARTED_TRAILER) === '1' || (status === undefined && stream.rstCode === NGHTTP2_REFUSED_STREAM);
          if (refused && !received && !settled) {
            settled = true;
            resolve({ notStarted: remoteErrorOf(end) });
            return;
          }
          queue.fail(transportError(end, this.address));
        }
        queue.close();
        started();
      });
      stream.end(frame(encodeRequest(req)));
    });
  }

  /** What grpc-js reports for a stream that ended without a gRPC status. */
  private closedWithoutStatus(rstCode: number | undefined, cancelled: boolean): CallStatus {
    const none = (): undefined => undefined;
    if (cancelled) return { code: STATUS.CANCELLED, details: 'Cancelled on client', trailer: none };
    if (rstCode === NGHTTP2_REFUSED_STREAM) return { code: STATUS.UNAVAILABLE, details: 'Stream refused by server', trailer: none };
    if (this.session.closed || this.session.destroyed) return { code: STATUS.UNAVAILABLE, details: this.dropped === undefined ? 'Connection dropped' : `Connection dropped: ${this.dropped}`, trailer: none };
    return { code: STATUS.INTERNAL, details: `Received RST_STREAM with code ${rstCode ?? 0}`, trailer: none };
  }

  /** Ends the connection at once: a one-shot client has nothing left to wait for. */
  close(): void {
    this.session.destroy();
  }
}

/** A gRPC message: uncompressed flag, length, bytes. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}
