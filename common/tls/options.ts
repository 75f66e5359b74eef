import { isIP } from 'node:net';
import { chError } from '../../errors/quell-error';
import { checkTrustDomain, DEFAULT_TRUST_DOMAIN } from './identity';

/** What every daemon and client is told about transport security (`--tls-*`, `--insecure`). */
export interface TlsOptions {
  /** PEM file of the CA(s) that sign quell certificates */
  readonly ca?: string | undefined;
  /** PEM certificate file: this process's identity (a client may have none) */
  readonly cert?: string | undefined;
  /** PEM private key of `cert` */
  readonly key?: string | undefined;
  /** plaintext, allowed only on loopback addresses */
  readonly insecure?: boolean | undefined;
  /** default `quell` */
  readonly trustDomain?: string | undefined;
  /** how often the files are checked for a rotation; default 1000 ms */
  readonly reloadIntervalMs?: number | undefined;
}

export function hasTlsFiles(o: TlsOptions): boolean {
  return o.ca !== undefined || o.cert !== undefined || o.key !== undefined;
}

/** TLS with these files, or plaintext where `insecure` says so (allowed per address: plaintextAllowed). */
export interface TlsChoice {
  readonly trustDomain: string;
  readonly files: { readonly ca: string; readonly cert?: string | undefined; readonly key?: string | undefined } | undefined;
  readonly insecure: boolean;
}

/** The options checked: throws a one-line QuellError when they contradict each other. */
export function tlsChoice(o: TlsOptions): TlsChoice {
  const trustDomain = checkTrustDomain(o.trustDomain ?? DEFAULT_TRUST_DOMAIN);
  if (!hasTlsFiles(o)) return { trustDomain, files: undefined, insecure: o.insecure === true };
  if (o.insecure) throw chError('BAD_ARGUMENTS', '--insecure contradicts --tls-ca/--tls-cert/--tls-key: give one or the other');
  if (o.ca === undefined) throw chError('BAD_ARGUMENTS', '--tls-ca is required with --tls-cert/--tls-key: peers are verified against it');
  return { trustDomain, files: { ca: o.ca, cert: o.cert, key: o.key }, insecure: false };
}

/** The host part of `H:P`, `[v6]:P`, `dns:H:P`, `ipv4:H:P` (grpc targets and listen addresses). */
export function addressHost(address: string): string {
  const bare = address.replace(/^(dns|ipv4|ipv6):(\/\/[^/]*\/)?/, '');
  const bracket = /^\[([^\]]+)\](:\d+)?$/.exec(bare);
  if (bracket) return bracket[1] as string;
  if (isIP(bare) === 6) return bare;
  const colon = bare.lastIndexOf(':');
  return colon < 0 ? bare : bare.slice(0, colon);
}

/** Loopback by its address alone: 127.0.0.0/8, ::1, `localhost`, or a Unix socket. */
export function isLoopback(address: string): boolean {
  if (address.startsWith('unix:')) return true;
  const host = addressHost(address).toLowerCase();
  if (host === 'localhost' || host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  return mapped !== null && (mapped[1] as string).startsWith('127.');
}

/**
 * Throws unless plaintext is allowed on `address`: only with `--insecure`, and never on a
 * non-loopback address. A Unix socket is local and guarded by its file mode, so it passes.
 */
export function plaintextAllowed(address: string, insecure: boolean | undefined): void {
  if (address.startsWith('unix:')) return;
  if (!insecure) {
    throw chError('BAD_ARGUMENTS', `${address}: no TLS certificate given (--tls-ca/--tls-cert/--tls-key); plaintext only with --insecure, never on a non-loopback address`);
  }
  if (!isLoopback(address)) {
    throw chError('BAD_ARGUMENTS', `${address} is not a loopback address: plaintext only with --insecure, never on a non-loopback address`);
  }
}
