import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chError } from '../../errors/quell-error';
import { errorText } from '../../errors/error-text';
import { checkTrustDomain, DEFAULT_TRUST_DOMAIN, formatIdentity, identities, identityPath, type Identity } from './identity';

/**
 * A small deployment's PKI made with the `openssl` command: one CA and a certificate per
 * identity, EC P-256 (fast to make, so tests and `quell local` make theirs per run). Operators
 * with their own PKI need none of this: only the URI SANs matter.
 */

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

export interface CertAuthority {
  readonly cert: string;
  readonly key: string;
}

export interface IssueOptions {
  /** validity in days from now (default 365) */
  readonly days?: number;
  /** a certificate that expired in 2020: for tests of refusal */
  readonly expired?: boolean;
  /** URI SANs instead of the identity's one: for tests of bad certificates */
  readonly uris?: readonly string[];
  /** host names and IP addresses the certificate also serves (DNS and IP SANs), besides localhost and 127.0.0.1 */
  readonly hosts?: readonly string[];
}

export interface InitCertsOptions {
  readonly nodes?: readonly string[];
  readonly users?: readonly string[];
  readonly trustDomain?: string;
  readonly days?: number;
  /**
   * `--san`: host names and IP addresses of the coordinators and agents, put in the coordinator's
   * and every agent's certificate (DNS and IP SANs), so that clients that check the server's name
   * (`mariadb --ssl-verify-server-cert`, curl, ssl-mode=VERIFY_IDENTITY) reach them by it
   */
  readonly san?: readonly string[];
}

export interface InitCertsResult {
  readonly dir: string;
  readonly ca: CertAuthority;
  readonly coordinator: KeyPair;
  readonly workload: KeyPair;
  readonly agents: ReadonlyMap<string, KeyPair>;
  readonly users: ReadonlyMap<string, KeyPair>;
  /** files written by this call (existing ones are kept, not rewritten) */
  readonly written: readonly string[];
}

const DEFAULT_DAYS = 365;
const CA_DAYS = 3650;

// openssl reads the system openssl.cnf unless told otherwise, and its defaults (a CA
// extension section for every `req -x509`) differ between distributions.
const MINIMAL_CONFIG = '[req]\ndistinguished_name = dn\n[dn]\n';
const CA_CONFIG = `[ca]
default_ca = quell
[quell]
database = index.txt
new_certs_dir = .
serial = serial.txt
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
`;

function openssl(args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return reject(chError('BAD_ARGUMENTS', 'the openssl command is not on PATH: it makes the certificates'));
      const firstLine = String(stderr).split('\n').find((l) => l.trim() !== '') ?? errorText(err);
      reject(chError('BAD_ARGUMENTS', `openssl ${args[0] ?? ''} failed: ${firstLine.trim()}`));
    });
  });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Keys are private from their first byte: the file exists with mode 0600 before openssl writes it. */
async function privateFile(file: string): Promise<void> {
  await writeFile(file, '', { mode: 0o600 });
  await chmod(file, 0o600);
}

async function withScratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'quell-openssl-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The names every certificate serves on loopback. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1'];

/** A `--san` entry as openssl's subjectAltName takes it: `IP:…` for an address, `DNS:…` for a host name. */
function sanEntry(host: string): string {
  return isIP(host) ? `IP:${host}` : `DNS:${host}`;
}

const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_NAME = new RegExp(`^(?:\\*\\.)?${HOST_LABEL}(?:\\.${HOST_LABEL})*$`);

/** Checks `--san` entries: IPv4 or IPv6 addresses, or host names (a leading `*.` allowed). */
export function checkSans(hosts: readonly string[]): string[] {
  return hosts.map((h) => {
    if (isIP(h) !== 0 || (h.length <= 253 && HOST_NAME.test(h))) return h;
    throw chError('BAD_ARGUMENTS', `invalid --san entry '${h}': expected a host name (letters, digits, '-' and '.') or an IP address`);
  });
}

/** The DNS and IP SANs of a certificate file beyond the loopback ones (what an earlier --san put there). */
async function extraSans(certFile: string): Promise<string[]> {
  const cert = new X509Certificate(await readFile(certFile));
  return (cert.subjectAltName ?? '')
    .split(', ')
    .map((entry) => /^(?:DNS|IP Address):(.+)$/.exec(entry)?.[1])
    .filter((h): h is string => h !== undefined && !LOOPBACK_NAMES.includes(h));
}

/** Whether a certificate file already serves every one of `hosts`. */
async function servesAll(certFile: string, hosts: readonly string[]): Promise<boolean> {
  const cert = new X509Certificate(await readFile(certFile));
  return hosts.every((h) => (isIP(h) ? cert.checkIP(h) : cert.checkHost(h)) !== undefined);
}

function leafExtensions(uris: readonly string[], hosts: readonly string[] = []): string[] {
  const names = [...LOOPBACK_NAMES, ...hosts.filter((h) => !LOOPBACK_NAMES.includes(h))];
  const san = [...uris.map((u) => `URI:${u}`), ...names.map(sanEntry)].join(',');
  return [
    ['-addext', `subjectAltName=${san}`],
    ['-addext', 'basicConstraints=critical,CA:FALSE'],
    ['-addext', 'keyUsage=critical,digitalSignature'],
    // every quell certificate may serve (on loopback at least) and dial
    ['-addext', 'extendedKeyUsage=serverAuth,clientAuth'],
  ].flat();
}

/** A new CA: `<dir>/<name>.pem` and `<dir>/<name>-key.pem`. */
export async function createCa(dir: string, o: { name?: string; days?: number; commonName?: string } = {}): Promise<CertAuthority> {
  const name = o.name ?? 'ca';
  const ca = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}-key.pem`) };
  await mkdir(dir, { recursive: true });
  await withScratch(async (scratch) => {
    const config = path.join(scratch, 'req.cnf');
    await writeFile(config, MINIMAL_CONFIG);
    await privateFile(ca.key);
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', ca.key]);
    await openssl([
      'req', '-config', config, '-x509', '-new', '-key', ca.key, '-subj', `/CN=${o.commonName ?? 'quell CA'}`, '-days', String(o.days ?? DEFAULT_DAYS),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', ca.cert,
    ]);
  });
  return ca;
}

/** A certificate for `identity` signed by `ca`: `<dir>/<name>.pem` and `<dir>/<name>-key.pem`. */
export async function issueCert(dir: string, ca: CertAuthority, name: string, identity: Identity, o: IssueOptions = {}): Promise<KeyPair> {
  const pair = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}-key.pem`) };
  const uris = o.uris ?? [formatIdentity(identity)];
  const subject = `/CN=${identityPath(identity).replace('/', ' ')}`;
  await mkdir(dir, { recursive: true });
  await privateFile(pair.key);
  await withScratch(async (scratch) => {
    const config = path.join(scratch, 'req.cnf');
    await writeFile(config, MINIMAL_CONFIG);
    const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-keyout', pair.key, '-subj', subject, ...leafExtensions(uris, o.hosts)];
    if (!o.expired) {
      await openssl(['req', '-config', config, '-x509', ...newKey, '-days', String(o.days ?? DEFAULT_DAYS), '-CA', ca.cert, '-CAkey', ca.key, '-out', pair.cert]);
      return;
    }
    // `req -x509` cannot backdate a certificate; `openssl ca` takes explicit dates.
    const csr = path.join(scratch, 'leaf.csr');
    await openssl(['req', '-config', config, '-new', ...newKey, '-out', csr]);
    await writeFile(path.join(scratch, 'ca.cnf'), CA_CONFIG);
    await writeFile(path.join(scratch, 'index.txt'), '');
    await openssl(
      ['ca', '-config', 'ca.cnf', '-batch', '-notext', '-rand_serial', '-cert', ca.cert, '-keyfile', ca.key, '-in', csr, '-out', pair.cert, '-startdate', '20200101000000Z', '-enddate', '20200102000000Z'],
      scratch,
    );
  });
  return pair;
}

/**
 * `quell certs init DIR`: a CA (kept when DIR already has one) and a certificate for the
 * coordinator, the workloads, each node and each user. Existing files are kept, so running it
 * again with another `--nodes` adds those nodes under the same CA; the one exception is a
 * coordinator or agent certificate that lacks a `--san` name, which is issued again (new key)
 * with the names it had and the new ones.
 */
export async function initCerts(dir: string, o: InitCertsOptions = {}): Promise<InitCertsResult> {
  const td = checkTrustDomain(o.trustDomain ?? DEFAULT_TRUST_DOMAIN);
  const days = o.days ?? DEFAULT_DAYS;
  const san = checkSans(o.san ?? []);
  const abs = path.resolve(dir);
  const written: string[] = [];
  // every name is checked before anything is written
  const wanted = new Map<string, Identity>([
    ['coordinator', identities.coordinator(td)],
    ['workload', identities.workload(td)],
    ...(o.nodes ?? []).map((n): [string, Identity] => [`agent-${n}`, identities.agent(n, td)]),
    ...(o.users ?? []).map((u): [string, Identity] => [`user-${u}`, identities.user(u, td)]),
  ]);
  const caPair = { cert: path.join(abs, 'ca.pem'), key: path.join(abs, 'ca-key.pem') };
  const hasCert = await exists(caPair.cert);
  if (hasCert !== (await exists(caPair.key))) throw chError('BAD_ARGUMENTS', `${abs} holds only one of ca.pem and ca-key.pem: restore the other or remove both`);
  if (!hasCert) {
    // the CA outlives its leaves, so certificates issued later under it stay valid their full term
    await createCa(abs, { days: Math.max(days, CA_DAYS) });
    written.push(caPair.cert, caPair.key);
  }
  const pairs = new Map<string, KeyPair>();
  await Promise.all(
    [...wanted].map(async ([name, identity]) => {
      const pair = { cert: path.join(abs, `${name}.pem`), key: path.join(abs, `${name}-key.pem`) };
      // the daemons that serve: the coordinator and the agents
      const hosts = identity.role === 'coordinator' || identity.role === 'agent' ? san : [];
      const present = (await exists(pair.cert)) && (await exists(pair.key));
      if (!present) {
        await issueCert(abs, caPair, name, identity, { days, hosts });
        written.push(pair.cert, pair.key);
      } else if (hosts.length > 0 && !(await servesAll(pair.cert, hosts))) {
        const had = await extraSans(pair.cert);
        await issueCert(abs, caPair, name, identity, { days, hosts: [...new Set([...had, ...hosts])] });
        written.push(pair.cert, pair.key);
      }
      pairs.set(name, pair);
    }),
  );
  const pick = (prefix: string, names: readonly string[] | undefined): Map<string, KeyPair> => new Map((names ?? []).map((n) => [n, pairs.get(`${prefix}${n}`) as KeyPair]));
  return {
    dir: abs,
    ca: caPair,
    coordinator: pairs.get('coordinator') as KeyPair,
    workload: pairs.get('workload') as KeyPair,
    agents: pick('agent-', o.nodes),
    users: pick('user-', o.users),
    written: written.sort(),
  };
}

/** The roles `quell certs issue` makes a certificate for, and the argument each needs. */
export const ISSUE_ROLES = { coordinator: '', agent: 'NODE_ID', workload: '', user: 'NAME' } as const;
export type IssueRole = keyof typeof ISSUE_ROLES;

export interface IssueOneResult {
  readonly pair: KeyPair;
  readonly identity: string;
  readonly validTo: Date;
}

/**
 * `quell certs issue DIR ROLE [ID]`: one certificate from the CA already in DIR, under the name
 * `certs init` gives it (`agent-<id>.pem`, …), replacing the files there: a rotation. The DNS
 * and IP SANs of the certificate it replaces are kept, `--san` ones added (coordinator and
 * agents). The new pair is written beside the old and renamed over it, the key first, so a
 * daemon that follows the files sees a whole new set within moments (a read in between is
 * rejected, logged, and taken at the next check).
 */
export async function issueFromCa(dir: string, role: IssueRole, id: string | undefined, o: { trustDomain?: string; days?: number; san?: readonly string[] } = {}): Promise<IssueOneResult> {
  const td = checkTrustDomain(o.trustDomain ?? DEFAULT_TRUST_DOMAIN);
  const san = checkSans(o.san ?? []);
  const abs = path.resolve(dir);
  const identity =
    role === 'agent' ? identities.agent(id ?? '', td) : role === 'user' ? identities.user(id ?? '', td) : role === 'coordinator' ? identities.coordinator(td) : identities.workload(td);
  const name = role === 'agent' || role === 'user' ? `${role}-${id ?? ''}` : role;
  const ca = { cert: path.join(abs, 'ca.pem'), key: path.join(abs, 'ca-key.pem') };
  if (!(await exists(ca.cert)) || !(await exists(ca.key))) {
    throw chError('BAD_ARGUMENTS', `${abs} holds no CA (ca.pem and ca-key.pem): make one with quell certs init ${dir}, or issue from your own PKI`);
  }
  const pair = { cert: path.join(abs, `${name}.pem`), key: path.join(abs, `${name}-key.pem`) };
  const serves = identity.role === 'coordinator' || identity.role === 'agent';
  const had = serves && (await exists(pair.cert)) ? await extraSans(pair.cert).catch(() => []) : [];
  // beside the old files, on the same file system, so that the renames replace them whole
  const staging = await mkdtemp(path.join(abs, `.issue-${name}-`));
  try {
    const fresh = await issueCert(staging, ca, name, identity, { days: o.days ?? DEFAULT_DAYS, hosts: serves ? [...new Set([...had, ...san])] : [] });
    await rename(fresh.key, pair.key);
    await rename(fresh.cert, pair.cert);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { pair, identity: formatIdentity(identity), validTo: new Date(new X509Certificate(await readFile(pair.cert)).validTo) };
}
