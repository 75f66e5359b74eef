import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUnreadable, parsePolicyRecord, type PolicyRecord } from '../../common/etcd/kill-policy-record';
import { suspensionReason } from '../../coordinator/policies/policy-guard';
import { Users } from '../../coordinator/auth/users';

const REC: PolicyRecord = {
  cluster: 'c3', name: 'p', condition: "equals(user, 'etl')", action: 'KILL QUERY', every_s: 1, limit: 0, dry_run: false, escalate_after_s: 0, reason: '',
  creator: 'admin', may_kill_others: true, created: 1,
};

const users = (admin: string) => Users.parse(`users:\n  default: { grants: [ALL] }\n  admin: ${admin}\n`);

test('suspensionReason: the creator must still hold what the policy was stored with', () => {
  assert.equal(suspensionReason(REC, users('{ grants: [KILL POLICY, KILL QUERY] }')), undefined);
  assert.equal(suspensionReason(REC, Users.parse('users:\n  default: {}\n')), "creator admin is not in the coordinator's users file");
  assert.equal(suspensionReason(REC, users('{ grants: [KILL QUERY] }')), 'creator admin no longer holds the grant KILL POLICY');
  assert.equal(suspensionReason(REC, users('{ readonly: true, grants: [ALL] }')), 'creator admin no longer holds the grant KILL POLICY', 'readonly holds no kill grants');
  assert.equal(suspensionReason(REC, users('{ grants: [KILL POLICY] }')), 'creator admin no longer holds the right to KILL QUERY of other users');
  // stored without the right: losing it changes nothing
  assert.equal(suspensionReason({ ...REC, may_kill_others: false }, users('{ grants: [KILL POLICY] }')), undefined);
  assert.equal(suspensionReason({ ...REC, action: 'KILL CONNECTION' }, users('{ grants: [KILL POLICY, CONNECTION ADMIN] }')), undefined);
});

test('parsePolicyRecord reads the suspension mark, and refuses a malformed one', () => {
  const raw = (extra: object) => JSON.stringify({ ...REC, ...extra });
  const at = { cluster: 'c3', name: 'p' };
  assert.deepEqual(parsePolicyRecord(at, raw({})), REC);
  assert.deepEqual(parsePolicyRecord(at, raw({ suspended: { reason: 'gone', at: 5 } })), { ...REC, suspended: { reason: 'gone', at: 5 } });
  for (const bad of [null, 'x', { reason: '', at: 5 }, { reason: 'gone' }]) {
    const r = parsePolicyRecord(at, raw({ suspended: bad }));
    assert.ok(isUnreadable(r) && /^field suspended/.test(r.unreadable), JSON.stringify(bad));
  }
});
