import { WorkloadSession, type CancelReason, type RunningProcess } from '../../client/workload-client';
import type { TlsOptions } from '../../common/tls';
import { simulateMutations } from './sim-mutations';
import { simulateConnections } from './sim-connections';
import { SimRun } from './sim-run';
import { announce, intOption, UsageError } from '../args';
import { errorText } from '../../errors/error-text';
import { tlsOptionsFromArgs } from '../tls-args';
import { COMMAND_SPECS } from '../flags';
import { commandConfig } from '../config';

interface SimOptions {
  /** host:port (mutual TLS) or unix:/path (the agent's workload socket) */
  readonly agent: string;
  readonly tls: TlsOptions;
  readonly queries: number;
  readonly user: string;
  readonly query: string;
  readonly prefix: string;
  readonly initialQueryId: string;
  readonly ignoreCancel: boolean;
  /** ignore the escalation's terminate too */
  readonly ignoreTerminate: boolean;
  readonly cancelDelayMs: number;
  readonly uncancellable: boolean;
  /** bytes each process reports holding (memory_usage) */
  readonly memoryBytes: number;
}

export async function runSim(argv: string[]): Promise<number> {
  const config = commandConfig('sim', COMMAND_SPECS.sim.flags, argv);
  if (!config) return 0;
  const { values } = config;
  const tls = tlsOptionsFromArgs(values);
  if (values.connections !== undefined) {
    return simulateConnections({
      agent: values.agent,
      tls,
      connections: intOption(values.connections, 'connections', 1),
      user: values.user,
      host: values.host,
      db: values.db,
      inTransaction: values['in-transaction'],
      critical: values.critical,
      criticalMs: intOption(values['critical-ms'], 'critical-ms', 1500),
      statement: values.statement,
    });
  }
  if (values.mutations !== undefined) {
    if (!values.table) throw new UsageError('--mutations needs --table');
    return simulateMutations({
      agent: values.agent,
      tls,
      mutations: intOption(values.mutations, 'mutations', 1),
      database: values.database,
      table: values.table,
      command: values.command,
      prefix: values['mutation-id-prefix'] ?? `mutation_${process.pid}_`,
      parts: intOption(values.parts, 'parts', 100),
      partMs: intOption(values['part-ms'], 'part-ms', 200),
      createdAgo: intOption(values['created-ago'], 'created-ago', 0),
    });
  }
  return simulate({
    agent: values.agent,
    tls,
    queries: intOption(values.queries, 'queries', 1),
    user: values.user,
    query: values.query,
    prefix: values['query-id-prefix'] ?? `sim-${process.pid}-`,
    initialQueryId: values['initial-query-id'],
    ignoreCancel: values['ignore-cancel'],
    ignoreTerminate: values['ignore-terminate'],
    cancelDelayMs: intOption(values['cancel-delay-ms'], 'cancel-delay-ms', 0),
    uncancellable: values.uncancellable,
    memoryBytes: intOption(values['memory-mb'], 'memory-mb', 4) * 1024 * 1024,
  });
}

/**
 * Registers the processes, keeps them running until cancelled (acknowledging after the delay,
 * or never with --ignore-cancel), ends them at once on a kill's escalated terminate (never with
 * --ignore-terminate), prints one JSON line per event, and exits when all ended.
 */
async function simulate(o: SimOptions): Promise<number> {
  const session = new WorkloadSession(o.agent, o.tls);
  const sim = new SimRun<RunningProcess>(session, (p) => ({ query_id: p.queryId }));
  const endProcess = (p: RunningProcess, outcome: 'finished' | 'cancelled'): void => {
    if (sim.end(p, outcome)) p.end(outcome);
  };

  for (let i = 1; i <= o.queries; i++) {
    const queryId = `${o.prefix}${i}`;
    let proc: RunningProcess;
    try {
      proc = await session.register({
        query_id: queryId,
        user: o.user,
        query: o.query,
        initial_query_id: o.initialQueryId,
        client_name: 'quell sim',
        client_hostname: 'localhost',
        uncancellable: o.uncancellable,
        memory_usage: o.memoryBytes,
      });
    } catch (err) {
      announce({ event: 'rejected', query_id: queryId, error: errorText(err) });
      continue;
    }
    sim.add(proc);
    announce({ event: 'started', query_id: queryId, user: o.user });
    proc.signal.addEventListener('abort', () => {
      const reason = proc.signal.reason as CancelReason;
      if (reason.kind !== 'cancel') return;
      announce({ event: 'cancel', query_id: queryId, soft: reason.soft, reason: reason.reason ?? '', killed_by: reason.killedBy ?? '', statement_id: reason.statementId ?? '', policy: reason.policy ?? '' });
      if (o.ignoreCancel || o.ignoreTerminate) return;
      setTimeout(() => endProcess(proc, 'cancelled'), o.cancelDelayMs);
    });
    proc.terminateSignal.addEventListener('abort', () => {
      const reason = proc.terminateSignal.reason as CancelReason;
      if (reason.kind !== 'terminate') return;
      announce({ event: 'terminate', query_id: queryId, reason: reason.reason ?? '', killed_by: reason.killedBy ?? '', statement_id: reason.statementId ?? '', policy: reason.policy ?? '', escalate_after_ms: reason.escalateAfterMs ?? 0 });
      if (!o.ignoreTerminate) endProcess(proc, 'cancelled');
    });
  }

  let rows = 0;
  return sim.run(
    500,
    () => {
      rows += 65_536;
      for (const p of sim.items()) p.progress({ read_rows: rows, read_bytes: rows * 8, memory_usage: o.memoryBytes });
    },
    () => {
      for (const p of sim.items()) endProcess(p, 'finished');
    },
    o.queries,
  );
}
