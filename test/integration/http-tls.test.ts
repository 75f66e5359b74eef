import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import * as https from 'node:https';
import type { PeerCertificate } from 'node:tls';
import pino from 'pino';
import { HttpDoor } from '../../coordinator/doors/http/http-door';
import type { StatementRunner } from '../../coordinator/statements/statement-runner';
import { identityOfCertificate, formatIdentity } from '../../common/tls/identity';
import { TransportSecurity, type TlsOptions } from '../../common/tls';
import { testPki, type TestPki } from './tls-fixture';

// The HTTP door's transport on its own (no statements): HTTPS that follows certificate
// rotations, and plaintext only where --insecure allows it.

let pki: TestPki;
let scratch: string;
const log = pino({ level: 'silent' });
// /ping never reaches the statement path
const runner = {} as StatementRunner;

before(async () => {
  pki = await testPki();
  scratch = mkdtempSync(path.join(os.tmpdir(), 'quell-http-tls-'));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

/** GET /ping over HTTPS trusting the test CA; the identity the server presented. */
function pingTls(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let presented = '';
    const req = https.get(`https://${address}/ping`, {
      ca: readFileSync(pki.ca),
      agent: false,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const id = identityOfCertificate(cert);
        presented = id.ok ? formatIdentity(id.identity) : id.reason;
        return undefined;
      },
    }, (res) => {
      res.setEncoding('utf8');
      let body = '';
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (body === 'Ok.\n' ? resolve(presented) : reject(new Error(`body ${JSON.stringify(body)}`))));
    });
    req.on('error', reject);
  });
}

function rotate(to: TlsOptions, from: TlsOptions): void {
  for (const part of ['cert', 'key'] as const) {
    copyFileSync(from[part] as string, `${to[part] as string}.new`);
    renameSync(`${to[part] as string}.new`, to[part] as string);
  }
}

test('HTTPS presents the rotated certificate to new connections', async () => {
  const dir = mkdtempSync(path.join(scratch, 'rot-'));
  const files: TlsOptions = { ca: pki.ca, cert: path.join(dir, 'tls.pem'), key: path.join(dir, 'tls-key.pem') };
  copyFileSync(pki.coordinator().cert as string, files.cert as string);
  copyFileSync(pki.coordinator().key as string, files.key as string);
  const security = TransportSecurity.from(files);
  const door = await HttpDoor.start({ listen: '127.0.0.1:0', security, runner, log });
  try {
    assert.equal(await pingTls(door.address), 'spiffe://quell/coordinator');
    rotate(files, pki.agent('n7'));
    assert.equal(security.reloadNow(), true);
    assert.equal(await pingTls(door.address), 'spiffe://quell/agent/n7');
  } finally {
    await door.close();
    security.close();
  }
});

test('plaintext HTTP only with --insecure on loopback', async () => {
  await assert.rejects(HttpDoor.start({ listen: '127.0.0.1:0', security: TransportSecurity.from({}), runner, log }), /plaintext only with --insecure/);
  await assert.rejects(HttpDoor.start({ listen: '0.0.0.0:0', security: TransportSecurity.from({ insecure: true }), runner, log }), /0\.0\.0\.0:0 is not a loopback address/);
  const door = await HttpDoor.start({ listen: '127.0.0.1:0', security: TransportSecurity.from({ insecure: true }), runner, log });
  try {
    const body = await new Promise<string>((resolve, reject) => {
      http.get(`http://${door.address}/ping`, (res) => {
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    assert.equal(body, 'Ok.\n');
  } finally {
    await door.close();
  }
});
