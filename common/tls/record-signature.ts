import { createPrivateKey, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { errorText } from '../../errors/error-text';
import { DEFAULT_TRUST_DOMAIN, identityOfCertificate } from './identity';

/**
 * Signed etcd records (docs/security.md §Signed records): a kill policy and a queued mutation
 * kill are signed by the coordinator that accepted the statement, with its TLS key, and carry
 * its certificate chain. An agent acts on a record only when the signature verifies with a
 * certificate that chains to its own --tls-ca and names `spiffe://<trust-domain>/coordinator`:
 * whoever can only write to etcd cannot author a kill.
 *
 * What is signed (the canonical encoding):
 *   "quell-signed-record/v1\n" + kind + "\n" + signed_at + "\n" + stableJson(record without `signature`)
 * stableJson is JSON with every object's keys sorted (recursively), no spaces. The key's whole
 * content is covered, unknown fields included, so nothing can be added or changed unseen.
 *
 * Verification is against the CA and the identity, never a pinned key: a coordinator whose
 * certificate was rotated (or expired since) leaves its records valid, as long as the certificate
 * was valid when it signed (`signed_at`) and still chains to the CA.
 */

/** The kinds of signed record; the kind is part of what is signed, so one kind cannot pass for another. */
export type SignedKind = 'kill-policy' | 'mutation-kill';

/** The `signature` field of a signed record. */
export interface RecordSignature {
  /** unix seconds when it was signed (part of the signed text) */
  readonly signed_at: number;
  /** the signature over the canonical encoding, base64 (ECDSA/RSA with SHA-256, or Ed25519: as the key is) */
  readonly value: string;
  /** the signer's certificate, then any intermediates, PEM */
  readonly chain: string;
}

/** How far in the future a record's times may be: clocks of coordinator and agent hosts differ a little. */
export const CLOCK_ALLOWANCE_S = 5;

const DOMAIN = 'quell-signed-record/v1';
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
/** leaf plus intermediates: more is not a chain quell's PKI makes */
const MAX_CHAIN = 5;
const MAX_CHAIN_CHARS = 32 * 1024;

/** JSON with sorted keys at every level: one text for one value, whatever the key order it was written in. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The bytes a signature covers. */
export function canonicalRecord(kind: SignedKind, signedAt: number, record: Readonly<Record<string, unknown>>): Buffer {
  const { signature: _omit, ...body } = record;
  return Buffer.from(`${DOMAIN}\n${kind}\n${signedAt}\n${stableJson(body)}`, 'utf8');
}

/** The digest the key type signs with: none for EdDSA (it hashes itself), SHA-256 otherwise. */
function digestFor(key: KeyObject): string | null {
  const type = key.asymmetricKeyType;
  return type === 'ed25519' || type === 'ed448' ? null : 'sha256';
}

/** This process's certificate chain (PEM) and key, as the TLS files hold them now. */
export interface SigningPair {
  readonly cert: Buffer | string;
  readonly key: Buffer | string;
}

/**
 * Signs records with the coordinator's current TLS key: `own` is read at each signature, so a
 * rotated certificate signs every record after the rotation.
 */
export class RecordSigner {
  constructor(private readonly own: () => SigningPair | undefined) {}

  /** The record with its `signature` field; throws when this process has no certificate. */
  sign<T extends object>(kind: SignedKind, record: T, nowMs = Date.now()): T & { readonly signature: RecordSignature } {
    const pair = this.own();
    if (!pair) throw new Error('no certificate to sign with (--tls-cert/--tls-key)');
    const signedAt = Math.floor(nowMs / 1000);
    const key = createPrivateKey(pair.key);
    const { signature: _old, ...body } = record as Record<string, unknown>;
    const value = sign(digestFor(key), canonicalRecord(kind, signedAt, body), key).toString('base64');
    const chain = (pair.cert.toString().match(PEM_CERT) ?? []).join('\n');
    return { ...(body as T), signature: { signed_at: signedAt, value, chain } };
  }
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** The record's `signature` field, if it has the right shape. */
function signatureOf(record: Readonly<Record<string, unknown>>): RecordSignature | string {
  const s = record.signature;
  if (s === undefined) return 'unsigned';
  if (typeof s !== 'object' || s === null) return 'signature is not an object';
  const { signed_at, value, chain } = s as Record<string, unknown>;
  if (typeof signed_at !== 'number' || !Number.isSafeInteger(signed_at)) return 'signature.signed_at is not unix seconds';
  if (typeof value !== 'string' || value === '') return 'signature.value is missing';
  if (typeof chain !== 'string' || chain === '' || chain.length > MAX_CHAIN_CHARS) return 'signature.chain is missing or too long';
  return { signed_at, value, chain };
}

function parseChain(pem: string): X509Certificate[] | string {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) return 'signature.chain holds no certificate';
  if (blocks.length > MAX_CHAIN) return `signature.chain holds ${blocks.length} certificates (at most ${MAX_CHAIN})`;
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    return `signature.chain: ${errorText(err)}`;
  }
}

function validAt(cert: X509Certificate, atMs: number): boolean {
  return Date.parse(cert.validFrom) <= atMs && atMs <= Date.parse(cert.validTo);
}

/**
 * Checks signed records against this process's CA (--tls-ca, read at each check so a CA file
 * rotation applies) and trust domain.
 */
export class RecordVerifier {
  constructor(
    private readonly ca: () => Buffer | string,
    private readonly trustDomain = DEFAULT_TRUST_DOMAIN,
    private readonly allowanceS = CLOCK_ALLOWANCE_S,
  ) {}

  /**
   * Whether `record` was signed as `kind` by a coordinator of this CA and trust domain, and its
   * times (`signed_at` and the record's own `times`, unix seconds) are not in the future by more
   * than the clock allowance.
   */
  verify(kind: SignedKind, record: Readonly<Record<string, unknown>>, times: readonly number[] = [], nowMs = Date.now()): Verdict {
    const sig = signatureOf(record);
    if (typeof sig === 'string') return { ok: false, reason: sig };
    const latest = Math.floor(nowMs / 1000) + this.allowanceS;
    for (const t of [sig.signed_at, ...times]) {
      if (t > latest) return { ok: false, reason: `dated ${new Date(t * 1000).toISOString()}, in the future (clock allowance ${this.allowanceS} s)` };
    }
    const chain = parseChain(sig.chain);
    if (typeof chain === 'string') return { ok: false, reason: chain };
    const leaf = chain[0] as X509Certificate;
    const id = identityOfCertificate({ subjectaltname: leaf.subjectAltName ?? '' }, this.trustDomain);
    if (!id.ok) return { ok: false, reason: `signing certificate: ${id.reason}` };
    if (id.identity.role !== 'coordinator') return { ok: false, reason: `signed by spiffe://${this.trustDomain}/${id.identity.role}…, not by a coordinator` };
    const signedAtMs = sig.signed_at * 1000;
    const trusted = this.chainsToCa(chain, signedAtMs);
    if (trusted !== undefined) return { ok: false, reason: trusted };
    let good: boolean;
    try {
      good = verify(digestFor(leaf.publicKey), canonicalRecord(kind, sig.signed_at, record), leaf.publicKey, Buffer.from(sig.value, 'base64'));
    } catch (err) {
      return { ok: false, reason: `signature does not verify: ${errorText(err)}` };
    }
    return good ? { ok: true } : { ok: false, reason: 'signature does not match the record (altered, or signed with another key)' };
  }

  /** undefined when the chain leads from the leaf to a CA in the trust file, each link valid when the record was signed. */
  private chainsToCa(chain: readonly X509Certificate[], atMs: number): string | undefined {
    let anchors: X509Certificate[];
    try {
      anchors = (this.ca().toString().match(PEM_CERT) ?? []).map((b) => new X509Certificate(b));
    } catch (err) {
      return `the CA file is unusable: ${errorText(err)}`;
    }
    let cur = chain[0] as X509Certificate;
    const rest = chain.slice(1);
    for (let depth = 0; depth <= MAX_CHAIN; depth++) {
      if (!validAt(cur, atMs)) return `certificate ${cur.subject.replace(/\n/g, ', ')} was not valid at ${new Date(atMs).toISOString()}`;
      if (anchors.some((a) => cur.checkIssued(a) && cur.verify(a.publicKey))) return undefined;
      const next = rest.find((c) => c.ca && cur.checkIssued(c) && cur.verify(c.publicKey));
      if (!next) return 'signing certificate is not issued by a trusted CA';
      cur = next;
    }
    return 'signing certificate chain is too long';
  }
}
