import { QuellClient } from '../../client/coordinator-client';
import { freePort, spawnQuell, startEtcd, type Child, type EtcdServer } from '../../common/daemon/child-processes';
import { intOption } from '../args';
import { clientMain, interactive } from './client';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCerts } from '../../common/tls/certs';
import type { TlsOptions } from '../../common/tls';
import { tlsArgv } from '../tls-args';
import { COMMAND_SPECS } from '../flags';
import { commandConfig } from '../config';

const CLUSTER = 'local';

/**
 * `quell local`: a private etcd, a coordinator, N agents in cluster `local`, a demo workload,
 * and the interactive client. Everything is a child process; Ctrl-C stops all of it.
 */
export async function runLocal(argv: string[]): Promise<number> {
  const config = commandConfig('local', COMMAND_SPECS.local.flags, argv);
  if (!config) return 0;
  const { values } = config;
  const nodes = intOption(values.nodes, 'nodes', 3);
  const children: Child[] = [];
  let etcd: EtcdServer | undefined;
  let stopping: Promise<void> | undefined;
  // the run's own CA and certificates (every hop is TLS) and the agents' kill logs: nothing outlives the run
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'quell-local-'));
  const pkiDir = path.join(runDir, 'pki');
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all(children.reverse().map((c) => c.stop('SIGTERM', 3_000)));
      await etcd?.stop();
      rmSync(runDir, { recursive: true, force: true });
    })());
  const onSignal = (): void => {
    void stopAll().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  try {
    const nodeIds = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
    const pki = await initCerts(pkiDir, { nodes: nodeIds });
    const tls = (pair: { cert: string; key: string } | undefined): string[] => tlsArgv({ ca: pki.ca.cert, cert: pair?.cert, key: pair?.key });
    const clientTls: TlsOptions = { ca: pki.ca.cert };
    process.stderr.write('starting etcd... ');
    etcd = await startEtcd();
    process.stderr.write(`${etcd.url}\n`);
    const coordPort = await freePort();
    // every front door on a port of its own choosing; the ready line says which
    const doors = ['--mysql-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'];
    const coordinator = spawnQuell(['coordinator', '--etcd', etcd.url, '--listen', `127.0.0.1:${coordPort}`, '--default-cluster', CLUSTER, ...doors, ...tls(pki.coordinator)], { QUELL_LOG_LEVEL: 'warn' });
    children.push(coordinator);
    const ready = await coordinator.waitFor((e) => e.event === 'ready');
    const address = String(ready.address);
    const agents: string[] = [];
    const agentMetrics: string[] = [];
    for (const nodeId of nodeIds) {
      const killLog = ['--kill-log-dir', path.join(runDir, 'kill-log', nodeId)];
      const agent = spawnQuell(['agent', '--etcd', etcd.url, '--node-id', nodeId, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--cluster', CLUSTER, ...tls(pki.agents.get(nodeId)), ...killLog], { QUELL_LOG_LEVEL: 'warn' });
      children.push(agent);
      const agentReady = await agent.waitFor((e) => e.event === 'ready');
      agents.push(String(agentReady.address));
      if (typeof agentReady.metrics === 'string') agentMetrics.push(agentReady.metrics);
    }
    // demo workload: alice and bob run queries on every node
    for (const [i, agentAddress] of agents.entries()) {
      for (const user of ['alice', 'bob']) {
        const sim = spawnQuell(['sim', '--agent', agentAddress, '--queries', '2', '--user', user, '--query', `SELECT count() FROM events WHERE user = '${user}'`, '--query-id-prefix', `${user}-n${i + 1}-`, ...tls(pki.workload)]);
        children.push(sim);
        await sim.waitFor((e) => e.event === 'started');
      }
    }
    process.stderr.write(`coordinator ${address}, agents ${agents.join(' ')}; cluster '${CLUSTER}'\n`);
    process.stderr.write(`TLS: the run's CA and certificates are in ${pkiDir} (removed on exit); another terminal: ${quellCommand()} client --coordinator ${address} --tls-ca ${pki.ca.cert}\n`);
    process.stderr.write(doorLines(ready, agentMetrics, pki.ca.cert));
    await waitForMembers(address, nodes, clientTls);
    const settings = { coordinator: address, user: 'default', password: '', format: undefined, tls: clientTls };
    if (values.query !== undefined) return await clientMain(settings, values.query);
    process.stderr.write(`try: SELECT query_id, user, node_id FROM clusterAllReplicas('${CLUSTER}', system.processes) ORDER BY query_id;\n     KILL QUERY ON CLUSTER ${CLUSTER} WHERE user = 'alice' SYNC;\n`);
    const client = new QuellClient(address, { tls: clientTls });
    try {
      return await interactive(client, settings, onSignal);
    } finally {
      client.close();
    }
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

/** How to reach each front door from another terminal, from the coordinator's `ready` line. */
/**
 * How to run quell again from another terminal: `quell` when the `quell` on PATH is this very
 * command (npm install -g, npm link), otherwise `npx quell` (a clone or a project folder, where
 * npx finds it).
 */
export function quellCommand(env: NodeJS.ProcessEnv = process.env, main = process.argv[1] ?? ''): string {
  const real = (file: string): string | undefined => {
    try {
      return realpathSync(file);
    } catch {
      return undefined;
    }
  };
  const self = real(main);
  const onPath = (env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, 'quell')).find((file) => existsSync(file));
  return self !== undefined && onPath !== undefined && real(onPath) === self ? 'quell' : 'npx quell';
}

export function doorLines(ready: Record<string, unknown>, agentMetrics: readonly string[], ca: string): string {
  const lines: string[] = [];
  const mysql = typeof ready.mysql_address === 'string' ? splitHostPort(ready.mysql_address) : undefined;
  // --ssl-verify-server-cert: without it the client falls back to plaintext when a relay hides CLIENT_SSL (README, the MySQL protocol)
  if (mysql) lines.push(`mariadb:  mariadb -h${mysql.host} -P${mysql.port} -udefault --ssl-verify-server-cert --ssl-ca=${ca}`);
  if (typeof ready.http_address === 'string') {
    lines.push(`http:     curl --cacert ${ca} 'https://${ready.http_address}/?query=SELECT+1'`);
  }
  if (typeof ready.metrics === 'string') lines.push(`metrics:  curl --cacert ${ca} ${ready.metrics} (coordinator)`);
  for (const url of agentMetrics) lines.push(`          curl --cacert ${ca} ${url} (agent)`);
  return lines.map((l) => `${l}\n`).join('');
}

function splitHostPort(address: string): { host: string; port: string } | undefined {
  const i = address.lastIndexOf(':');
  return i < 0 ? undefined : { host: address.slice(0, i), port: address.slice(i + 1) };
}

/** Waits until the coordinator sees every agent as active. */
async function waitForMembers(address: string, n: number, tls: TlsOptions): Promise<void> {
  const client = new QuellClient(address, { tls });
  try {
    for (let i = 0; i < 100; i++) {
      const r = await client.query(`SELECT node_id FROM system.clusters WHERE cluster = '${CLUSTER}' AND is_active = 1`).catch(() => undefined);
      if (r && r.rows.length >= n) return;
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    client.close();
  }
}
