import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../../common/daemon/logger';
import { logEscape } from '../../../common/daemon/escape-guard';
import { chError, QuellError } from '../../../errors/quell-error';
import { errorText } from '../../../errors/error-text';
import { socketPeerIdentity, type TransportSecurity } from '../../../common/tls';
import { splitAddress } from '../../../common/etcd/etcd-layout';
import type { Identity } from '../../../common/tls/identity';
import { formatIdentity } from '../../../common/tls/identity';
import { StatementRunner } from '../../statements/statement-runner';
import { DEFAULT_HTTP_FORMAT, httpStatementParams, type HttpStatementParams } from './http-request';
import { readStatement } from './http-body';
import { HttpSink } from './http-sink';

export interface HttpDoorOptions {
  /** host:port; port 0 picks a free one */
  readonly listen: string;
  /** open connections one client address may hold (more are closed at once); default MAX_CONNECTIONS_PER_ADDRESS */
  readonly maxConnectionsPerAddress?: number;
  /** HTTPS with the coordinator's certificate files when it has them; plaintext only where allowed */
  readonly security: TransportSecurity;
  readonly runner: StatementRunner;
  readonly log: Logger;
}

/** Open connections per client address, unless the coordinator says otherwise. */
export const MAX_CONNECTIONS_PER_ADDRESS = 128;
/** The request line and headers must arrive within this (Node's default is a minute). */
const HEADERS_TIMEOUT_MS = 10_000;
/** The whole request, body included (at most max_query_size), must arrive within this (Node's default is 5 minutes). */
const REQUEST_TIMEOUT_MS = 15_000;

/** ClickHouse's own words for a modifying statement sent with GET. */
const GET_IS_READONLY = 'For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries';

/** `host:port` as the login throttle and the log take it (`[v6]:port`). */
function remoteOf(req: http.IncomingMessage): string {
  const host = req.socket.remoteAddress ?? 'unknown';
  return `${host.includes(':') ? `[${host}]` : host}:${req.socket.remotePort ?? 0}`;
}

/**
 * ClickHouse's HTTP interface on the coordinator (`--http-listen`): `/ping` and `GET /` answer
 * `Ok.`, every other request is a statement for the shared statement path. HTTPS with the
 * coordinator's certificates (client certificates asked for, not required: a verified
 * `user/<name>` certificate logs in without a password), following their rotations.
 */
export class HttpDoor {
  private constructor(
    private readonly o: HttpDoorOptions,
    private readonly server: http.Server,
    /** the bound host:port */
    readonly address: string,
  ) {}

  /** Binds and serves; throws (leaving nothing open) when the address is unusable. */
  static async start(o: HttpDoorOptions): Promise<HttpDoor> {
    if (!/:\d+$/.test(o.listen)) throw chError('BAD_ARGUMENTS', `--http-listen ${o.listen}: expected host:port`);
    const { host, port } = splitAddress(o.listen);
    let tlsServer: https.Server | undefined;
    // client certificates asked for, not required: a verified one is checked against the CA given here
    const secure = o.security.followServerCertificate(o.listen, (pair) => {
      if (tlsServer) tlsServer.setSecureContext(pair);
      // a TLS handshake that never finishes is given up as soon as unsent headers are
      else tlsServer = https.createServer({ ...pair, requestCert: true, rejectUnauthorized: false, handshakeTimeout: HEADERS_TIMEOUT_MS });
    });
    const server: http.Server = tlsServer ?? http.createServer();
    // a client that announces a request and never sends it must not hold a connection for minutes
    server.headersTimeout = HEADERS_TIMEOUT_MS;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    capConnectionsPerAddress(server, o.maxConnectionsPerAddress ?? MAX_CONNECTIONS_PER_ADDRESS, o.log);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = (server.address() as AddressInfo).port;
    const door = new HttpDoor(o, server, o.listen.replace(/:\d+$/, `:${bound}`));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => door.handle(req, res));
    // the handler sends 100 Continue itself, once it wants the body (a too large one is refused first)
    server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => door.handle(req, res));
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => o.log.debug({ err: errorText(err), client: socket.remoteAddress }, 'TLS handshake failed'));
    // garbage, oversized headers, a request too slow to arrive: a status and a closed connection
    server.on('clientError', (err: Error & { code?: string }, socket) => {
      o.log.debug({ err: errorText(err) }, 'bad HTTP request');
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
    o.log.info({ address: door.address, tls: secure }, 'HTTP interface serving');
    return door;
  }

  /** Stops listening and closes idle connections; resolves once every open request has ended. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await closed;
  }

  /** The hard stop: drops every connection at once. */
  forceClose(): void {
    this.server.close();
    this.server.closeAllConnections();
  }

  /**
   * Every request ends here; whatever escapes a request's handling is logged and ends that
   * request alone (a 500, or a dropped connection once its status went out), never the process.
   */
  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on('error', (err) => this.o.log.debug({ err: errorText(err) }, 'HTTP request stream failed'));
    res.on('error', (err) => this.o.log.debug({ err: errorText(err) }, 'HTTP response stream failed'));
    const escaped = logEscape(this.o.log, 'HTTP request', () => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=UTF-8', Connection: 'close' });
        res.end();
      } else res.destroy();
    });
    try {
      const url = new URL(req.url ?? '/', 'http://quell');
      const plain = (req.method === 'GET' || req.method === 'HEAD') && url.search === '';
      if (url.pathname === '/ping' || (plain && url.pathname === '/')) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': '4' });
        res.end('Ok.\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') {
        // a CORS preflight (OPTIONS) is never granted: a page of another site gets no answer it may read or act on
        req.resume();
        res.writeHead(405, { Allow: 'GET, HEAD, POST', 'Content-Type': 'text/plain; charset=UTF-8', Connection: 'close' });
        res.end(`${req.method ?? 'this method'} is not allowed: statements are sent with GET (reads) or POST\n`);
        return;
      }
      this.statement(req, res, url).catch(escaped);
    } catch (err) {
      escaped(err);
    }
  }

  private async statement(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const abort = new AbortController();
    // a client that disconnects before the whole answer went out cancels its statement
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    let params: HttpStatementParams | undefined;
    let early: QuellError | undefined;
    try {
      params = httpStatementParams(req.headers, url.searchParams);
    } catch (err) {
      early = asQuellError(err);
    }
    const statementId = params?.queryId || this.o.runner.newStatementId();
    const sink = new HttpSink(res, { statementId, defaultFormat: params?.defaultFormat ?? DEFAULT_HTTP_FORMAT, signal: abort.signal, log: this.o.log.child({ statement_id: statementId }) });
    try {
      if (!params) throw early ?? chError('LOGICAL_ERROR', 'the request was not read');
      refuseCrossSite(req);
      if (this.o.runner.refusing) throw StatementRunner.shuttingDown();
      const sql = await readStatement(req, res, params.query, abort.signal);
      const { credentials } = params;
      // the certificate is a credential only when the request says so (as ClickHouse): a
      // browser attaches its certificate to every request, a page of another site included
      const peer = credentials.certificateAuth ? this.peerOf(req) : undefined;
      if (credentials.certificateAuth && peer?.role !== 'user') {
        const presented = peer ? `a certificate of ${formatIdentity(peer)}` : 'no certificate that our CA signed';
        throw chError('AUTHENTICATION_FAILED', `${credentials.user}: Authentication failed: SSL certificate authentication needs a user certificate; the client presented ${presented}`);
      }
      await this.o.runner.run(
        {
          sql,
          statementId,
          namedQueryId: Boolean(params.queryId),
          dialect: 'clickhouse',
          user: credentials.user,
          password: credentials.password,
          peer,
          address: remoteOf(req),
          signal: abort.signal,
          settings: params.settings,
          readonlyBecause: req.method === 'POST' ? undefined : GET_IS_READONLY,
          door: 'http',
        },
        sink,
      );
    } catch (err) {
      // refused before the statement path: it logs nothing of these, so the door does
      const error = asQuellError(err);
      this.o.log.info({ statement_id: statementId, client: remoteOf(req), code: error.code, error_name: error.errorName }, 'HTTP request refused');
      await sink.end({ error, rows: 0, affectedRows: 0, elapsedSeconds: 0 });
    }
  }

  private peerOf(req: http.IncomingMessage): Identity | undefined {
    if (!this.o.security.secure) return undefined;
    return socketPeerIdentity(req.socket as TLSSocket, this.o.security.trustDomain);
  }
}

/**
 * A request a browser made for a page of another site (`Sec-Fetch-Site: cross-site`, or an
 * `Origin` that is not this door) is refused before it logs in: such a page may carry the
 * browser's certificate or cached Basic login, never the operator's intent.
 */
function refuseCrossSite(req: http.IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  const crossOrigin = origin !== undefined && !sameOrigin(origin, req.headers.host);
  if (site === 'cross-site' || crossOrigin) {
    throw chError('ACCESS_DENIED', `a request from another site is refused (${site === 'cross-site' ? 'Sec-Fetch-Site: cross-site' : 'its Origin is not this server'}): send statements from a client, not a web page`);
  }
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Closes connections beyond `max` from one client address as they arrive, logging once a minute per address. */
function capConnectionsPerAddress(server: http.Server, max: number, log: Logger): void {
  const open = new Map<string, number>();
  const lastLog = new Map<string, number>();
  // the raw TCP connection, before any TLS: a flood costs no handshake
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const n = (open.get(address) ?? 0) + 1;
    if (n > max) {
      const now = Date.now();
      if (now - (lastLog.get(address) ?? 0) > 60_000) {
        if (lastLog.size > 10_000) lastLog.clear();
        lastLog.set(address, now);
        log.warn({ client: address, max }, 'too many HTTP connections from one address; new ones are closed');
      }
      socket.destroy();
      return;
    }
    open.set(address, n);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

function asQuellError(err: unknown): QuellError {
  return err instanceof QuellError ? err : chError('LOGICAL_ERROR', errorText(err));
}
