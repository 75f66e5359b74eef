import { WorkloadSession, type CancelReason, type RunningMutation } from '../../client/workload-client';
import { announce } from '../args';

export interface MutationSimOptions {
  readonly agent: string;
  readonly mutations: number;
  readonly database: string;
  readonly table: string;
  readonly command: string;
  readonly prefix: string;
  readonly parts: number;
  readonly partMs: number;
}

/**
 * Runs mutations that advance one part at a time until done or killed. A kill stops the
 * mutation where it is: the parts already mutated stay mutated, and `ended` says how many.
 */
export async function simulateMutations(o: MutationSimOptions): Promise<number> {
  const session = new WorkloadSession(o.agent);
  const live = new Map<RunningMutation, number>();
  let detached = false;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  const finish = (m: RunningMutation, outcome: 'done' | 'killed'): void => {
    const parts = live.get(m);
    if (parts === undefined) return;
    live.delete(m);
    m.end(outcome, parts);
    announce({ event: 'ended', mutation_id: m.ref.mutation_id, database: m.ref.database, table: m.ref.table, outcome, parts_done: parts });
    if (live.size === 0) resolveDone();
  };
  session.onClose((err) => {
    if (live.size === 0) return;
    detached = true;
    for (const [m, parts] of live) announce({ event: 'ended', mutation_id: m.ref.mutation_id, outcome: 'detached', parts_done: parts, error: err?.message ?? 'agent closed the stream' });
    live.clear();
    resolveDone();
  });

  for (let i = 1; i <= o.mutations; i++) {
    const id = `${o.prefix}${i}`;
    let m: RunningMutation;
    try {
      m = await session.registerMutation({ database: o.database, table: o.table, mutation_id: id, command: o.command, parts_to_do: o.parts });
    } catch (err) {
      announce({ event: 'rejected', mutation_id: id, error: err instanceof Error ? err.message : String(err) });
      continue;
    }
    live.set(m, 0);
    announce({ event: 'started', mutation_id: id, database: o.database, table: o.table, parts_to_do: o.parts, at: Date.now() });
    m.signal.addEventListener('abort', () => {
      if ((m.signal.reason as CancelReason).kind !== 'cancel') return;
      announce({ event: 'cancel', mutation_id: id, parts_done: live.get(m) ?? 0, at: Date.now() });
      finish(m, 'killed');
    });
  }
  if (live.size === 0) {
    session.close();
    return o.mutations === 0 ? 0 : 1;
  }

  const ticker = setInterval(() => {
    for (const [m, parts] of live) {
      const next = parts + 1;
      live.set(m, next);
      m.progress(next, o.parts - next);
      if (next >= o.parts) finish(m, 'done');
    }
  }, o.partMs);
  const onTerm = (): void => {
    // SIGTERM stops the workload; its mutations stay unfinished on a real server
    for (const m of [...live.keys()]) finish(m, 'done');
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onTerm);
  await done;
  clearInterval(ticker);
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onTerm);
  session.close();
  return detached ? 1 : 0;
}
