import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Range, type Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../../common/daemon/child-processes';
import { connectEtcd } from '../../common/etcd/client';
import { AGENT_SHARED_WRITES, COORDINATOR_WRITES, agentOwnWrites, type EtcdWrites } from '../../common/etcd/etcd-layout';

// docs/security.md: etcd with TLS, client certificates and `auth enable`; the daemons use
// --etcd-ca/--etcd-cert/--etcd-key and --etcd-user with QUELL_ETCD_PASSWORD, under the
// roles the README gives (set up here with the etcd3 client, as `etcdctl` would).

const FIXED_PASSWORDS = { root: 'root-pw', 'quell-coordinator': 'coord-pw', 'quell-admin': 'admin-pw' } as const;
/** Every agent node's etcd user, `quell-agent-<node_id>`, has this password. */
const AGENT_PASSWORD = 'agent-pw';
/** Every password the fixture hands out: none may appear in a log. */
export const ETCD_PASSWORDS: readonly string[] = [...Object.values(FIXED_PASSWORDS), AGENT_PASSWORD];
/** root, quell-coordinator, quell-admin, or an agent node's `quell-agent-<node_id>` */
export type EtcdUser = keyof typeof FIXED_PASSWORDS | `quell-agent-${string}`;

export function etcdPassword(user: EtcdUser): string {
  return user.startsWith('quell-agent-') ? AGENT_PASSWORD : FIXED_PASSWORDS[user as keyof typeof FIXED_PASSWORDS];
}

/** The README's grants of one role: read everything under /quell/v1/ (unless `read` is false), write only `writes`. */
function grants(writes: EtcdWrites, read = true): { permission: 'Read' | 'Readwrite'; range: Range }[] {
  return [
    ...(read ? [{ permission: 'Read' as const, range: Range.prefix('/quell/v1/') }] : []),
    ...writes.prefixes.map((p) => ({ permission: 'Readwrite' as const, range: Range.prefix(p) })),
    ...writes.keys.map((k) => ({ permission: 'Readwrite' as const, range: new Range(k) })),
  ];
}

export interface AuthEtcdOptions {
  /** agent nodes and their clusters: each gets its user `quell-agent-<node_id>` and its own role */
  readonly agents: Readonly<Record<string, readonly string[]>>;
  /** runs as root before `auth enable`, for a test's own keys */
  readonly seed?: (root: Etcd3) => Promise<void>;
}

/** A CA and EC P-256 certificates for etcd (server) and each user (etcd's client-cert-auth takes the CN as the user). */
function makeCerts(into: string, names: readonly string[]): void {
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: into, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run('req', '-x509', ...newKey, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=quell test etcd CA');
  writeFileSync(path.join(into, 'ext.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const name of ['etcd-server', ...names]) {
    run('req', ...newKey, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', 'ext.cnf');
  }
}

/**
 * A private etcd with TLS, client certificates and `auth enable`, with the README's users and
 * roles: one user per agent node (the shared `quell-agent` role plus its own node's keys), the
 * coordinators' and the administrator's. `etcd` is the member now running: restart() brings it
 * back on its data and ports.
 */
export class AuthEtcd {
  private constructor(
    private readonly dir: string,
    private server: EtcdServer,
  ) {}

  static async start(o: AuthEtcdOptions): Promise<AuthEtcd> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-etcd-auth-'));
    const file = (name: string): string => path.join(dir, name);
    const agentUsers = Object.keys(o.agents).map((n) => `quell-agent-${n}` as const);
    makeCerts(dir, [...Object.keys(FIXED_PASSWORDS), ...agentUsers]);
    const server = await startEtcd({ tls: { ca: file('ca.pem'), cert: file('etcd-server.pem'), key: file('etcd-server-key.pem'), client: { cert: file('root.pem'), key: file('root-key.pem') } } });
    const fixture = new AuthEtcd(dir, server);
    // before `auth enable` the root certificate alone is enough: the README's roles, then auth on
    const setup = connectEtcd({ endpoints: [server.url], ca: file('ca.pem'), cert: file('root.pem'), key: file('root-key.pem') });
    try {
      await setup.user('root').create(FIXED_PASSWORDS.root);
      await setup.role('root').create();
      await setup.user('root').addRole('root');
      await setup.role('quell-agent').create();
      await setup.role('quell-agent').grant(grants(AGENT_SHARED_WRITES));
      await setup.role('quell-coordinator').create();
      await setup.role('quell-coordinator').grant(grants(COORDINATOR_WRITES));
      await setup.role('quell-admin').create();
      await setup.role('quell-admin').grant({ permission: 'Readwrite', range: Range.prefix('/quell/v1/') });
      for (const user of ['quell-coordinator', 'quell-admin'] as const) {
        await setup.user(user).create(FIXED_PASSWORDS[user]);
        await setup.user(user).addRole(user);
      }
      for (const [nodeId, clusters] of Object.entries(o.agents)) {
        const user = `quell-agent-${nodeId}`;
        await setup.role(user).create();
        await setup.role(user).grant(grants(agentOwnWrites(nodeId, clusters), false));
        await setup.user(user).create(AGENT_PASSWORD);
        await setup.user(user).addRole(user);
        await setup.user(user).addRole('quell-agent');
      }
      await o.seed?.(setup);
      await setup.auth.authEnable();
    } catch (err) {
      await fixture.stop();
      throw err;
    } finally {
      setup.close();
    }
    return fixture;
  }

  get etcd(): EtcdServer {
    return this.server;
  }

  get url(): string {
    return this.server.url;
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  /** A client that logs in as `user` with its certificate and password. */
  connect(user: EtcdUser, password: string = etcdPassword(user)): Etcd3 {
    return connectEtcd({ endpoints: [this.url], ca: this.file('ca.pem'), cert: this.file(`${user}.pem`), key: this.file(`${user}-key.pem`), user, password });
  }

  /** `--etcd …` flags of a daemon that logs in to etcd as `user`. */
  flags(user: EtcdUser): string[] {
    return ['--etcd', this.url, '--etcd-ca', this.file('ca.pem'), '--etcd-cert', this.file(`${user}.pem`), '--etcd-key', this.file(`${user}-key.pem`), '--etcd-user', user];
  }

  /** The environment that gives `user`'s password to a daemon. */
  env(user: EtcdUser, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { QUELL_ETCD_PASSWORD: etcdPassword(user), ...extra };
  }

  /** Stops etcd, keeping its data. */
  halt(): Promise<void> {
    return this.server.halt();
  }

  /** Starts etcd again on its data directory and ports; resolves once it answers. */
  async restart(): Promise<void> {
    this.server = await this.server.restart();
  }

  async stop(): Promise<void> {
    await this.server.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
