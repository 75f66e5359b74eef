import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Users, hasGrant } from '../../coordinator/users';
import { QuellError } from '../../sql/errors';

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
