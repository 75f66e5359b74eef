import { ScratchDir } from './scratch-dir';
import { waitServing } from './wait-serving';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { freePort, spawnChild, type Child } from '../../../common/daemon/child-processes';

/**
 * A private ClickHouse server for one test file: its own temp dir, generated config and free
 * loopback ports, so tests never touch (or depend on) a shared server and can stop and restart
 * it at will. ClickHouse 18.16 (Debian) runs as root without complaint, so it runs as whoever
 * runs the tests. A missing binary throws: a backend test that silently skips proves nothing.
 */

const SERVER = process.env.QUELL_CLICKHOUSE_SERVER ?? '/usr/sbin/clickhouse-server';

/** The user with a password (the auth tests); `default` has none. */
export const CH_USER = { name: 'quell', password: 'quell-secret' } as const;

export interface ClickHouseInstance {
  readonly httpPort: number;
  /** clickhouse://[user:pass@]127.0.0.1:httpPort */
  url(user?: string, pass?: string): string;
  /** one statement over HTTP as `default`; resolves with the body, rejects with the server's error text */
  query(sql: string, opts?: { queryId?: string; signal?: AbortSignal }): Promise<string>;
  /** stops the server (SIGTERM, then SIGKILL); the temp dir stays for restart() */
  stop(): Promise<void>;
  /** starts the server again on the same ports and data */
  restart(): Promise<void>;
  /** stops the server and removes its temp dir */
  destroy(): Promise<void>;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Based on /etc/clickhouse-server/config.xml: only what a private loopback server needs. */
function configXml(dir: string, http: number, tcp: number, interserver: number): string {
  const d = (sub: string): string => esc(path.join(dir, sub) + '/');
  return `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>${esc(path.join(dir, 'server.log'))}</log>
    <errorlog>${esc(path.join(dir, 'server.err.log'))}</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <interserver_http_port>${interserver}</interserver_http_port>
  <!-- shutdown waits for idle keep-alive HTTP sockets: at 10 s (the default) a stop took 8 s, at 1 s under one -->
  <keep_alive_timeout>1</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <mark_cache_size>67108864</mark_cache_size>
  <path>${d('data')}</path>
  <tmp_path>${d('tmp')}</tmp_path>
  <user_files_path>${d('user_files')}</user_files_path>
  <format_schema_path>${d('format_schemas')}</format_schema_path>
  <users_config>${esc(path.join(dir, 'users.xml'))}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mlock_executable>false</mlock_executable>
</yandex>
`;
}

/** Based on /etc/clickhouse-server/users.xml: 18.16 needs a profile and a quota for each user. */
function usersXml(): string {
  const user = (name: string, password: string): string => `
    <${name}>
      <password>${esc(password)}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </${name}>`;
  return `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>${user('default', '')}${user(CH_USER.name, CH_USER.password)}
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`;
}

export async function startClickHouse(): Promise<ClickHouseInstance> {
  try {
    accessSync(SERVER, constants.X_OK);
  } catch {
    throw new Error(`${SERVER} is missing or not executable — install ClickHouse (Debian: apt-get install clickhouse-server) or set QUELL_CLICKHOUSE_SERVER`);
  }
  const scratch = new ScratchDir('quell-clickhouse-');
  const dir = scratch.dir;
  const [httpPort, tcpPort, interserverPort] = [await freePort(), await freePort(), await freePort()];
  const config = path.join(dir, 'config.xml');
  writeFileSync(config, configXml(dir, httpPort, tcpPort, interserverPort));
  writeFileSync(path.join(dir, 'users.xml'), usersXml());
  let child: Child | undefined;

  const query = async (sql: string, opts: { queryId?: string; signal?: AbortSignal } = {}): Promise<string> => {
    const qs = opts.queryId ? `?query_id=${encodeURIComponent(opts.queryId)}` : '';
    const res = await fetch(`http://127.0.0.1:${httpPort}/${qs}`, { method: 'POST', body: sql, signal: opts.signal ?? AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (!res.ok) throw new Error(text.trim());
    return text;
  };

  const start = async (): Promise<void> => {
    const c = spawnChild(SERVER, [`--config-file=${config}`], { cwd: dir });
    child = c;
    scratch.adopt(c);
    const log = (): string => {
      let text = c.stderr();
      try {
        text += readFileSync(path.join(dir, 'server.err.log'), 'utf8');
      } catch {
        // not written yet
      }
      return text.slice(-3000);
    };
    await waitServing(`clickhouse-server on port ${httpPort}`, c, async () => {
      const one = (await query('SELECT 1', { signal: AbortSignal.timeout(1_000) })).trim();
      if (one !== '1') throw new Error(`SELECT 1 answered ${one}`);
    }, log);
  };

  const stop = async (): Promise<void> => {
    // it waits for running queries on shutdown; 10 s is more than any test query runs
    await child?.stop('SIGTERM', 10_000);
  };

  const destroy = async (): Promise<void> => {
    await stop();
    scratch.remove();
  };

  try {
    await start();
  } catch (err) {
    await destroy();
    throw err;
  }

  return {
    httpPort,
    url: (user, pass) => {
      const auth = user ? `${encodeURIComponent(user)}${pass ? `:${encodeURIComponent(pass)}` : ''}@` : '';
      return `clickhouse://${auth}127.0.0.1:${httpPort}`;
    },
    query,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    destroy,
  };
}
