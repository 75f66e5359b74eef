import type { PeerCertificate } from 'node:tls';
import { chError } from '../../errors/quell-error';

/**
 * Who a peer is, as its certificate says: a SPIFFE ID in a URI SAN under quell's trust domain.
 * Every parse and format of those URIs is here, so the rest of quell compares typed values
 * and never strings.
 *
 *   spiffe://<td>/coordinator   spiffe://<td>/agent/<node_id>
 *   spiffe://<td>/workload      spiffe://<td>/user/<name>
 */

export const DEFAULT_TRUST_DOMAIN = 'quell';

export type Role = 'coordinator' | 'agent' | 'workload' | 'user';

export type Identity =
  | { readonly role: 'coordinator'; readonly trustDomain: string }
  | { readonly role: 'agent'; readonly trustDomain: string; readonly nodeId: string }
  | { readonly role: 'workload'; readonly trustDomain: string }
  | { readonly role: 'user'; readonly trustDomain: string; readonly name: string };

// SPIFFE allows only these in a trust domain and in a path segment; node ids already use the
// segment alphabet (etcd-layout), so every valid node id has an identity.
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/;

function validSegment(s: string): boolean {
  return SEGMENT.test(s) && s !== '.' && s !== '..';
}

export function checkTrustDomain(trustDomain: string): string {
  if (!TRUST_DOMAIN.test(trustDomain)) {
    throw chError('BAD_ARGUMENTS', `invalid trust domain '${trustDomain}': use lowercase letters, digits, '.', '-' and '_'`);
  }
  return trustDomain;
}

function segment(kind: string, value: string): string {
  if (!validSegment(value)) throw chError('BAD_ARGUMENTS', `invalid ${kind} '${value}' for a certificate identity: use 1-128 characters from [A-Za-z0-9_.-]`);
  return value;
}

export const identities = {
  coordinator: (trustDomain = DEFAULT_TRUST_DOMAIN): Identity => ({ role: 'coordinator', trustDomain: checkTrustDomain(trustDomain) }),
  agent: (nodeId: string, trustDomain = DEFAULT_TRUST_DOMAIN): Identity => ({ role: 'agent', trustDomain: checkTrustDomain(trustDomain), nodeId: segment('node id', nodeId) }),
  workload: (trustDomain = DEFAULT_TRUST_DOMAIN): Identity => ({ role: 'workload', trustDomain: checkTrustDomain(trustDomain) }),
  user: (name: string, trustDomain = DEFAULT_TRUST_DOMAIN): Identity => ({ role: 'user', trustDomain: checkTrustDomain(trustDomain), name: segment('user name', name) }),
};

/** The path after the trust domain: `agent/n1`, `coordinator`; what messages show. */
export function identityPath(id: Identity): string {
  switch (id.role) {
    case 'agent':
      return `agent/${id.nodeId}`;
    case 'user':
      return `user/${id.name}`;
    default:
      return id.role;
  }
}

/** The URI SAN value: `spiffe://quell/agent/n1`. */
export function formatIdentity(id: Identity): string {
  return `spiffe://${id.trustDomain}/${identityPath(id)}`;
}

/** A SPIFFE URI as a quell identity, or undefined when it is not one (any trust domain). */
export function parseIdentity(uri: string): Identity | undefined {
  const m = /^spiffe:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m) return undefined;
  const [, trustDomain = '', path = ''] = m;
  if (!TRUST_DOMAIN.test(trustDomain)) return undefined;
  const parts = path.split('/');
  if (!parts.every(validSegment)) return undefined;
  const [role, arg, ...extra] = parts;
  if (extra.length > 0) return undefined;
  if (arg === undefined) {
    if (role === 'coordinator' || role === 'workload') return { role, trustDomain };
    return undefined;
  }
  if (role === 'agent') return { role, trustDomain, nodeId: arg };
  if (role === 'user') return { role, trustDomain, name: arg };
  return undefined;
}

export function sameIdentity(a: Identity, b: Identity): boolean {
  return formatIdentity(a) === formatIdentity(b);
}

/**
 * Splits Node's `subjectaltname` text (`DNS:localhost, IP Address:127.0.0.1, URI:spiffe://…`).
 * Node JSON-quotes a value that holds a comma or quote, so a crafted SAN cannot smuggle a
 * second entry through a naive split.
 */
export function splitSubjectAltName(text: string): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      let end = j + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(j, end + 1)) as string;
      } catch {
        value = text.slice(j, end + 1);
      }
      j = end + 1;
    } else {
      const comma = text.indexOf(', ', j);
      const end = comma < 0 ? text.length : comma;
      value = text.slice(j, end);
      j = end;
    }
    out.push({ type, value });
    i = text.startsWith(', ', j) ? j + 2 : text.length;
  }
  return out;
}

/** The URI SANs of a certificate. */
export function certificateUris(cert: Pick<PeerCertificate, 'subjectaltname'>): string[] {
  return splitSubjectAltName(cert.subjectaltname ?? '')
    .filter((e) => e.type === 'URI')
    .map((e) => e.value);
}

export type CertificateIdentity = { ok: true; identity: Identity } | { ok: false; reason: string };

/**
 * The one quell identity a certificate carries in `trustDomain`. SPIFFE allows one ID per
 * certificate; two quell URIs are refused rather than picking one.
 */
export function identityOfCertificate(cert: Pick<PeerCertificate, 'subjectaltname'>, trustDomain = DEFAULT_TRUST_DOMAIN): CertificateIdentity {
  const uris = certificateUris(cert);
  const spiffe = uris.filter((u) => u.startsWith('spiffe://'));
  const ours = spiffe.map(parseIdentity).filter((id): id is Identity => id !== undefined && id.trustDomain === trustDomain);
  if (ours.length === 1 && spiffe.length === 1) return { ok: true, identity: ours[0] as Identity };
  if (spiffe.length > 1) return { ok: false, reason: `several SPIFFE IDs (${spiffe.join(', ')})` };
  if (spiffe.length === 1) {
    const id = parseIdentity(spiffe[0] as string);
    return { ok: false, reason: id ? `${spiffe[0]} is outside trust domain '${trustDomain}'` : `${spiffe[0]} is not a quell identity` };
  }
  return { ok: false, reason: `no spiffe:// URI SAN${cert.subjectaltname ? ` (SAN ${cert.subjectaltname})` : ''}` };
}

/** What a peer is required to be: one exact identity, or any identity of a role. */
export type PeerExpectation = Identity | Role;

export function describeExpectation(expect: PeerExpectation, trustDomain = DEFAULT_TRUST_DOMAIN): string {
  return typeof expect === 'string' ? `spiffe://${trustDomain}/${expect}${expect === 'agent' || expect === 'user' ? '/*' : ''}` : formatIdentity(expect);
}

export function meetsExpectation(id: Identity, expect: PeerExpectation, trustDomain = DEFAULT_TRUST_DOMAIN): boolean {
  if (typeof expect === 'string') return id.role === expect && id.trustDomain === trustDomain;
  return sameIdentity(id, expect);
}
