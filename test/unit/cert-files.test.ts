import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs, { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCerts, type KeyPair } from '../../common/tls/certs';
import { CertFiles } from '../../common/tls/cert-files';

/** Replaces `to`'s files with `from`'s, each by a rename, as a rotation tool does. */
function rotate(to: KeyPair, from: KeyPair): void {
  for (const part of ['cert', 'key'] as const) {
    copyFileSync(from[part], `${to[part]}.new`);
    renameSync(`${to[part]}.new`, to[part]);
  }
}

/** alice's certificate and key in files of their own, and CertFiles on them. */
async function aliceFiles(t: TestContext): Promise<{ alice: KeyPair; bob: KeyPair; mine: KeyPair; files: CertFiles }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-cert-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pki = await initCerts(dir, { users: ['alice', 'bob'], days: 1 });
  const alice = pki.users.get('alice') as KeyPair;
  const mine = { cert: path.join(dir, 'mine.pem'), key: path.join(dir, 'mine-key.pem') };
  copyFileSync(alice.cert, mine.cert);
  copyFileSync(alice.key, mine.key);
  // an interval far longer than the test: only the look at the files when a listener comes can see a rotation
  const files = new CertFiles({ ca: path.join(dir, 'ca.pem'), ...mine }, 'quell', 3_600_000);
  t.after(() => files.close());
  return { alice, bob: pki.users.get('bob') as KeyPair, mine, files };
}

test('a channel or server made after a rotation, with none open in between, starts with the new files', async (t) => {
  const { alice, bob, mine, files } = await aliceFiles(t);

  /** What a new channel's first update carries (grpc-js subscribes, takes it, and here leaves). */
  const firstUpdate = (): Promise<Buffer | undefined> =>
    new Promise((resolve) => {
      const listener = (u: { certificate: Buffer } | null): void => {
        files.removeIdentityCertificateListener(listener);
        resolve(u?.certificate);
      };
      files.addIdentityCertificateListener(listener);
    });
  assert.deepEqual(await firstUpdate(), readFileSync(alice.cert));

  rotate(mine, bob);
  assert.deepEqual(await firstUpdate(), readFileSync(bob.cert));
  assert.deepEqual(files.current.own?.cert, readFileSync(bob.cert));
});

test('a new channel looks at the files once (both its listeners), none while the interval runs, and never updates a listener before it is added', async (t) => {
  const { bob, mine, files } = await aliceFiles(t);
  rotate(mine, bob);
  const stat = t.mock.method(fs, 'statSync');

  // a channel subscribes as grpc-js does: CA, then identity; the updates come after, with bob's files
  const got: string[] = [];
  files.addCaCertificateListener(() => got.push('ca'));
  files.addIdentityCertificateListener((u) => got.push(u?.certificate.equals(readFileSync(bob.cert)) ? 'bob' : 'other'));
  assert.deepEqual(got, [], 'no update inside the subscription');
  assert.equal(stat.mock.callCount(), 3, 'one look: the CA, certificate and key');
  await new Promise((resolve) => process.nextTick(resolve));
  assert.deepEqual(got, ['ca', 'bob']);

  // a second channel while the first is open: the interval follows the files for it
  files.addIdentityCertificateListener(() => undefined);
  assert.equal(stat.mock.callCount(), 3);
});
