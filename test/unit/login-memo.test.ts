import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginMemo } from '../../coordinator/auth/login-memo';
import { Users } from '../../coordinator/auth/users';

// A Session stream's later statements with the same credentials skip the hash; any other
// credentials are not recalled and log in the full way (and can fail).

test('a memo recalls only the same user with the very same password', () => {
  const users = Users.parse('users:\n  alice:\n    password: s3cret\n  bob:\n    password: other\n');
  const memo = new LoginMemo();
  assert.equal(memo.recall('alice', 's3cret'), undefined, 'nothing is recalled before a login');
  memo.remember('alice', 's3cret', users.authenticate('alice', 's3cret'));
  assert.equal(memo.recall('alice', 's3cret')?.name, 'alice');
  assert.equal(memo.recall('alice', 's3cre'), undefined, 'a shorter password');
  assert.equal(memo.recall('alice', 's3cret!'), undefined, 'a longer password');
  assert.equal(memo.recall('alice', 'S3CRET'), undefined, 'same length, different bytes');
  assert.equal(memo.recall('bob', 's3cret'), undefined, 'another user with that password');
  memo.remember('bob', 'other', users.authenticate('bob', 'other'));
  assert.equal(memo.recall('alice', 's3cret'), undefined, 'only the last login is kept');
  assert.equal(memo.recall('bob', 'other')?.name, 'bob');
});
