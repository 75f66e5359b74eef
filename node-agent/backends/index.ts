import type { Logger } from '../../common/logger';
import type { Backend } from './backend';
import { ClickHouseBackend } from './clickhouse';
import { MariaDbBackend } from './mariadb';
import { PostgresBackend } from './postgres';

const SCHEMES: Record<string, (url: URL, log: Logger) => Backend> = {
  'mariadb:': (url, log) => new MariaDbBackend(url, log),
  'mysql:': (url, log) => new MariaDbBackend(url, log),
  'postgres:': (url, log) => new PostgresBackend(url, log),
  'postgresql:': (url, log) => new PostgresBackend(url, log),
  'clickhouse:': (url, log) => new ClickHouseBackend(url, log),
};

/** `--backend URL` → the server's adapter; a bad URL is a usage error that never echoes the password. */
export function createBackend(raw: string, log: Logger): Backend {
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
