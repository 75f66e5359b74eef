import { NodeAgent } from '../node-agent/agent';
import { WorkloadSession } from '../client/workload-client';
import { errorText } from '../errors/error-text';
import { intOption, parse, UsageError } from '../cli/args';
import * as path from 'node:path';
import * as os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { TransportSecurity } from '../common/tls';
import { pkiFiles } from './pki-files';
import { stopWithParent } from './helper-lifetime';

/**
 * Benchmark helper: K node agents in one process (each its own gRPC server, etcd lease and
 * process table), each with P processes registered over its own Attach stream that ignore
 * cancels, so that every kill finds work. Prints one JSON line when all are live:
 *   {"event":"ready","pid":…,"agents":[{"node_id":"n4","address":"127.0.0.1:…"},…]}
 * Stops every agent on SIGTERM/SIGINT, and by itself when its parent goes away.
 *
 *   node dist/bench/agent-host.js --etcd URL --cluster C --first 4 --count 50 --pki DIR [--prefix n]
 *        [--lease-ttl S] [--processes P] [--user U]
 * where DIR is a `quell certs init` directory holding ca.pem, workload.pem and agent-<id>.pem
 * for every node: the agents and their workloads speak mutual TLS, as in production.
 */

const START_CONCURRENCY = 10;
const START_ATTEMPTS = 3;

interface HostOptions {
  readonly etcd: string[];
  readonly cluster: string;
  readonly prefix: string;
  readonly first: number;
  readonly count: number;
  readonly leaseTtl: number;
  readonly processes: number;
  readonly user: string;
  readonly pki: string;
}

function options(argv: string[]): HostOptions {
  const { values } = parse(argv, {
    etcd: { type: 'string' },
    pki: { type: 'string' },
    cluster: { type: 'string', default: 'bench' },
    prefix: { type: 'string', default: 'n' },
    first: { type: 'string' },
    count: { type: 'string' },
    'lease-ttl': { type: 'string' },
    processes: { type: 'string' },
    user: { type: 'string', default: 'etl' },
  });
  if (!values.etcd) throw new UsageError('--etcd is required');
  if (!values.pki) throw new UsageError('--pki is required');
  return {
    etcd: values.etcd.split(','),
    cluster: values.cluster,
    prefix: values.prefix,
    first: intOption(values.first, 'first', 1),
    count: intOption(values.count, 'count', 1),
    leaseTtl: intOption(values['lease-ttl'], 'lease-ttl', 5),
    processes: intOption(values.processes, 'processes', 2),
    user: values.user,
    pki: values.pki,
  };
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/**
 * One agent, tried up to START_ATTEMPTS times: with a thousand agents starting on two cores, etcd
 * (on the same cores) can miss an agent's deadline. What the bench measures is statements, so a
 * start that failed under that load is tried again rather than failing the run.
 */
async function createAgent(o: HostOptions, nodeId: string, killLogDir: string): Promise<NodeAgent> {
  for (let attempt = 1; ; attempt++) {
    const security = TransportSecurity.from(pkiFiles(o.pki, `agent-${nodeId}`));
    try {
      return await NodeAgent.create({ etcd: o.etcd, nodeId, listen: '127.0.0.1:0', clusters: [o.cluster], leaseTtlSeconds: o.leaseTtl, security, killLogDir });
    } catch (err) {
      security.close();
      if (attempt >= START_ATTEMPTS) throw err;
      process.stderr.write(`agent-host: ${nodeId} did not start (attempt ${attempt} of ${START_ATTEMPTS}), trying again: ${errorText(err)}\n`);
      await new Promise((resolve) => setTimeout(resolve, 1_000 * attempt));
    }
  }
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const agents: NodeAgent[] = [];
  const sessions: WorkloadSession[] = [];
  // the agents' kill logs live as long as this host
  const killLogs = mkdtempSync(path.join(os.tmpdir(), 'quell-bench-kill-log-'));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const s of sessions) s.close();
      await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
      rmSync(killLogs, { recursive: true, force: true });
    })();
    return stopping;
  };
  const exitAfterStop = (code: number): void => {
    void stop().finally(() => process.exit(code));
  };
  stopWithParent(() => exitAfterStop(0));

  const nodeIds = Array.from({ length: o.count }, (_, i) => `${o.prefix}${o.first + i}`);
  try {
    await inBatches(nodeIds, START_CONCURRENCY, async (nodeId) => {
      agents.push(await createAgent(o, nodeId, path.join(killLogs, nodeId)));
    });
    await inBatches(agents, START_CONCURRENCY, async (a) => {
      const session = new WorkloadSession(a.node.address, pkiFiles(o.pki, 'workload'));
      sessions.push(session);
      for (let p = 1; p <= o.processes; p++) {
        // registered and never ended: cancels are ignored, every kill finds these again
        await session.register({ query_id: `${a.node.nodeId}-${p}`, user: o.user, query: 'SELECT sleep(3600)', client_name: 'quell bench' });
      }
    });
  } catch (err) {
    process.stderr.write(`agent-host: ${errorText(err)}\n`);
    exitAfterStop(1);
    return;
  }
  process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid, agents: agents.map((a) => ({ node_id: a.node.nodeId, address: a.node.address })) })}\n`);
}

void main();
