import type { CoordinatorRecord } from '../../common/etcd/etcd-layout';
import type { ClusterMembership } from './membership';

/** One other coordinator's answer, or why it gave none (one line). */
export type PeerAnswer<T> = { readonly record: CoordinatorRecord; readonly answer: T } | { readonly record: CoordinatorRecord; readonly failure: string };

/** Why a call to another coordinator failed, as one line: the gRPC status's details, else the error's message. */
export function peerFailure(err: unknown): string {
  const e = err as { details?: unknown; message?: unknown } | undefined;
  const why = (typeof e?.details === 'string' && e.details) || (typeof e?.message === 'string' && e.message) || String(err);
  return why.replace(/\s+/g, ' ');
}

/**
 * Asks every live coordinator but this one at once (each call has its own deadline), and
 * gathers every answer and every failure: none is left out, none waits for another.
 */
export async function askOtherCoordinators<T>(membership: ClusterMembership, selfId: string | undefined, ask: (record: CoordinatorRecord) => Promise<T>): Promise<PeerAnswer<T>[]> {
  const others = membership.coordinators().filter((c) => c.id !== selfId);
  return Promise.all(
    others.map(async (record): Promise<PeerAnswer<T>> => {
      try {
        return { record, answer: await ask(record) };
      } catch (err) {
        return { record, failure: peerFailure(err) };
      }
    }),
  );
}

/** `coordinator 'B' at H:P`: how a message names another coordinator. */
export function coordinatorName(record: Pick<CoordinatorRecord, 'id' | 'address'>): string {
  return `coordinator '${record.id}' at ${record.address}`;
}
