import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { chError } from '../errors/quell-error';
import { errorText } from '../errors/error-text';

export const GRANTS = ['KILL QUERY', 'KILL MUTATION', 'KILL CONNECTION', 'KILL POLICY', 'PROCESS', 'CONNECTION ADMIN', 'SUPER', 'ALL'] as const;
export type Grant = (typeof GRANTS)[number];

export interface User {
  readonly name: string;
  readonly readonly: boolean;
  readonly grants: ReadonlySet<Grant>;
  /** sha256 of the password, hex; undefined means no password */
  readonly passwordSha256?: string;
}

interface UserSpec {
  password?: unknown;
  password_sha256_hex?: unknown;
  readonly?: unknown;
  grants?: unknown;
}

const KNOWN_KEYS = new Set(['password', 'password_sha256_hex', 'readonly', 'grants']);

function sha256(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

/** a user without a password logs in with the empty one */
const EMPTY_SHA256 = sha256('');
/** the stand-in hash of a user that does not exist: its password is compared as a real user's is */
const UNKNOWN_USER_SHA256 = randomBytes(32).toString('hex');

/** The users file (docs/statement-path.md §Access), validated at start-up so a typo fails loudly there. */
export class Users {
  private constructor(private readonly byName: ReadonlyMap<string, User>) {}

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
      let passwordSha256: string | undefined;
      if (spec.password_sha256_hex !== undefined) {
        if (typeof spec.password_sha256_hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(spec.password_sha256_hex)) {
          throw new Error(`${where}.password_sha256_hex must be 64 hexadecimal characters`);
        }
        passwordSha256 = spec.password_sha256_hex.toLowerCase();
      } else if (spec.password !== undefined && spec.password !== null && String(spec.password) !== '') passwordSha256 = sha256(String(spec.password));
      byName.set(name, { name, readonly: spec.readonly === true, grants, passwordSha256 });
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
    const expected = Buffer.from(user ? (user.passwordSha256 ?? EMPTY_SHA256) : UNKNOWN_USER_SHA256, 'hex');
    const matches = timingSafeEqual(Buffer.from(sha256(password), 'hex'), expected);
    if (!user || !matches) {
      throw chError('AUTHENTICATION_FAILED', `${name || 'default'}: Authentication failed: password is incorrect, or there is no user with such name.`);
    }
    return user;
  }

  /** A user whose client certificate the TLS handshake verified: known users only, no password. */
  certified(name: string): User {
    const user = this.byName.get(name);
    if (!user) throw chError('AUTHENTICATION_FAILED', `${name}: Authentication failed: the client certificate names a user that is not in the users file.`);
    return user;
  }
}

/** Whether the user holds a grant; readonly users hold no kill grants (docs/statement-path.md §Access). */
export function hasGrant(user: User, grant: Grant): boolean {
  if (user.readonly && grant !== 'PROCESS') return false;
  return user.grants.has(grant) || user.grants.has('ALL');
}
