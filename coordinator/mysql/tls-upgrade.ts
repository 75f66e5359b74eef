import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';

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
 * asked for, not required; whether it verified against the CA is `authorized` on the result.
 * Resolves once the TLS handshake is done; rejects when it fails or the socket goes.
 */
export function upgradeToTls(socket: Socket, early: Buffer, context: SecureContext, timeoutMs: number): Promise<TLSSocket> {
  socket.removeAllListeners('data');
  const carrier = early.length > 0 ? new PrefixedSocket(socket, early) : socket;
  const tls = new TLSSocket(carrier, { isServer: true, secureContext: context, requestCert: true, rejectUnauthorized: false });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`no TLS handshake within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      tls.destroy();
      socket.destroy();
      reject(err);
    };
    tls.once('secure', () => {
      clearTimeout(timer);
      tls.removeListener('error', fail);
      tls.removeListener('close', closed);
      resolve(tls);
    });
    const closed = (): void => fail(new Error('the client closed the connection during the TLS handshake'));
    tls.once('error', fail);
    tls.once('close', closed);
  });
}
