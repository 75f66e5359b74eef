import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../common/logger';
import { chError, QuellError } from '../errors/quell-error';
import { errorText } from '../errors/error-text';
import { socketPeerIdentity, type TransportSecurity } from '../common/tls';
import { splitAddress } from '../common/etcd-layout';
import type { Identity } from '../common/identity';
import { formatIdentity } from '../common/identity';
import { StatementRunner } from './statement-runner';
import { DEFAULT_HTTP_FORMAT, httpStatementParams, type HttpStatementParams } from './http-request';
import { readStatement } from './http-body';
import { HttpSink } from './http-sink';

export interface HttpDoorOptions {
  /** host:port; port 0 picks a free one */
  readonly listen: string;
  /** HTTPS with the coordinator's certificate files when it has them; plaintext only where allowed */
  readonly security: TransportSecurity;
  readonly runner: StatementRunner;
  readonly log: Logger;
}

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
      else tlsServer = https.createServer({ ...pair, requestCert: true, rejectUnauthorized: false });
    });
    const server: http.Server = tlsServer ?? http.createServer();
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

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on('error', (err) => this.o.log.debug({ err: errorText(err) }, 'HTTP request stream failed'));
    res.on('error', (err) => this.o.log.debug({ err: errorText(err) }, 'HTTP response stream failed'));
    const url = new URL(req.url ?? '/', 'http://quell');
    const plain = (req.method === 'GET' || req.method === 'HEAD') && url.search === '';
    if (url.pathname === '/ping' || (plain && url.pathname === '/')) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': '4' });
      res.end('Ok.\n');
      return;
    }
    void this.statement(req, res, url);
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
    const statementId = params?.queryId || randomUUID();
    const sink = new HttpSink(res, { statementId, defaultFormat: params?.defaultFormat ?? DEFAULT_HTTP_FORMAT, signal: abort.signal, log: this.o.log.child({ statement_id: statementId }) });
    try {
      if (!params) throw early ?? chError('LOGICAL_ERROR', 'the request was not read');
      if (this.o.runner.refusing) throw StatementRunner.shuttingDown();
      const sql = await readStatement(req, res, params.query, abort.signal);
      const peer = this.peerOf(req);
      const { credentials } = params;
      if (credentials.certificateAuth && peer?.role !== 'user') {
        const presented = peer ? `a certificate of ${formatIdentity(peer)}` : 'no certificate that our CA signed';
        throw chError('AUTHENTICATION_FAILED', `${credentials.user}: Authentication failed: SSL certificate authentication needs a user certificate; the client presented ${presented}`);
      }
      await this.o.runner.run(
        {
          sql,
          statementId,
          dialect: 'clickhouse',
          user: credentials.user,
          password: credentials.password,
          peer,
          address: remoteOf(req),
          signal: abort.signal,
          settings: params.settings,
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

function asQuellError(err: unknown): QuellError {
  return err instanceof QuellError ? err : chError('LOGICAL_ERROR', errorText(err));
}
