import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodeCrypto, { createHash } from 'node:crypto';
import { Users, hasGrant } from '../../coordinator/auth/users';
import { QuellError } from '../../errors/quell-error';
import { nativePasswordReply as nativeReply } from '../native-password-fixture';

const FILE = `
users:
  default: {}
  alice: { password: secret, grants: [kill query] }
  bob: { password_sha256_hex: "${createHash('sha256').update('pw').digest('hex')}", grants: [ALL] }
  ro: { readonly: true, grants: [KILL QUERY, PROCESS] }
`;

test('users file: passwords, sha256 hashes, grants, readonly', () => {
  const users = Users.parse(FILE);
  assert.equal(users.authenticate('alice', 'secret').name, 'alice');
  assert.equal(users.authenticate('bob', 'pw').name, 'bob');
  assert.equal(users.authenticate('', '').name, 'default');
  assert.ok(hasGrant(users.authenticate('alice', 'secret'), 'KILL QUERY'));
  assert.ok(!hasGrant(users.authenticate('alice', 'secret'), 'KILL MUTATION'));
  assert.ok(hasGrant(users.authenticate('bob', 'pw'), 'KILL MUTATION'));
  const ro = users.authenticate('ro', '');
  assert.ok(!hasGrant(ro, 'KILL QUERY'), 'readonly never holds a kill grant');
  assert.ok(hasGrant(ro, 'PROCESS'));
  assert.ok(!hasGrant(users.authenticate('default', ''), 'KILL QUERY'), 'a listed user has only its grants');
});

test('wrong password and unknown user fail the same way', () => {
  const users = Users.parse(FILE);
  for (const [u, p] of [['alice', 'nope'], ['mallory', ''], ['bob', '']]) {
    assert.throws(
      () => users.authenticate(u as string, p as string),
      (e: unknown) =>
        e instanceof QuellError &&
        e.code === 516 &&
        e.errorName === 'AUTHENTICATION_FAILED' &&
        e.message === `${u}: Authentication failed: password is incorrect, or there is no user with such name.`,
    );
  }
});

test('every login hashes the password and compares in constant time, whatever was wrong', () => {
  const users = Users.parse(FILE);
  // the compiled module calls timingSafeEqual through the module object: count the calls there
  const crypto = nodeCrypto as { timingSafeEqual: (a: Buffer, b: Buffer) => boolean };
  const original = crypto.timingSafeEqual;
  const lengths: number[][] = [];
  crypto.timingSafeEqual = (a, b) => {
    lengths.push([a.length, b.length]);
    return original(a, b);
  };
  try {
    for (const [u, p] of [['alice', 'secret'], ['alice', 'nope'], ['mallory', 'secret'], ['default', 'x'], ['default', '']]) {
      try {
        users.authenticate(u as string, p as string);
      } catch {
        // the outcome is the previous test's; this one counts the comparisons
      }
    }
  } finally {
    crypto.timingSafeEqual = original;
  }
  assert.deepEqual(lengths, [[32, 32], [32, 32], [32, 32], [32, 32], [32, 32]]);
});

test('mysql_native_password: plain passwords and password_double_sha1_hex log in; sha256-only users cannot; no password is an empty reply', () => {
  const dsha1 = createHash('sha1').update(createHash('sha1').update('dpw').digest()).digest('hex');
  const users = Users.parse(`${FILE}  dora: { password_double_sha1_hex: "${dsha1.toUpperCase()}" }\n`);
  const scramble = Buffer.from('abcdefghijklmnopqrst');
  assert.equal(users.nativePasswordCheck('alice', scramble, nativeReply('secret', scramble)).name, 'alice');
  assert.equal(users.nativePasswordCheck('dora', scramble, nativeReply('dpw', scramble)).name, 'dora');
  assert.equal(users.nativePasswordCheck('default', scramble, Buffer.alloc(0)).name, 'default');
  // the double-SHA1 user logs in by plain password through the other doors too
  assert.equal(users.authenticate('dora', 'dpw').name, 'dora');
  const fails = (u: string, reply: Buffer, words: RegExp): void => {
    assert.throws(() => users.nativePasswordCheck(u, scramble, reply), (e: unknown) => e instanceof QuellError && e.code === 516 && words.test(e.message), u);
  };
  fails('alice', nativeReply('nope', scramble), /password is incorrect/);
  fails('alice', nativeReply('secret', Buffer.from('another scramble....')), /password is incorrect/);
  fails('alice', Buffer.alloc(0), /password is incorrect/);
  fails('mallory', nativeReply('secret', scramble), /password is incorrect/);
  fails('default', nativeReply('x', scramble), /password is incorrect/);
  fails('bob', nativeReply('pw', scramble), /only password_sha256_hex/);
});

test('users file: at most one password key; hashes of the right length', () => {
  assert.throws(() => Users.parse('users: { a: { password: x, password_double_sha1_hex: "00" } }'), /users\.a: more than one of password, password_sha256_hex, password_double_sha1_hex/);
  assert.throws(() => Users.parse('users: { a: { password_double_sha1_hex: "abc" } }'), /users\.a\.password_double_sha1_hex must be 40 hexadecimal characters/);
});

test('no users file: default with every grant', () => {
  const d = Users.defaults().authenticate('default', '');
  assert.ok(hasGrant(d, 'KILL QUERY'));
  assert.ok(hasGrant(d, 'SUPER'));
});

test('users file mistakes fail at start-up with the place named', () => {
  assert.throws(() => Users.parse('users: { a: { grants: [KILL EVERYTHING] } }'), /users\.a: unknown grant 'KILL EVERYTHING'/);
  assert.throws(() => Users.parse('nobody: here'), /expected a top-level 'users' map/);
  assert.throws(() => Users.parse('{"users": {"a": {"grants": "ALL"}}}'), /users\.a\.grants must be a list/);
});

test('a users file with a typo, a bad hash or a list fails at start-up, naming the place', () => {
  assert.throws(() => Users.parse('users: { oncall: { pasword: x, grants: [ALL] } }'), /users\.oncall: unknown key 'pasword'/);
  assert.throws(() => Users.parse('users: { alice: alice-pw }'), /users\.alice must be a map/);
  assert.throws(() => Users.parse('users: [a, b]'), /must map user names to settings/);
  assert.throws(() => Users.parse('users: { ro: { readonly: "true" } }'), /users\.ro\.readonly must be true or false/);
  assert.throws(() => Users.parse('users: { h: { password_sha256_hex: abc } }'), /users\.h\.password_sha256_hex must be 64 hexadecimal characters/);
  assert.throws(() => Users.parse('users: {\n  a: [\n'), /^Error: users file: not valid YAML or JSON: [^\n]+$/);
});

test('replace() and refresh(): a reload reaches every holder; an earlier login holds while its user and password do', () => {
  const users = Users.parse(FILE);
  const alice = users.authenticate('alice', 'secret');
  const ro = users.authenticate('ro', '');
  assert.equal(users.refresh(alice), alice, 'no reload: the same entry');
  users.replace(Users.parse('users:\n  default: {}\n  alice: { password: secret, grants: [ALL] }\n  ro: { password: now-one }\n  carol: { password: c }\n'));
  assert.equal(users.size, 4);
  const now = users.refresh(alice);
  assert.ok(now && hasGrant(now, 'KILL MUTATION'), 'the same password: the grants of the new file');
  assert.equal(users.refresh(ro), undefined, 'a new password: the earlier login no longer holds');
  assert.equal(users.authenticate('carol', 'c').name, 'carol', 'a new user logs in at once');
  users.replace(Users.parse('users:\n  default: {}\n'));
  assert.equal(users.refresh(alice), undefined, 'removed');
  assert.throws(() => users.authenticate('alice', 'secret'), (e: unknown) => e instanceof QuellError);
});
