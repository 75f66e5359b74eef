import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  certificateUris,
  describeExpectation,
  formatIdentity,
  identities,
  identityOfCertificate,
  meetsExpectation,
  parseIdentity,
  splitSubjectAltName,
} from '../../common/tls/identity';

test('identities round-trip through their SPIFFE URIs', () => {
  const all = [identities.coordinator(), identities.agent('n1'), identities.workload(), identities.user('alice'), identities.agent('db-7.eu', 'prod.example')];
  assert.deepEqual(
    all.map(formatIdentity),
    ['spiffe://quell/coordinator', 'spiffe://quell/agent/n1', 'spiffe://quell/workload', 'spiffe://quell/user/alice', 'spiffe://prod.example/agent/db-7.eu'],
  );
  for (const id of all) assert.deepEqual(parseIdentity(formatIdentity(id)), id);
});

test('URIs that are not quell identities do not parse', () => {
  for (const uri of [
    'spiffe://quell/agent',
    'spiffe://quell/agent/n1/x',
    'spiffe://quell/coordinator/x',
    'spiffe://quell/admin',
    'spiffe://quell/user/..',
    'spiffe://quell/user/a%2Fb',
    'spiffe://Quell/coordinator',
    'spiffe://quell/',
    'https://quell/coordinator',
    'spiffe://quell//coordinator',
  ]) {
    assert.equal(parseIdentity(uri), undefined, uri);
  }
});

test('making an identity from a bad name or trust domain is a one-line error', () => {
  assert.throws(() => identities.user('bob smith'), /invalid user name 'bob smith'/);
  assert.throws(() => identities.agent('a/b'), /invalid node id 'a\/b'/);
  assert.throws(() => identities.coordinator('Bad TD'), /invalid trust domain 'Bad TD'/);
});

test("Node's subjectaltname text splits into entries, quoted values included", () => {
  assert.deepEqual(splitSubjectAltName('URI:spiffe://quell/agent/n1, DNS:localhost, IP Address:127.0.0.1'), [
    { type: 'URI', value: 'spiffe://quell/agent/n1' },
    { type: 'DNS', value: 'localhost' },
    { type: 'IP Address', value: '127.0.0.1' },
  ]);
  // a value holding ", URI:" is quoted by Node and stays one entry
  assert.deepEqual(certificateUris({ subjectaltname: 'URI:"x, URI:spiffe://quell/coordinator", DNS:localhost' }), ['x, URI:spiffe://quell/coordinator']);
  assert.deepEqual(splitSubjectAltName(''), []);
});

test('a certificate carries exactly one identity in our trust domain', () => {
  assert.deepEqual(identityOfCertificate({ subjectaltname: 'URI:spiffe://quell/agent/n1, DNS:localhost' }), { ok: true, identity: identities.agent('n1') });
  const two = identityOfCertificate({ subjectaltname: 'URI:spiffe://quell/agent/n1, URI:spiffe://quell/coordinator' });
  assert.deepEqual(two, { ok: false, reason: 'several SPIFFE IDs (spiffe://quell/agent/n1, spiffe://quell/coordinator)' });
  assert.deepEqual(identityOfCertificate({ subjectaltname: 'URI:spiffe://other/coordinator' }), { ok: false, reason: "spiffe://other/coordinator is outside trust domain 'quell'" });
  assert.deepEqual(identityOfCertificate({ subjectaltname: 'URI:spiffe://other/coordinator' }, 'other'), { ok: true, identity: identities.coordinator('other') });
  assert.deepEqual(identityOfCertificate({ subjectaltname: 'DNS:localhost' }), { ok: false, reason: 'no spiffe:// URI SAN (SAN DNS:localhost)' });
  assert.deepEqual(identityOfCertificate({ subjectaltname: 'URI:spiffe://quell/root' }), { ok: false, reason: 'spiffe://quell/root is not a quell identity' });
});

test('expectations: one identity, or any identity of a role', () => {
  assert.ok(meetsExpectation(identities.agent('n1'), identities.agent('n1')));
  assert.ok(!meetsExpectation(identities.agent('n2'), identities.agent('n1')));
  assert.ok(meetsExpectation(identities.agent('n2'), 'agent'));
  assert.ok(!meetsExpectation(identities.agent('n2', 'other'), 'agent'));
  assert.ok(!meetsExpectation(identities.workload(), 'agent'));
  assert.equal(describeExpectation('agent'), 'spiffe://quell/agent/*');
  assert.equal(describeExpectation('coordinator'), 'spiffe://quell/coordinator');
  assert.equal(describeExpectation(identities.user('bob')), 'spiffe://quell/user/bob');
});
