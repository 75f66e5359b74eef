import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { QuellClient } from '../client/coordinator-client';
import { freePort, spawnQuell, startEtcd, type Child, type EtcdServer } from '../common/processes';
import { percentile, round } from './stats';

/**
 * `npm run bench [-- --quick]`: real etcd, a coordinator and agents as separate processes on
 * loopback, sims holding processes that ignore cancels (so every kill finds work), and the
 * statement latencies that operators feel. Prints a table; writes bench/results/latest.json.
 */

interface Env {
  etcd: EtcdServer;
  coordinator: Child;
  address: string;
  agents: Child[];
  sims: Child[];
}

async function startCluster(nodes: number, cluster: string, processesPerNode: number): Promise<Env> {
  const etcd = await startEtcd();
  const coordinator = spawnQuell(['coordinator', '--etcd', etcd.url, '--listen', `127.0.0.1:${await freePort()}`, '--default-cluster', cluster], { QUELL_LOG_LEVEL: 'warn' });
  const address = String((await coordinator.waitFor((e) => e.event === 'ready')).address);
  const agents: Child[] = [];
  const sims: Child[] = [];
  for (let i = 1; i <= nodes; i++) {
    const agent = spawnQuell(['agent', '--etcd', etcd.url, '--node-id', `n${i}`, '--listen', '127.0.0.1:0', '--cluster', cluster], { QUELL_LOG_LEVEL: 'warn' });
    agents.push(agent);
    const agentAddress = String((await agent.waitFor((e) => e.event === 'ready')).address);
    if (processesPerNode > 0) {
      const sim = spawnQuell(['sim', '--agent', agentAddress, '--queries', String(processesPerNode), '--user', 'etl', '--ignore-cancel', '--query-id-prefix', `n${i}-`]);
      sims.push(sim);
      await sim.waitFor(() => sim.events.filter((e) => e.event === 'started').length >= processesPerNode);
    }
  }
  const client = new QuellClient(address);
  for (let i = 0; i < 200; i++) {
    const r = await client.query(`SELECT node_id FROM system.clusters WHERE cluster = '${cluster}' AND is_active = 1`);
    if (r.rows.length === nodes) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  client.close();
  return { etcd, coordinator, address, agents, sims };
}

async function stopCluster(env: Env): Promise<void> {
  await Promise.all(env.sims.map((s) => s.stop('SIGTERM', 2_000)));
  await Promise.all(env.agents.map((a) => a.stop('SIGTERM', 3_000)));
  await env.coordinator.stop('SIGTERM', 3_000);
  await env.etcd.stop();
}

async function latency(client: QuellClient, sql: string, iterations: number, warmup: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await client.query(sql);
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await client.query(sql);
    samples.push(performance.now() - t0);
  }
  return samples;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const iterations = quick ? 300 : 2000;
  const metrics: Record<string, number> = {};
  const table: [string, string][] = [];
  const record = (name: string, value: number, unit: string): void => {
    metrics[name] = round(value);
    table.push([name, `${round(value)} ${unit}`]);
  };

  for (const nodes of [3]) {
    const env = await startCluster(nodes, 'bench', 2);
    const client = new QuellClient(env.address);
    try {
      const asyncSamples = await latency(client, "KILL QUERY ON CLUSTER bench WHERE user = 'etl' ASYNC", iterations, 50);
      record(`kill_async_${nodes}_agents_p50_ms`, percentile(asyncSamples, 50), 'ms');
      record(`kill_async_${nodes}_agents_p99_ms`, percentile(asyncSamples, 99), 'ms');
      const selectSamples = await latency(client, "SELECT query_id, node_id FROM clusterAllReplicas('bench', system.processes)", iterations, 50);
      record(`select_processes_${nodes}_agents_p50_ms`, percentile(selectSamples, 50), 'ms');
      record(`select_processes_${nodes}_agents_p99_ms`, percentile(selectSamples, 99), 'ms');
    } finally {
      client.close();
      await stopCluster(env);
    }
  }

  const out = {
    when: new Date().toISOString(),
    quick,
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', memory_gib: round(os.totalmem() / 2 ** 30, 1), node: process.version, platform: `${os.type()} ${os.release()}` },
    metrics,
  };
  const dir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  const width = Math.max(...table.map(([k]) => k.length));
  process.stdout.write(`${'metric'.padEnd(width)}  value\n`);
  for (const [k, v] of table) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
  process.stdout.write(`\nwrote ${path.join(dir, 'latest.json')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
