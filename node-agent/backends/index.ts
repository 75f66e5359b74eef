import type { Logger } from '../../common/daemon/logger';
import type { Backend } from './backend';

// Each adapter and its driver (mysql2, pg) load only when --backend names them: together they
// cost an agent without a backend, the usual one, about 80 ms of its start (and so of its join).
const SCHEMES: Record<string, (url: URL, log: Logger) => Promise<Backend>> = {
  'mariadb:': async (url, log) => new (await import('./mariadb')).MariaDbBackend(url, log),
  'mysql:': async (url, log) => new (await import('./mariadb')).MariaDbBackend(url, log),
  'postgres:': async (url, log) => new (await import('./postgres')).PostgresBackend(url, log),
  'postgresql:': async (url, log) => new (await import('./postgres')).PostgresBackend(url, log),
  'clickhouse:': async (url, log) => new (await import('./clickhouse')).ClickHouseBackend(url, log),
};

/** `--backend URL` → the server's adapter; a bad URL is a usage error that never echoes the password. */
export async function createBackend(raw: string, log: Logger): Promise<Backend> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('--backend must be a URL such as mariadb://user:password@host:3306');
  }
  const make = SCHEMES[url.protocol];
  if (!make) throw new Error(`--backend scheme '${url.protocol}' is not one of mariadb:, mysql:, postgres:, postgresql:, clickhouse:`);
  return make(url, log);
}
