import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { chError, type QuellError } from '../../errors/quell-error';
import { errorText } from '../../errors/error-text';

export const GRANTS = ['KILL QUERY', 'KILL MUTATION', 'KILL CONNECTION', 'KILL POLICY', 'PROCESS', 'CONNECTION ADMIN', 'SUPER', 'ALL'] as const;
export type Grant = (typeof GRANTS)[number];

export interface User {
  readonly name: string;
  readonly readonly: boolean;
  readonly grants: ReadonlySet<Grant>;
  /** sha256 of the password, hex */
  readonly passwordSha256?: string;
  /** SHA1(SHA1(password)), hex: what mysql_native_password checks against (MySQL's and ClickHouse's stored form) */
  readonly passwordDoubleSha1?: string;
}

/** Whether the user logs in without a password (none of the password keys given). */
export function hasNoPassword(user: User): boolean {
  return user.passwordSha256 === undefined && user.passwordDoubleSha1 === undefined;
}

interface UserSpec {
  password?: unknown;
  password_sha256_hex?: unknown;
  password_double_sha1_hex?: unknown;
  readonly?: unknown;
  grants?: unknown;
}

const PASSWORD_KEYS = ['password', 'password_sha256_hex', 'password_double_sha1_hex'] as const;
const KNOWN_KEYS = new Set([...PASSWORD_KEYS, 'readonly', 'grants']);

function sha256(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

function sha1(data: Buffer): Buffer {
  return createHash('sha1').update(data).digest();
}

function doubleSha1(password: string): string {
  return sha1(sha1(Buffer.from(password, 'utf8'))).toString('hex');
}

/** The stored hash a users-file entry gives, checked; at most one of the password keys (as ClickHouse's users.xml). */
function storedPassword(spec: UserSpec, where: string): Pick<User, 'passwordSha256' | 'passwordDoubleSha1'> {
  const given = PASSWORD_KEYS.filter((k) => spec[k] !== undefined && spec[k] !== null);
  if (given.length > 1) throw new Error(`${where}: more than one of ${PASSWORD_KEYS.join(', ')} is given: keep one`);
  const hex = (key: 'password_sha256_hex' | 'password_double_sha1_hex', digits: number): string => {
    const v = spec[key];
    if (typeof v !== 'string' || !new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(v)) throw new Error(`${where}.${key} must be ${digits} hexadecimal characters`);
    return v.toLowerCase();
  };
  if (given[0] === 'password_sha256_hex') return { passwordSha256: hex('password_sha256_hex', 64) };
  if (given[0] === 'password_double_sha1_hex') return { passwordDoubleSha1: hex('password_double_sha1_hex', 40) };
  const plain = given[0] === 'password' ? String(spec.password) : '';
  // a plain password can be checked both ways: by the gRPC and HTTP doors and by mysql_native_password
  return plain === '' ? {} : { passwordSha256: sha256(plain), passwordDoubleSha1: doubleSha1(plain) };
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

/** mysql_native_password's scramble and reply are 20 bytes (SHA1). */
export const NATIVE_SCRAMBLE_BYTES = 20;

/** a user without a password logs in with the empty one */
const EMPTY_SHA256 = sha256('');
/** the stand-in hash of a user that does not exist: its password is compared as a real user's is */
const UNKNOWN_USER_SHA256 = randomBytes(32).toString('hex');
const UNKNOWN_USER_DOUBLE_SHA1 = randomBytes(20).toString('hex');

/**
 * The users file (docs/statement-path.md §Access), validated at start-up so a typo fails loudly
 * there. One Users lives as long as its coordinator: a SIGHUP's reload puts the new file's users
 * in it (replace()), so every holder (the statement runner, the policy guard) sees them at once.
 */
export class Users {
  private constructor(private byName: ReadonlyMap<string, User>) {}

  /**
   * Takes the users of `next` (a file read again): new users log in at once; a statement that
   * is running keeps the User it started with; a session that logged in before goes through
   * refresh() at its next statement.
   */
  replace(next: Users): void {
    this.byName = next.byName;
  }

  /** How many users there are (the reload's log line). */
  get size(): number {
    return this.byName.size;
  }

  /**
   * The entry a user that logged in earlier has now: the same one when the file did not change;
   * after a reload, the new entry (its new grants) if it is still there with the same password,
   * else undefined (removed, or its password changed: the login no longer holds).
   */
  refresh(user: User): User | undefined {
    const now = this.byName.get(user.name);
    if (now === user || now === undefined) return now;
    return now.passwordSha256 === user.passwordSha256 && now.passwordDoubleSha1 === user.passwordDoubleSha1 ? now : undefined;
  }

  /** No file: one user `default`, no password, every grant. */
  static defaults(): Users {
    return new Users(new Map([['default', { name: 'default', readonly: false, grants: new Set<Grant>(['ALL']) }]]));
  }

  static load(file: string): Users {
    const text = readFileSync(file, 'utf8');
    return Users.parse(text, file);
  }

  static parse(text: string, source = 'users file'): Users {
    // YAML is a superset of JSON: one parser reads both forms of the file.
    let root: { users?: Record<string, UserSpec | null> } | null;
    try {
      root = YAML.parse(text) as typeof root;
    } catch (err) {
      throw new Error(`${source}: not valid YAML or JSON: ${errorText(err).split('\n')[0]}`);
    }
    if (!root || typeof root.users !== 'object' || root.users === null) throw new Error(`${source}: expected a top-level 'users' map`);
    if (Array.isArray(root.users)) throw new Error(`${source}: 'users' must map user names to settings, not be a list`);
    const byName = new Map<string, User>();
    for (const [name, raw] of Object.entries(root.users)) {
      const where = `${source}: users.${name}`;
      if (raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) throw new Error(`${where} must be a map such as { password: …, grants: [...] }`);
      const spec: UserSpec = raw ?? {};
      // a typo (pasword:) must not silently create a user without a password
      const unknown = Object.keys(spec).filter((k) => !KNOWN_KEYS.has(k));
      if (unknown.length > 0) throw new Error(`${where}: unknown key '${unknown[0]}' (expected ${[...KNOWN_KEYS].join(', ')})`);
      if (spec.readonly !== undefined && typeof spec.readonly !== 'boolean') throw new Error(`${where}.readonly must be true or false`);
      const grants = new Set<Grant>();
      if (spec.grants !== undefined) {
        if (!Array.isArray(spec.grants)) throw new Error(`${where}.grants must be a list`);
        for (const g of spec.grants) {
          const norm = String(g).trim().toUpperCase().replace(/\s+/g, ' ');
          if (!(GRANTS as readonly string[]).includes(norm)) throw new Error(`${where}: unknown grant '${String(g)}'`);
          grants.add(norm as Grant);
        }
      }
      byName.set(name, { name, readonly: spec.readonly === true, grants, ...storedPassword(spec, where) });
    }
    return new Users(byName);
  }

  /**
   * AUTHENTICATION_FAILED with ClickHouse's words; never says which half was wrong, and takes
   * the same steps either way: the password is always hashed and compared in constant time
   * (with a stand-in hash for an unknown user), so timing tells nothing about which users exist.
   */
  authenticate(name: string, password: string): User {
    const user = this.byName.get(name || 'default');
    // both hashes every time: which one the user's entry holds must not show in the timing
    const given = { sha256: sha256(password), doubleSha1: doubleSha1(password) };
    let matches: boolean;
    if (user?.passwordSha256 === undefined && user?.passwordDoubleSha1 !== undefined) {
      matches = timingSafeEqual(Buffer.from(given.doubleSha1, 'hex'), Buffer.from(user.passwordDoubleSha1, 'hex'));
    } else {
      matches = timingSafeEqual(Buffer.from(given.sha256, 'hex'), Buffer.from(user ? (user.passwordSha256 ?? EMPTY_SHA256) : UNKNOWN_USER_SHA256, 'hex'));
    }
    if (!user || !matches) throw authenticationFailed(name);
    return user;
  }

  /**
   * mysql_native_password: the client proved it knows the password by sending
   * SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))); the server holds SHA1(SHA1(password))
   * and checks that SHA1(reply XOR SHA1(scramble + stored)) is the stored hash. A user without a
   * password sends an empty reply. A user with only password_sha256_hex cannot log in this way:
   * its hash cannot check the reply (docs/front-doors.md §Connection phase). Same steps and one constant-time
   * comparison whatever is wrong, as authenticate().
   */
  nativePasswordCheck(name: string, scramble: Buffer, reply: Buffer): User {
    const user = this.byName.get(name || 'default');
    const noPassword = user !== undefined && hasNoPassword(user);
    const stored = Buffer.from(user?.passwordDoubleSha1 ?? UNKNOWN_USER_DOUBLE_SHA1, 'hex');
    const proof = reply.length === NATIVE_SCRAMBLE_BYTES ? reply : Buffer.alloc(NATIVE_SCRAMBLE_BYTES);
    const stage1 = xor(proof, sha1(Buffer.concat([scramble, stored])));
    const hashMatches = timingSafeEqual(sha1(stage1), stored);
    const matches = noPassword ? reply.length === 0 : hashMatches && reply.length === NATIVE_SCRAMBLE_BYTES && user?.passwordDoubleSha1 !== undefined;
    if (!user || !matches) {
      if (user?.passwordSha256 !== undefined && user.passwordDoubleSha1 === undefined) {
        throw chError('AUTHENTICATION_FAILED', `${user.name}: Authentication failed: the user has only password_sha256_hex, which mysql_native_password cannot check; give it password_double_sha1_hex (or password)`);
      }
      throw authenticationFailed(name);
    }
    return user;
  }

  /** The entry of a user, with no login: for checking a stored policy's creator (coordinator/policies/policy-guard.ts). */
  find(name: string): User | undefined {
    return this.byName.get(name);
  }

  /** A user whose client certificate the TLS handshake verified: known users only, no password. */
  certified(name: string): User {
    const user = this.byName.get(name);
    if (!user) throw chError('AUTHENTICATION_FAILED', `${name}: Authentication failed: the client certificate names a user that is not in the users file.`);
    return user;
  }
}

function authenticationFailed(name: string): QuellError {
  return chError('AUTHENTICATION_FAILED', `${name || 'default'}: Authentication failed: password is incorrect, or there is no user with such name.`);
}

/** Whether the user holds a grant; readonly users hold no kill grants (docs/statement-path.md §Access). */
export function hasGrant(user: User, grant: Grant): boolean {
  if (user.readonly && grant !== 'PROCESS') return false;
  return user.grants.has(grant) || user.grants.has('ALL');
}
