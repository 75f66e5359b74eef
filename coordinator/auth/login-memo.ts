import { timingSafeEqual } from 'node:crypto';
import type { User } from './users';

/**
 * The password login a client's Session stream last passed. Its later statements send the same
 * user and password; they are checked against this one in constant time instead of hashed and
 * throttled again (about 60 µs a statement). Other credentials log in the full way.
 */
export class LoginMemo {
  private last: { readonly name: string; readonly password: Buffer; readonly user: User } | undefined;

  /** The user these credentials logged in as before on this stream, if they are the same. */
  recall(name: string, password: string): User | undefined {
    const last = this.last;
    if (!last || last.name !== name) return undefined;
    const given = Buffer.from(password, 'utf8');
    return given.length === last.password.length && timingSafeEqual(given, last.password) ? last.user : undefined;
  }

  remember(name: string, password: string, user: User): void {
    this.last = { name, password: Buffer.from(password, 'utf8'), user };
  }
}
