import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCerts, type InitCertsResult, type KeyPair } from '../../common/tls/certs';
import type { TlsOptions } from '../../common/tls/options';
import { tlsArgv } from '../../cli/tls-args';

export const TEST_NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8'] as const;
export const TEST_USERS = ['alice', 'bob', 'admin', 'default'] as const;

/** The test process's PKI: one CA and a certificate for every identity the tests use. */
export class TestPki {
  constructor(readonly certs: InitCertsResult) {}

  get dir(): string {
    return this.certs.dir;
  }

  get ca(): string {
    return this.certs.ca.cert;
  }

  private options(pair: KeyPair | undefined): TlsOptions {
    return pair ? { ca: this.ca, cert: pair.cert, key: pair.key } : { ca: this.ca };
  }

  coordinator(): TlsOptions {
    return this.options(this.certs.coordinator);
  }

  agent(nodeId: string): TlsOptions {
    const pair = this.certs.agents.get(nodeId);
    if (!pair) throw new Error(`the test PKI has no certificate for node '${nodeId}' (it has ${TEST_NODES.join(',')})`);
    return this.options(pair);
  }

  workload(): TlsOptions {
    return this.options(this.certs.workload);
  }

  user(name: string): TlsOptions {
    const pair = this.certs.users.get(name);
    if (!pair) throw new Error(`the test PKI has no certificate for user '${name}'`);
    return this.options(pair);
  }

  /** Trusts the CA, presents no certificate (a password login). */
  anonymous(): TlsOptions {
    return this.options(undefined);
  }

  /** `--tls-ca … --tls-cert … --tls-key …` for a spawned daemon or client. */
  argv(o: TlsOptions): string[] {
    return tlsArgv(o);
  }
}

let pki: Promise<TestPki> | undefined;

/** Made once per test process in a temporary directory, removed when the process exits. */
export function testPki(): Promise<TestPki> {
  pki ??= (async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-pki-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return new TestPki(await initCerts(dir, { nodes: TEST_NODES, users: TEST_USERS, days: 2 }));
  })();
  return pki;
}
