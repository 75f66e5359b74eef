import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { createServer, type TLSSocket } from 'node:tls';

/** PEM contents of the coordinator's CA, certificate and key, as TransportSecurity.followServerCertificate gives them. */
export interface TlsFiles {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * The socket as a stream that first yields bytes already read from it. A client may send its
 * TLS ClientHello right behind its SSLRequest, in the same TCP segment; those bytes were read
 * with the SSLRequest and must reach TLS first. (A TLSSocket over a net.Socket reads the socket's
 * handle directly and would never see them.)
 */
class PrefixedSocket extends Duplex {
  constructor(
    private readonly socket: Socket,
    prefix: Buffer,
  ) {
    super();
    this.push(prefix);
    socket.on('data', (d: Buffer) => {
      if (!this.push(d)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.socket.write(chunk, (err) => done(err));
  }

  override _final(done: (err?: Error | null) => void): void {
    this.socket.end(() => done());
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.socket.destroy();
    done(err);
  }
}

/**
 * The server side of the protocol's SSL upgrade: TLS on the socket the client's SSLRequest came
 * in on, with `early` (bytes read past the SSLRequest) fed to TLS first. A client certificate is
 * asked for, not required; `authorized` on the result says whether it verified against the CA.
 * A one-connection tls.Server does the handshake: only a server's sockets learn `authorized`.
 * Resolves once the TLS handshake is done; rejects when it fails, times out or the socket goes.
 */
export function upgradeToTls(socket: Socket, early: Buffer, files: TlsFiles, timeoutMs: number): Promise<TLSSocket> {
  socket.removeAllListeners('data');
  const carrier = early.length > 0 ? new PrefixedSocket(socket, early) : socket;
  const server = createServer({ ...files, requestCert: true, rejectUnauthorized: false, handshakeTimeout: timeoutMs });
  return new Promise((resolve, reject) => {
    server.once('secureConnection', (tls: TLSSocket) => {
      socket.removeListener('close', closed);
      resolve(tls);
    });
    server.once('tlsClientError', (err: Error) => {
      socket.removeListener('close', closed);
      socket.destroy();
      reject(err);
    });
    const closed = (): void => reject(new Error('the client closed the connection during the TLS handshake'));
    socket.once('close', closed);
    server.emit('connection', carrier);
  });
}
