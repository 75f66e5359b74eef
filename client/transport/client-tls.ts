import { CertFiles } from '../../common/tls/cert-files';
import type { PeerExpectation } from '../../common/tls/identity';
import { plaintextAllowed, tlsChoice, type TlsOptions } from '../../common/tls/options';
import { serverIdentityCheck } from '../../common/tls/peer';
import type { Securing } from './h2-connection';

/**
 * A client's transport security, made once from its options: TLS with certificate files that
 * follow rotations (each new connection takes the files as they are then), or plaintext where
 * `--insecure` allows it. The server is verified against the CA and by its SPIFFE ID.
 */
export class ClientTls {
  private constructor(
    private readonly files: CertFiles | undefined,
    private readonly trustDomain: string,
    private readonly insecure: boolean,
  ) {}

  /** Throws a one-line QuellError when the options contradict each other or the files are unusable. */
  static from(o: TlsOptions): ClientTls {
    const c = tlsChoice(o);
    return new ClientTls(c.files && new CertFiles(c.files, c.trustDomain, o.reloadIntervalMs), c.trustDomain, c.insecure);
  }

  /** Throws unless `address` may be dialled as this client is configured (plaintext only on loopback, with `insecure`). */
  check(address: string): void {
    if (!this.files) plaintextAllowed(address, this.insecure);
  }

  /** TLS for one handshake with a server that must be `expect`; undefined for plaintext. */
  securing(expect: PeerExpectation): Securing {
    if (!this.files) return undefined;
    this.files.checkNow();
    const certs = this.files.current;
    return {
      ca: certs.ca,
      cert: certs.own?.cert,
      key: certs.own?.key,
      // No server name (grpc-js sends 'quell'): a server has one certificate, verified by its
      // SPIFFE ID, never by name. Naming none also spares Node checking whether the name is
      // an IP address, whose first use compiles a large regular expression (~3 ms).
      // Said outright: Node's default turns false when NODE_TLS_REJECT_UNAUTHORIZED=0 is in the
      // environment, and then an impostor would get the statement and the password.
      rejectUnauthorized: true,
      checkServerIdentity: serverIdentityCheck(expect, this.trustDomain),
    };
  }

  close(): void {
    this.files?.close();
  }
}
