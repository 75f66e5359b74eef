import { ScratchDir } from './scratch-dir';
import { waitServing } from './wait-serving';
import { accessSync, constants, readFileSync } from 'node:fs';
import * as path from 'node:path';
import mysql from 'mysql2/promise';
import { freePort, spawnChild, type Child } from '../../../common/daemon/child-processes';

/**
 * A private MariaDB server for one test file: its own data directory and loopback port, so tests
 * never touch (or depend on) a shared server and can stop and restart it at will. Missing
 * binaries throw: a backend test that silently skips proves nothing.
 */

const MARIADBD = process.env.QUELL_MARIADBD ?? '/usr/sbin/mariadbd';
const INSTALL_DB = process.env.QUELL_MARIADB_INSTALL_DB ?? '/usr/bin/mariadb-install-db';

export interface MariaDbUser {
  readonly name: string;
  readonly password: string;
  /** GRANT text, e.g. 'PROCESS, CONNECTION ADMIN ON *.*' */
  readonly grants: readonly string[];
}

/** quell sees and kills everyone; etl owns the `shop` database the tests write to. */
export const DEFAULT_USERS: readonly MariaDbUser[] = [
  { name: 'quell', password: 'pw', grants: ['PROCESS, CONNECTION ADMIN ON *.*'] },
  { name: 'etl', password: 'etlpw', grants: ['ALL ON shop.*'] },
];

export interface MariaDbInstance {
  readonly port: number;
  /** mariadb://user:pass@127.0.0.1:port */
  url(user: string, pass: string): string;
  /** a root connection (no password) for setup and checks */
  rootConnection(): Promise<mysql.Connection>;
  /** stops the server (SIGTERM, then SIGKILL); the data directory stays for restart() */
  stop(): Promise<void>;
  /** starts the server again on the same port and data directory */
  restart(): Promise<void>;
  /** stops the server and removes its directory */
  destroy(): Promise<void>;
}

function requireBinary(file: string): void {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new Error(`${file} is missing or not executable — install MariaDB (Debian: apt-get install mariadb-server) or set QUELL_MARIADBD / QUELL_MARIADB_INSTALL_DB`);
  }
}

export async function startMariaDb(users: readonly MariaDbUser[] = DEFAULT_USERS): Promise<MariaDbInstance> {
  requireBinary(MARIADBD);
  requireBinary(INSTALL_DB);
  const scratch = new ScratchDir('quell-mariadb-');
  const dir = scratch.dir;
  const datadir = path.join(dir, 'data');
  const logFile = path.join(dir, 'error.log');
  // mariadbd refuses to run as root unless told to
  const asUser = process.getuid?.() === 0 ? ['--user=root'] : [];
  // small InnoDB files: three of these start in well under a second each
  // its own tmpdir: parallel bootstraps sharing /tmp collide on temporary table names
  const perInstance = ['--innodb-buffer-pool-size=16M', '--innodb-log-file-size=8M', `--tmpdir=${dir}`];
  const port = await freePort();
  let child: Child | undefined;

  const install = spawnChild(INSTALL_DB, [
    '--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db',
    '--skip-name-resolve', ...asUser, ...perInstance,
  ]);
  const code = await install.exited;
  if (code !== 0) {
    scratch.remove();
    throw new Error(`mariadb-install-db failed (${code}): ${install.stderr().slice(-2000)} ${install.stdout().slice(-1000)}`);
  }

  const rootConnection = (): Promise<mysql.Connection> =>
    mysql.createConnection({ host: '127.0.0.1', port, user: 'root', password: '', connectTimeout: 2_000 });

  const start = async (): Promise<void> => {
    const c = spawnChild(MARIADBD, [
      '--no-defaults', `--datadir=${datadir}`, `--port=${port}`, `--socket=${path.join(dir, 'mysqld.sock')}`,
      '--bind-address=127.0.0.1', '--skip-networking=0', '--skip-name-resolve', `--pid-file=${path.join(dir, 'mysqld.pid')}`,
      `--log-error=${logFile}`, ...asUser, ...perInstance,
    ]);
    child = c;
    scratch.adopt(c);
    // a leaked instance must not keep the test process alive: its exit hook then kills it
    c.proc.unref();
    for (const stream of [c.proc.stdout, c.proc.stderr]) (stream as { unref?: () => void } | null)?.unref?.();
    const log = (): string => {
      try {
        return readFileSync(logFile, 'utf8').slice(-2000);
      } catch {
        return c.stderr().slice(-2000);
      }
    };
    await waitServing(`mariadbd on port ${port}`, c, async () => (await rootConnection()).end(), log);
  };

  const stop = async (): Promise<void> => {
    await child?.stop('SIGTERM', 10_000);
  };

  const destroy = async (): Promise<void> => {
    await stop();
    scratch.remove();
  };

  try {
    await start();
    const conn = await rootConnection();
    try {
      await conn.query('CREATE DATABASE shop');
      await conn.query('CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(100)) ENGINE=InnoDB');
      for (const u of users) {
        await conn.query('CREATE USER ?@? IDENTIFIED BY ?', [u.name, '%', u.password]);
        for (const g of u.grants) await conn.query(`GRANT ${g} TO ?@?`, [u.name, '%']);
      }
    } finally {
      await conn.end();
    }
  } catch (err) {
    await destroy();
    throw err;
  }

  return {
    port,
    url: (user, pass) => `mariadb://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@127.0.0.1:${port}`,
    rootConnection,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    destroy,
  };
}
