import { after, before } from 'node:test';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { TestCluster } from '../harness';
import { startMariaDb, type MariaDbInstance } from './mariadb-instance';
import { PG_ROLES, startPostgres, type PostgresInstance } from './postgres-instance';
import { startClickHouse, type ClickHouseInstance } from './clickhouse-instance';

export type Backend = 'mariadb' | 'postgres' | 'clickhouse';

export interface BackendFleetOptions {
  readonly cluster: string;
  /** the private servers, in node order: n1 fronts the first, n2 the second, …; agents past them front none (`quell sim` workloads) */
  readonly backends: readonly Backend[];
  /** how many agents; one per backend by default */
  readonly nodes?: number;
  /** once the servers run, before the cluster starts: the servers' settings, tables, functions */
  readonly prepare?: (fleet: BackendFleet) => Promise<unknown>;
}

/**
 * Real database servers behind quell for one test file: private MariaDB, PostgreSQL and
 * ClickHouse instances (servers/*-instance.ts), and a TestCluster (etcd, TLS, a coordinator)
 * whose agents front them. Connections made here as the workload user etl are closed by after().
 */
export class BackendFleet {
  private mariaDb: MariaDbInstance | undefined;
  private postgres: PostgresInstance | undefined;
  private clickHouse: ClickHouseInstance | undefined;
  private quell: TestCluster | undefined;
  private readonly mysqlConns: mysql.Connection[] = [];
  private readonly pgClients: Client[] = [];
  private readonly roots: mysql.Connection[] = [];

  get maria(): MariaDbInstance {
    return this.mariaDb ?? notStarted('MariaDB');
  }

  get pg(): PostgresInstance {
    return this.postgres ?? notStarted('PostgreSQL');
  }

  get ch(): ClickHouseInstance {
    return this.clickHouse ?? notStarted('ClickHouse');
  }

  get c(): TestCluster {
    return this.quell ?? notStarted('the cluster');
  }

  async start(o: BackendFleetOptions): Promise<void> {
    // each server is kept as soon as it runs, so that stop() ends it even when another failed to start
    await Promise.all(
      o.backends.map(async (b) => {
        if (b === 'mariadb') this.mariaDb = await startMariaDb();
        else if (b === 'postgres') this.postgres = await startPostgres();
        else this.clickHouse = await startClickHouse();
      }),
    );
    await o.prepare?.(this);
    const urls = o.backends.map((b) => this.url(b));
    this.quell = await TestCluster.start({
      cluster: o.cluster,
      nodes: o.nodes ?? o.backends.length,
      agentArgs: (_nodeId, i) => {
        const url = urls[i - 1];
        return url ? ['--backend', url] : [];
      },
    });
  }

  /** what an agent is given: the server's URL with the user quell logs in as */
  private url(b: Backend): string {
    if (b === 'mariadb') return this.maria.url('quell', 'pw');
    if (b === 'postgres') return this.pg.url('quell', PG_ROLES.quell);
    return this.ch.url();
  }

  /** A MariaDB connection as etl (with more options `o`); its errors (a killed connection) are ignored. */
  async mariaEtl(o: mysql.ConnectionOptions = {}): Promise<mysql.Connection> {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: this.maria.port, user: 'etl', password: 'etlpw', ...o });
    conn.on('error', () => undefined); // a killed connection reports here too
    this.mysqlConns.push(conn);
    return conn;
  }

  /** MariaDB's root connection, for setup and checks. */
  async mariaRoot(): Promise<mysql.Connection> {
    const conn = await this.maria.rootConnection();
    this.roots.push(conn);
    return conn;
  }

  /** A connected PostgreSQL session as etl; `onError` hears its errors (a terminated backend), ignored by default. */
  async pgEtl(onError: (err: Error) => void = () => undefined): Promise<Client> {
    const conn = new Client({ connectionString: this.pg.url('etl', PG_ROLES.etl) });
    conn.on('error', onError);
    this.pgClients.push(conn);
    await conn.connect();
    return conn;
  }

  async stop(): Promise<void> {
    for (const x of this.mysqlConns) x.destroy();
    for (const x of this.pgClients) await x.end().catch(() => undefined);
    for (const x of this.roots) await x.end().catch(() => undefined);
    await this.quell?.stop();
    await Promise.all([this.mariaDb?.destroy(), this.postgres?.destroy(), this.clickHouse?.destroy()]);
  }
}

function notStarted(what: string): never {
  throw new Error(`${what} is not part of this backend fleet, or not started yet`);
}

/**
 * The fleet for the whole test file, as useCluster (harness.ts) does for a cluster: started
 * before its tests, stopped after them. `set` is given the cluster once it runs.
 */
export function useBackendFleet(o: BackendFleetOptions, set?: (c: TestCluster) => void): BackendFleet {
  const fleet = new BackendFleet();
  before(async () => {
    await fleet.start(o);
    set?.(fleet.c);
  });
  after(async () => {
    await fleet.stop();
  });
  return fleet;
}
