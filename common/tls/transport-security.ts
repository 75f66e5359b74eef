import * as grpc from '@grpc/grpc-js';
import { chError } from '../../errors/quell-error';
import { describeExpectation, formatIdentity, meetsExpectation, type Identity, type PeerExpectation } from './identity';
import type { Logger } from '../daemon/logger';
import { CertFiles } from './cert-files';
import { plaintextAllowed, tlsChoice, type TlsOptions } from './options';
import { serverIdentityCheck } from './peer';
import { tlsFailure } from './failures';
import { transportReason } from '../grpc/rpc-status';
import { RecordSigner, RecordVerifier } from './record-signature';

/** Whether a TLS server insists on a client certificate in the handshake, or only asks for one. */
export type ClientCertificates = 'require' | 'request';

/**
 * One process's transport security, made once from its options: TLS with certificate files
 * that follow rotations, or plaintext where `--insecure` allows it. Every server and channel
 * of the process gets its credentials here, so they share one file watcher and one rule.
 */
export class TransportSecurity {
  private constructor(
    readonly trustDomain: string,
    private readonly files: CertFiles | undefined,
    private readonly insecure: boolean,
  ) {}

  /** Throws a one-line QuellError when the files are missing, unreadable or unusable. */
  static from(o: TlsOptions, log?: Logger): TransportSecurity {
    const c = tlsChoice(o);
    return new TransportSecurity(c.trustDomain, c.files && new CertFiles(c.files, c.trustDomain, o.reloadIntervalMs, log), c.insecure);
  }

  get secure(): boolean {
    return this.files !== undefined;
  }

  /** This process's identity, from its current certificate. */
  get identity(): Identity | undefined {
    return this.files?.current.own?.identity;
  }

  /** This process's certificate as last accepted (rotations included): its identity and expiry; undefined without one. */
  ownCertificate(): { identity: string; notAfter: Date } | undefined {
    const own = this.files?.current.own;
    return own && { identity: formatIdentity(own.identity), notAfter: new Date(own.leaf.validTo) };
  }

  /** Fails start-up when the certificate is for another role or node (an agent given n2's files). */
  requireOwnIdentity(expect: PeerExpectation): void {
    if (!this.files) return;
    const own = this.files.current.own;
    if (!own) throw chError('BAD_ARGUMENTS', `a certificate for ${describeExpectation(expect, this.trustDomain)} is required (--tls-cert/--tls-key)`);
    if (!meetsExpectation(own.identity, expect, this.trustDomain)) {
      throw chError('BAD_ARGUMENTS', `${this.files.paths.cert ?? ''} is ${formatIdentity(own.identity)}, but this process is ${describeExpectation(expect, this.trustDomain)}`);
    }
  }

  /** Credentials for a server listening on `listen`; plaintext throws unless it is allowed there. */
  serverCredentials(listen: string, clientCertificates: ClientCertificates): grpc.ServerCredentials {
    if (!this.files) {
      plaintextAllowed(listen, this.insecure);
      return grpc.ServerCredentials.createInsecure();
    }
    if (!this.files.current.own) throw chError('BAD_ARGUMENTS', `a server needs its own certificate (--tls-cert/--tls-key) to listen on ${listen}`);
    // One provider as both CA and identity source: grpc-js 1.14 passes the two arguments of
    // createCertificateProviderServerCredentials to its constructor in swapped order.
    return grpc.experimental.createCertificateProviderServerCredentials(this.files, this.files, clientCertificates === 'require');
  }

  /**
   * TLS for a listener that is not gRPC (the metrics endpoint, the HTTP interface) on `listen`:
   * `use` gets this process's certificate and the CA (to verify client certificates with) now
   * and again after each rotation, and the answer is true. Where plaintext is allowed
   * (`--insecure`, loopback) the answer is false; elsewhere it throws.
   */
  followServerCertificate(listen: string, use: (pair: { ca: Buffer; cert: Buffer; key: Buffer }) => void): boolean {
    const files = this.files;
    if (!files) {
      plaintextAllowed(listen, this.insecure);
      return false;
    }
    const own = files.current.own;
    if (!own) throw chError('BAD_ARGUMENTS', `a server needs its own certificate (--tls-cert/--tls-key) to listen on ${listen}`);
    use({ ca: files.current.ca, cert: own.cert, key: own.key });
    // called on every change of the set, a CA-only one too
    files.addIdentityCertificateListener((update) => {
      if (update) use({ ca: files.current.ca, cert: update.certificate, key: update.privateKey });
    });
    return true;
  }

  /** Credentials for a channel to `target` whose server must be `expect`. */
  channelCredentials(target: string, expect: PeerExpectation): grpc.ChannelCredentials {
    if (!this.files) {
      plaintextAllowed(target, this.insecure);
      return grpc.credentials.createInsecure();
    }
    const identity = this.files.current.own ? this.files : null;
    return grpc.experimental.createCertificateProviderChannelCredentials(this.files, identity, {
      checkServerIdentity: serverIdentityCheck(expect, this.trustDomain),
    });
  }

  /**
   * `transportReason` told with what this side knows: grpc-js shows a TLS server dropping our
   * certificate and a plaintext client on a TLS port alike ("Failed to connect").
   */
  connectFailureReason(details: string): string {
    const tls = tlsFailure(details);
    if (!tls || tls.definite) return transportReason(details);
    if (!this.files) return 'the peer closed the connection during setup: it probably requires TLS, and this side is plaintext (--insecure)';
    const own = this.files.current.own;
    if (!own) return 'the peer closed the connection during setup: it probably requires a client certificate, and none is configured (--tls-cert/--tls-key)';
    const expiry = new Date(own.leaf.validTo);
    if (expiry < new Date()) return `the peer closed the connection during setup: our certificate ${formatIdentity(own.identity)} expired at ${expiry.toISOString()}`;
    return `the peer closed the connection during setup: it probably refused our certificate ${formatIdentity(own.identity)} (issued by a CA it does not trust?)`;
  }

  /**
   * Signs etcd records with this process's current certificate and key (a coordinator's kill
   * policies and queued kills); undefined without TLS (`--insecure`): records are then unsigned.
   */
  recordSigner(): RecordSigner | undefined {
    const files = this.files;
    return files ? new RecordSigner(() => files.current.own) : undefined;
  }

  /**
   * Checks signed etcd records against the current --tls-ca and the trust domain; undefined
   * without TLS (`--insecure`): then records are taken as they are (docs/security.md).
   */
  recordVerifier(): RecordVerifier | undefined {
    const files = this.files;
    return files ? new RecordVerifier(() => files.current.ca, this.trustDomain) : undefined;
  }

  /** Re-reads the certificate files now instead of at the next interval; true when they changed. */
  reloadNow(): boolean {
    return this.files?.checkNow() ?? false;
  }

  /** Stops watching the files (servers and channels keep what they have). */
  close(): void {
    this.files?.close();
  }
}
