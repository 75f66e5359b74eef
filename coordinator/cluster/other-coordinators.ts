import type { CoordinatorRecord } from '../../common/etcd/etcd-layout';
import type { ClusterMembership } from './membership';
import { toNodeFailure, type NodeFailure, type NodeFailureKind } from '../../common/grpc/rpc-status';

/**
 * One other coordinator's answer, or why it gave none, classified as an agent call's is
 * (common/grpc/rpc-status.ts toNodeFailure): a deadline is node_timeout, a TLS failure or an
 * impostor node_error with its reason, a QuellError the coordinator raised node_error with its text.
 */
export type PeerAnswer<T> = { readonly record: CoordinatorRecord; readonly answer: T } | { readonly record: CoordinatorRecord; readonly failure: NodeFailure };

const PEER_FAILURE_VERB: Readonly<Record<NodeFailureKind, string>> = {
  node_unreachable: 'could not reach',
  node_timeout: 'got no answer in time from',
  node_error: 'failed on',
};

/**
 * A failed KILL at another coordinator, as one line: a QuellError that coordinator raised keeps
 * its text; anything else names the coordinator (`owns`: what else to say of it) and the failure.
 */
export function peerKillFailure(record: Pick<CoordinatorRecord, 'id' | 'address'>, failure: NodeFailure, owns = ''): string {
  if (failure.cause) return failure.message;
  return `KILL ${PEER_FAILURE_VERB[failure.kind]} ${coordinatorName(record)}${owns}: ${failure.message}`;
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
        return { record, failure: toNodeFailure(err) };
      }
    }),
  );
}

/** `coordinator 'B' at H:P`: how a message names another coordinator. */
export function coordinatorName(record: Pick<CoordinatorRecord, 'id' | 'address'>): string {
  return `coordinator '${record.id}' at ${record.address}`;
}
