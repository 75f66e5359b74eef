import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCa, issueCert, type KeyPair } from '../../common/tls/certs';
import { identities } from '../../common/tls/identity';
import { isUnreadable, parsePolicyRecord, type PolicyRecord } from '../../common/etcd/kill-policy-record';
import { checkKillIntent, checkPolicyRecord } from '../../common/etcd/signed-records';
import { CLOCK_ALLOWANCE_S, RecordSigner, RecordVerifier, canonicalRecord, stableJson } from '../../common/tls/record-signature';
import { unixNow } from '../../sql/compile';

// One PKI for the file: a CA with a coordinator (twice: before and after a rotation) and an
// agent; a second CA with its own coordinator.
const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-record-sig-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

interface Pki {
  caPem: string;
  coordinator: KeyPair;
  rotated: KeyPair;
  agent: KeyPair;
  otherCoordinator: KeyPair;
}

let pki: Promise<Pki> | undefined;
function setUp(): Promise<Pki> {
  pki ??= (async () => {
    const ca = await createCa(dir);
    const other = await createCa(dir, { name: 'other-ca', commonName: 'another CA' });
    return {
      caPem: readFileSync(ca.cert, 'utf8'),
      coordinator: await issueCert(dir, ca, 'coordinator', identities.coordinator()),
      rotated: await issueCert(dir, ca, 'coordinator-2', identities.coordinator()),
      agent: await issueCert(dir, ca, 'agent-n1', identities.agent('n1')),
      otherCoordinator: await issueCert(dir, other, 'other-coordinator', identities.coordinator()),
    };
  })();
  return pki;
}

const signer = (pair: KeyPair): RecordSigner => new RecordSigner(() => ({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }));
const now = unixNow();
const policy = { cluster: 'c1', name: 'slow', condition: 'greater(elapsed, 60)', action: 'KILL QUERY', every_s: 5, limit: 3, dry_run: false, creator: 'admin', may_kill_others: true, created: now };

test('a record signed by the coordinator verifies; its JSON round trip and key order do not matter', async () => {
  const p = await setUp();
  const verifier = new RecordVerifier(() => p.caPem);
  const signed = signer(p.coordinator).sign('kill-policy', policy);
  assert.ok(signed.signature.chain.startsWith('-----BEGIN CERTIFICATE-----'));
  const stored = JSON.parse(JSON.stringify(signed)) as Record<string, unknown>;
  assert.deepEqual(verifier.verify('kill-policy', stored, [policy.created]), { ok: true });
  const reordered = Object.fromEntries(Object.entries(stored).reverse());
  assert.deepEqual(verifier.verify('kill-policy', reordered), { ok: true });
});

test('an altered field, an added field, a removed signature or another kind fail', async () => {
  const p = await setUp();
  const verifier = new RecordVerifier(() => p.caPem);
  const signed = JSON.parse(JSON.stringify(signer(p.coordinator).sign('kill-policy', policy))) as Record<string, unknown>;
  const altered = verifier.verify('kill-policy', { ...signed, condition: 'greater(elapsed, -1)' });
  assert.equal(altered.ok, false);
  assert.match(!altered.ok ? altered.reason : '', /does not match the record/);
  assert.equal(verifier.verify('kill-policy', { ...signed, suspended: undefined, extra: 1 }).ok, false);
  assert.equal(verifier.verify('kill-policy', { ...signed, creator: 'root' }).ok, false);
  const { signature: _s, ...unsigned } = signed;
  assert.deepEqual(verifier.verify('kill-policy', unsigned), { ok: false, reason: 'unsigned' });
  assert.equal(verifier.verify('mutation-kill', signed).ok, false, 'a policy signature does not pass for a mutation kill');
  const later = { ...signed, signature: { ...(signed.signature as object), signed_at: now - 1 } };
  assert.equal(verifier.verify('kill-policy', later).ok, false, 'signed_at is signed');
});

test('a signature by another key with the coordinator chain fails', async () => {
  const p = await setUp();
  const verifier = new RecordVerifier(() => p.caPem);
  // the agent's key, presenting the coordinator's certificate
  const forged = new RecordSigner(() => ({ cert: readFileSync(p.coordinator.cert), key: readFileSync(p.agent.key) })).sign('kill-policy', policy);
  const v = verifier.verify('kill-policy', JSON.parse(JSON.stringify(forged)) as Record<string, unknown>);
  assert.equal(v.ok, false);
  assert.match(!v.ok ? v.reason : '', /does not match the record/);
});

test("a certificate of another role (an agent's) is refused", async () => {
  const p = await setUp();
  const v = new RecordVerifier(() => p.caPem).verify('kill-policy', signer(p.agent).sign('kill-policy', policy));
  assert.deepEqual(v, { ok: false, reason: 'signed by spiffe://quell/agent…, not by a coordinator' });
});

test('a coordinator certificate from another CA is refused, and so is another trust domain', async () => {
  const p = await setUp();
  const v = new RecordVerifier(() => p.caPem).verify('kill-policy', signer(p.otherCoordinator).sign('kill-policy', policy));
  assert.deepEqual(v, { ok: false, reason: 'signing certificate is not issued by a trusted CA' });
  const td = new RecordVerifier(() => p.caPem, 'other.td').verify('kill-policy', signer(p.coordinator).sign('kill-policy', policy));
  assert.equal(td.ok, false);
  assert.match(!td.ok ? td.reason : '', /outside trust domain 'other\.td'/);
});

test('a record dated beyond the clock allowance is refused; within it, taken', async () => {
  const p = await setUp();
  const verifier = new RecordVerifier(() => p.caPem);
  const ahead = { ...policy, created: now + 86_400 };
  const v = verifier.verify('kill-policy', signer(p.coordinator).sign('kill-policy', ahead), [ahead.created]);
  assert.equal(v.ok, false);
  assert.match(!v.ok ? v.reason : '', /in the future \(clock allowance 5 s\)/);
  const near = { ...policy, created: now + CLOCK_ALLOWANCE_S - 1 };
  assert.deepEqual(verifier.verify('kill-policy', signer(p.coordinator).sign('kill-policy', near), [near.created]), { ok: true });
  // a signature made by a coordinator whose clock runs a day ahead
  const early = signer(p.coordinator).sign('mutation-kill', { id: 'k1' }, Date.now() + 86_400_000);
  assert.equal(verifier.verify('mutation-kill', early).ok, false);
});

test('a rotated coordinator certificate leaves earlier records valid: the check is against the CA and identity', async () => {
  const p = await setUp();
  const verifier = new RecordVerifier(() => p.caPem);
  let pair = p.coordinator;
  const rotating = new RecordSigner(() => ({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }));
  const before = rotating.sign('mutation-kill', { id: 'k1', created_at: now });
  pair = p.rotated;
  const after = rotating.sign('mutation-kill', { id: 'k2', created_at: now });
  assert.notEqual(before.signature.chain, after.signature.chain);
  assert.deepEqual(verifier.verify('mutation-kill', before), { ok: true });
  assert.deepEqual(verifier.verify('mutation-kill', after), { ok: true });
});

test('malformed signatures are refused with a reason, never a throw', async () => {
  const p = await setUp();
  const verifier = new RecordVerifier(() => p.caPem);
  const signed = signer(p.coordinator).sign('kill-policy', policy);
  for (const signature of [null, 'x', { signed_at: now, value: 'AA==', chain: 'not pem' }, { signed_at: now, value: 'AA==', chain: signed.signature.chain.replace(/[A-Z]{10}/, 'QUJDREVGR0hJSg') }, { ...signed.signature, value: '' }, { ...signed.signature, signed_at: 'now' }]) {
    const v = verifier.verify('kill-policy', { ...policy, signature: signature as never });
    assert.equal(v.ok, false, JSON.stringify(signature));
  }
});

test('the canonical encoding is sorted JSON after a domain, kind and time line', () => {
  assert.equal(stableJson({ b: [1, { d: 'x', c: null }], a: true, u: undefined }), '{"a":true,"b":[1,{"c":null,"d":"x"}]}');
  assert.equal(canonicalRecord('mutation-kill', 7, { id: 'k', signature: 'ignored' }).toString(), 'quell-signed-record/v1\nmutation-kill\n7\n{"id":"k"}');
});

test('a signed record moved to another key is invalid there: policies by cluster and name, queued kills by id', async () => {
  const p = await setUp();
  const verifier = new RecordVerifier(() => p.caPem);
  const raw = JSON.stringify(signer(p.coordinator).sign('kill-policy', policy));
  const at = (name: string) => {
    const rec = parsePolicyRecord({ cluster: 'c1', name }, raw);
    assert.ok(!isUnreadable(rec));
    return checkPolicyRecord(rec, verifier);
  };
  assert.deepEqual(at('slow'), { ok: true });
  assert.deepEqual(at('other'), { ok: false, reason: 'signed for another key (cluster c1, name slow)' });
  assert.deepEqual(checkPolicyRecord(parsePolicyRecord({ cluster: 'c1', name: 'other' }, raw) as PolicyRecord, undefined), { ok: true }, 'without a CA (--insecure) nothing is checked');
  const intent = signer(p.coordinator).sign('mutation-kill', { id: 'k1', cluster: 'c1', where: '1', user: 'u', created_at: now, expires_at: now + 60, nodes: ['n1'], lease: '7' });
  assert.deepEqual(checkKillIntent(intent, verifier, 'k1'), { ok: true });
  assert.deepEqual(checkKillIntent(intent, verifier, 'k2'), { ok: false, reason: 'signed for kill id k1, stored under k2' });
  assert.equal(checkKillIntent({ ...intent, nodes: ['n1', 'n2'] }, verifier, 'k1').ok, false, 'another node added');
});
