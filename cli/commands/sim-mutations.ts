import { WorkloadSession, type CancelReason, type RunningMutation } from '../../client/workload-client';
import type { TlsOptions } from '../../common/tls';
import { announce } from '../args';
import { SimRun } from './sim-run';
import { errorText } from '../../errors/error-text';
import { unixNow } from '../../sql/compile';

export interface MutationSimOptions {
  /** host:port (mutual TLS) or unix:/path (the agent's workload socket) */
  readonly agent: string;
  readonly tls: TlsOptions;
  readonly mutations: number;
  readonly database: string;
  readonly table: string;
  readonly command: string;
  readonly prefix: string;
  readonly parts: number;
  readonly partMs: number;
  /** registers the mutations as created this many seconds ago (a workload re-registering after a restart) */
  readonly createdAgo: number;
}

/**
 * Runs mutations that advance one part at a time until done or killed. A kill stops the
 * mutation where it is: the parts already mutated stay mutated, and `ended` says how many.
 */
export async function simulateMutations(o: MutationSimOptions): Promise<number> {
  const session = new WorkloadSession(o.agent, o.tls);
  const partsDone = new Map<RunningMutation, number>();
  const sim = new SimRun<RunningMutation>(session, (m) => ({ ...m.ref, parts_done: partsDone.get(m) ?? 0 }));
  const finish = (m: RunningMutation, outcome: 'done' | 'killed'): void => {
    if (sim.end(m, outcome)) m.end(outcome, partsDone.get(m) ?? 0);
  };

  for (let i = 1; i <= o.mutations; i++) {
    const id = `${o.prefix}${i}`;
    let m: RunningMutation;
    try {
      m = await session.registerMutation({ database: o.database, table: o.table, mutation_id: id, command: o.command, parts_to_do: o.parts, create_time: unixNow() - o.createdAgo });
    } catch (err) {
      announce({ event: 'rejected', mutation_id: id, error: errorText(err) });
      continue;
    }
    partsDone.set(m, 0);
    sim.add(m);
    announce({ event: 'started', mutation_id: id, database: o.database, table: o.table, parts_to_do: o.parts, at: Date.now() });
    m.signal.addEventListener('abort', () => {
      if ((m.signal.reason as CancelReason).kind !== 'cancel') return;
      announce({ event: 'cancel', mutation_id: id, parts_done: partsDone.get(m) ?? 0, at: Date.now() });
      finish(m, 'killed');
    });
  }

  return sim.run(
    o.partMs,
    () => {
      for (const m of sim.items()) {
        const next = (partsDone.get(m) ?? 0) + 1;
        partsDone.set(m, next);
        m.progress(next, o.parts - next);
        if (next >= o.parts) finish(m, 'done');
      }
    },
    // SIGTERM stops the workload; its mutations stay unfinished on a real server
    () => {
      for (const m of sim.items()) finish(m, 'done');
    },
    o.mutations,
  );
}
