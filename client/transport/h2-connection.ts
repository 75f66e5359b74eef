import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Keepalive } from '../../common/grpc/keepalive';
import { CLOSED_DURING_SETUP } from '../../common/tls/failures';
import { GrpcCall, type Method } from './grpc-call';

/** Where a connection goes: a TCP host and port, or a Unix socket. */
export type Target = { readonly host: string; readonly port: number } | { readonly path: string };

/** `host:port`, `[v6]:port` or `unix:/path`. */
export function targetOf(address: string): Target | undefined {
  if (address.startsWith('unix:')) return address.length > 5 ? { path: address.slice(5) } : undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]/\s]+)):(\d{1,5})$/.exec(address);
  return m ? { host: (m[1] ?? m[2]) as string, port: Number(m[3]) } : undefined;
}

/** How a connection is secured: TLS options for one handshake, or plaintext (undefined). */
export type Securing = tls.ConnectionOptions | undefined;

/**
 * How long a connection may take to become ready, as grpc-js's connect timeout: without it a
 * server that never answers the SYN is waited on for the operating system's TCP timeout (minutes).
 */
export const SETUP_TIMEOUT_MS = 20_000;

/** What the connection became: ready for calls, or why not. */
export type Readiness = { readonly ready: true } | { readonly failed: string };

/**
 * One HTTP/2 connection to one server, made with Node's net, tls and http2 modules, for gRPC
 * calls. It is ready once the server's HTTP/2 settings arrived, which a server sends after it
 * accepted the TLS handshake (our certificate too): whatever failed before that, nothing was
 * sent. Keepalive pings find a server that went silent (its host died) and end the connection,
 * which fails its calls.
 */
export class H2Connection {
  private readonly session: http2.ClientHttp2Session;
  readonly readiness: Promise<Readiness>;
  /** why this side ended the connection, when it did */
  private gone: string | undefined;
  /** the connection's first error */
  private failure: string | undefined;
  /** the server sent GOAWAY: it takes no new calls here */
  private goingAway = false;
  /** calls open on it: only they keep the process alive */
  private open = 0;

  constructor(target: Target, securing: Securing, keepalive: Keepalive, setupTimeoutMs = SETUP_TIMEOUT_MS) {
    const authority = 'path' in target ? 'localhost' : target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    const where = 'path' in target ? { path: target.path } : { host: target.host, port: target.port };
    const socket = securing === undefined ? net.connect(where) : tls.connect({ ...securing, ...where, ALPNProtocols: ['h2'] });
    this.session = http2.connect(`${securing === undefined ? 'http' : 'https'}://${authority}`, { createConnection: () => socket });
    let tcpConnected = false;
    socket.once('connect', () => (tcpConnected = true));
    // the first error says why; a failed connection fails the calls made on it
    this.session.on('error', (err: Error) => (this.failure ??= err.message));
    socket.once('error', (err: Error) => (this.failure ??= err.message));
    this.session.once('goaway', () => (this.goingAway = true));
    const setup = setTimeout(() => {
      this.failure ??= `no connection within ${setupTimeoutMs / 1000} s`;
      this.session.destroy();
    }, setupTimeoutMs);
    setup.unref();
    this.session.once('close', () => clearTimeout(setup));
    this.readiness = new Promise((resolve) => {
      this.session.once('remoteSettings', () => {
        clearTimeout(setup);
        resolve({ ready: true });
        this.keepAlive(keepalive);
        if (this.open === 0) this.session.unref();
      });
      this.session.once('close', () => resolve({ failed: this.setupFailure(tcpConnected) }));
    });
  }

  /** Whether a new call can go on this connection (it has not ended, nor been told to go away). */
  get usable(): boolean {
    return !this.session.closed && !this.session.destroyed && this.gone === undefined && !this.goingAway;
  }

  /**
   * Why the connection ended before it was ready. A peer that reset it after the TCP connect
   * said no more than that it closed during setup: it refused our certificate, or only one side
   * uses TLS (common/tls/failures.ts says so in words).
   */
  private setupFailure(tcpConnected: boolean): string {
    if (this.failure === undefined || (tcpConnected && /^(read|write) (ECONNRESET|EPIPE)$/.test(this.failure))) return CLOSED_DURING_SETUP;
    return this.failure;
  }

  /** Why the connection is gone, or undefined while it lasts. */
  private goneReason(): string | undefined {
    if (this.gone !== undefined) return this.gone;
    if (!this.session.closed && !this.session.destroyed) return undefined;
    return this.failure === undefined ? 'Connection dropped' : `Connection dropped: ${this.failure}`;
  }

  /** Starts a call; throws when the server sent GOAWAY (it is draining) and takes no new streams. */
  call<Req, Res>(method: Method<Req, Res>): GrpcCall<Req, Res> {
    const stream = this.session.request({ ':method': 'POST', ':path': method.path, 'content-type': 'application/grpc', te: 'trailers' });
    if (this.open++ === 0) this.session.ref();
    stream.once('close', () => {
      if (--this.open === 0 && !this.session.destroyed) this.session.unref();
    });
    return new GrpcCall(stream, method, () => this.goneReason());
  }

  /**
   * Pings as grpc-js does with common/grpc/keepalive.ts, and ends a connection whose ping goes
   * unanswered: a server whose host died mid-call then fails the call with UNAVAILABLE,
   * instead of leaving the client waiting forever.
   */
  private keepAlive(k: Keepalive): void {
    const interval = setInterval(() => {
      if (this.session.destroyed) return;
      const unanswered = setTimeout(() => {
        this.gone = `Connection dropped: no answer to a keepalive ping within ${k.timeoutMs / 1000} s`;
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

  /** Takes no new calls, and ends once the open ones have (a session that ended its side lets the server end it cleanly). */
  drain(): void {
    this.gone ??= 'Connection dropped: the client was closed';
    if (!this.session.destroyed) this.session.close();
  }

  /** Ends the connection at once; calls on it fail. */
  close(): void {
    this.gone ??= 'Connection dropped: the client was closed';
    this.session.destroy();
  }
}
