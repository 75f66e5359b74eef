import { ScratchDir } from './scratch-dir';
import { waitServing } from './wait-serving';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { freePort, spawnChild, type Child } from '../../../common/daemon/child-processes';

/**
 * A private PostgreSQL for one test file: its own temp data dir, a free loopback port, password
 * (scram) auth over TCP so a wrong password is refused, trust only on its private unix socket
 * (used here to create roles). Missing binaries throw: these tests never skip.
 */

const BIN = process.env.QUELL_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Roles every instance has, with their passwords. */
export const PG_ROLES = {
  /** a workload user */
  etl: 'etl-secret',
  /** what agents log in as: sees and signals others' backends, is not superuser */
  quell: 'quell-secret',
} as const;

export interface PostgresInstance {
  readonly port: number;
  url(user: string, pass: string, db?: string): string;
  /** SQL as the superuser over the private socket (setup and assertions) */
  admin(sql: string): Promise<Record<string, unknown>[]>;
  /** shuts the server down (fast), keeping the data dir for restart() */
  stop(): Promise<void>;
  /** starts it again on the same port and data dir (stops it first if running) */
  restart(): Promise<void>;
  /** stops it and removes the temp dir */
  destroy(): Promise<void>;
  /** what the server has written to its log (stderr) since it last started */
  serverLog(): string;
}

/** PostgreSQL refuses to run as root: as root, run its binaries as the postgres user (setpriv execs, so signals reach postgres itself). */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  const full = path.join(BIN, bin);
  if (!existsSync(full)) throw new Error(`PostgreSQL binary ${full} not found — install postgresql-15 or set QUELL_PG_BIN`);
  if (process.getuid?.() !== 0) return [full, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', full, ...args]];
}

export async function startPostgres(): Promise<PostgresInstance> {
  for (const bin of ['initdb', 'postgres']) asPostgres(bin, []); // throws before anything is created
  // SIGQUIT: a postmaster's immediate shutdown, which also stops its backends
  const scratch = new ScratchDir('quell-pg-', 'SIGQUIT');
  const dir = scratch.dir;
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  mkdirSync(sock);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    for (const d of [dir, sock]) chownSync(d, uid, gid);
  }
  const pwfile = path.join(dir, 'pw');
  writeFileSync(pwfile, 'postgres-secret\n', { mode: 0o644 });
  const [initCmd, initArgs] = asPostgres('initdb', [
    '-D', data, '-U', 'postgres', '--pwfile', pwfile, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync',
  ]);
  try {
    execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  } catch (err) {
    scratch.remove();
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`initdb failed: ${e.stderr?.toString() ?? e.message}`);
  }
  const port = await freePort();
  let child: Child | undefined;

  const connectAdmin = async (): Promise<Client> => {
    const c = new Client({ host: sock, port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2_000 });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };

  const start = async (): Promise<void> => {
    const [cmd, args] = asPostgres('postgres', [
      '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', sock,
      // throwaway data: durability off for speed
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    ]);
    const c = spawnChild(cmd, args);
    child = c;
    scratch.adopt(c);
    await waitServing(`postgres on port ${port}`, c, async () => (await connectAdmin()).end(), () => c.stderr().slice(-2000));
  };

  const stop = async (): Promise<void> => {
    // SIGINT is PostgreSQL's fast shutdown: sessions are terminated, not waited for
    await child?.stop('SIGINT', 15_000);
    child = undefined;
  };

  const admin = async (sql: string): Promise<Record<string, unknown>[]> => {
    const c = await connectAdmin();
    try {
      return (await c.query<Record<string, unknown>>(sql)).rows;
    } finally {
      await c.end();
    }
  };

  const destroy = async (): Promise<void> => {
    await stop();
    scratch.remove();
  };

  try {
    await start();
    await admin(`
      CREATE ROLE etl LOGIN PASSWORD '${PG_ROLES.etl}';
      CREATE ROLE quell LOGIN PASSWORD '${PG_ROLES.quell}' IN ROLE pg_signal_backend, pg_read_all_stats;`);
  } catch (err) {
    await destroy();
    throw err;
  }

  return {
    port,
    url: (user, pass, db = 'postgres') => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@127.0.0.1:${port}/${db}`,
    admin,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    destroy,
    serverLog: () => child?.stderr() ?? '',
  };
}
