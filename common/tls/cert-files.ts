import { readFileSync, statSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { experimental } from '@grpc/grpc-js';
import { chError } from '../../errors/quell-error';
import { errorText } from '../../errors/error-text';
import { formatIdentity, identityOfCertificate, type Identity } from './identity';
import type { Logger } from '../daemon/logger';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export interface CertFilePaths {
  readonly ca: string;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}

/** One consistent, checked set of the files' contents. */
export interface LoadedCerts {
  readonly ca: Buffer;
  /** absent for a client without a certificate */
  readonly own?: { readonly cert: Buffer; readonly key: Buffer; readonly leaf: X509Certificate; readonly identity: Identity };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function pemCertificates(file: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('latin1').match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new Error(`${file} holds no PEM certificate`);
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new Error(`${file}: ${errorText(err)}`);
    }
  });
}

function read(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(errorText(err));
  }
}

/**
 * Reads and checks the files as one set: certificate and key belong together, the certificate
 * is valid now and carries exactly one quell identity. A half-written rotation fails here and
 * is not used.
 */
export function loadCertFiles(paths: CertFilePaths, trustDomain: string, now = new Date()): LoadedCerts {
  const ca = read(paths.ca);
  const authorities = pemCertificates(paths.ca, ca);
  if ((paths.cert === undefined) !== (paths.key === undefined)) throw new Error('a certificate needs its key and a key its certificate (--tls-cert with --tls-key)');
  if (paths.cert === undefined || paths.key === undefined) return { ca };
  const cert = read(paths.cert);
  const key = read(paths.key);
  const chain = pemCertificates(paths.cert, cert);
  const leaf = chain[0] as X509Certificate;
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new Error(`${paths.key}: ${errorText(err)}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new Error(`${paths.key} is not the key of ${paths.cert}`);
  const id = identityOfCertificate({ subjectaltname: leaf.subjectAltName ?? '' }, trustDomain);
  if (!id.ok) throw new Error(`${paths.cert} carries no quell identity: ${id.reason}`);
  const name = formatIdentity(id.identity);
  if (new Date(leaf.validTo) < now) throw new Error(`${paths.cert} (${name}) expired at ${new Date(leaf.validTo).toISOString()}`);
  if (new Date(leaf.validFrom) > now) throw new Error(`${paths.cert} (${name}) is not valid before ${new Date(leaf.validFrom).toISOString()}`);
  // one --tls-ca signs every quell certificate: a certificate from another CA would be dropped
  // by each peer in the handshake, and a client would only see a failed password login
  if (!chain.some((c) => authorities.some((authority) => c.checkIssued(authority) && c.verify(authority.publicKey)))) {
    throw new Error(`${paths.cert} (${name}) is not signed by a CA in ${paths.ca}: every peer that trusts only those CAs would refuse it`);
  }
  try {
    createSecureContext({ ca, cert, key });
  } catch (err) {
    throw new Error(`${paths.cert}: ${errorText(err)}`);
  }
  return { ca, own: { cert, key, leaf, identity: id.identity } };
}

/**
 * What the files look like from outside: identity, size and change time of each. Reading and
 * checking a set costs about 2 ms of CPU; a process with many providers (a host of agents, many
 * clients) would spend that every second on files that did not change.
 */
function filesSignature(paths: CertFilePaths): string {
  return [paths.ca, paths.cert, paths.key]
    .map((file) => {
      if (file === undefined) return '-';
      try {
        const st = statSync(file);
        return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      } catch (err) {
        return errorText(err);
      }
    })
    .join('|');
}

function sameBytes(a: LoadedCerts, b: LoadedCerts): boolean {
  return a.ca.equals(b.ca) && (a.own === undefined ? b.own === undefined : b.own !== undefined && a.own.cert.equals(b.own.cert) && a.own.key.equals(b.own.key));
}

/**
 * The certificate files as a grpc-js CertificateProvider that follows rotations: while a server
 * or channel uses it, the files are re-read every interval, and a complete, valid new set
 * replaces the old one for every later handshake. An invalid set (half-written, expired,
 * mismatched key) is logged and ignored; the last good set stays in use.
 *
 * grpc-js's own FileWatcherCertificateProvider drops its certificates when a read fails, and
 * then a server refuses every connection; this one never goes from good to nothing.
 */
export class CertFiles implements experimental.CertificateProvider {
  private loaded: LoadedCerts;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | undefined;
  private lastProblem = '';
  /** the files as they were at the last read, good or not: unchanged files are not read again */
  private signature: string;

  /** Throws a one-line QuellError when the files are unusable now. */
  constructor(
    readonly paths: CertFilePaths,
    readonly trustDomain: string,
    private readonly intervalMs = 1000,
    private readonly log?: Logger,
  ) {
    this.signature = filesSignature(paths);
    try {
      this.loaded = loadCertFiles(paths, trustDomain);
    } catch (err) {
      throw chError('BAD_ARGUMENTS', `TLS files unusable: ${errorText(err)}`);
    }
  }

  get current(): LoadedCerts {
    return this.loaded;
  }

  /** Re-reads the files now if they changed; true when a new valid set was taken. */
  checkNow(): boolean {
    const signature = filesSignature(this.paths);
    if (signature === this.signature) return false;
    this.signature = signature;
    let next: LoadedCerts;
    try {
      next = loadCertFiles(this.paths, this.trustDomain);
    } catch (err) {
      const problem = errorText(err);
      const kept = this.loaded.own ? `the certificate valid until ${new Date(this.loaded.own.leaf.validTo).toISOString()}` : 'the previous files';
      if (problem !== this.lastProblem) this.log?.warn({ problem }, `TLS rotation rejected, keeping ${kept}: ${problem}`);
      this.lastProblem = problem;
      return false;
    }
    this.lastProblem = '';
    if (sameBytes(next, this.loaded)) return false;
    this.loaded = next;
    const own = next.own;
    if (own) {
      const validTo = new Date(own.leaf.validTo).toISOString();
      this.log?.info({ identity: formatIdentity(own.identity), valid_to: validTo }, `TLS rotation accepted: ${this.paths.cert ?? ''} (${formatIdentity(own.identity)}) valid until ${validTo}`);
    } else {
      this.log?.info({}, `TLS rotation accepted: ${this.paths.ca} reloaded`);
    }
    for (const l of this.caListeners) l(this.caUpdate());
    const id = this.identityUpdate();
    if (id) for (const l of this.identityListeners) l(id);
    return true;
  }

  private caUpdate(): experimental.CaCertificateUpdate {
    return { caCertificate: this.loaded.ca };
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate | null {
    const own = this.loaded.own;
    return own ? { certificate: own.cert, privateKey: own.key } : null;
  }

  // grpc-js registers its listeners before its own watcher: the first update must come later
  // (as grpc-js's provider does it), or the server never sees it. So watch() comes before the
  // listener is added: its first look at the files updates the listeners already there, not the new one.
  addCaCertificateListener(listener: CaListener): void {
    this.watch();
    this.caListeners.add(listener);
    process.nextTick(() => this.caListeners.has(listener) && listener(this.caUpdate()));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.unwatchIfUnused();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.watch();
    this.identityListeners.add(listener);
    process.nextTick(() => this.identityListeners.has(listener) && listener(this.identityUpdate()));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.unwatchIfUnused();
  }

  /**
   * Follows the files while a server or channel is open. The first one to come looks at them
   * at once (three stat calls): the interval runs only while one is open, so a channel made after
   * a rotation, with none open since, would otherwise start with the old set. Later ones, while
   * the interval runs, take what it has seen.
   */
  private watch(): void {
    if (this.timer) return;
    this.checkNow();
    this.timer = setInterval(() => this.checkNow(), this.intervalMs);
    this.timer.unref();
  }

  private unwatchIfUnused(): void {
    if (this.caListeners.size > 0 || this.identityListeners.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops watching; servers and channels keep the certificates they have. */
  close(): void {
    this.caListeners.clear();
    this.identityListeners.clear();
    this.unwatchIfUnused();
  }
}
