import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { chError } from '../../errors/quell-error';
import { serviceError, toServiceError } from '../../common/grpc/rpc-status';
import type { ClusterMembership } from '../../coordinator/cluster/membership';
import { askOtherCoordinators, peerKillFailure } from '../../coordinator/cluster/other-coordinators';
import { coordinatorRecord } from './coordinator-record';

const record = (id: string, port: number) => coordinatorRecord(id, port, { address: `127.0.0.1:${port}` });

test('a failed peer call is classified as an agent call is: unreachable, timeout, an impostor, the coordinator refusing; each KILL line says which', async () => {
  const refused = toServiceError(chError('ACCESS_DENIED', 'alice: Not enough privileges'));
  const failures: Record<string, grpc.ServiceError> = {
    B: serviceError(grpc.status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:2.'),
    C: serviceError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'),
    D: serviceError(grpc.status.UNAVAILABLE, 'Error: identity mismatch: expected spiffe://quell/coordinator/D, peer presented spiffe://quell/coordinator/X'),
    E: serviceError(grpc.status.PERMISSION_DENIED, refused.details ?? '', refused.metadata),
  };
  const others = [record('B', 2), record('C', 3), record('D', 4), record('E', 5)];
  const membership = { coordinators: () => [record('A', 1), ...others] } as unknown as ClusterMembership;
  const answers = await askOtherCoordinators(membership, 'A', (r) => Promise.reject(failures[r.id]));
  const lines = answers.map((a) => ('failure' in a ? [a.record.id, a.failure.kind, peerKillFailure(a.record, a.failure)] : [a.record.id, 'answered', '']));
  assert.equal(lines.length, 4);
  assert.deepEqual(lines[0], ['B', 'node_unreachable', "KILL could not reach coordinator 'B' at 127.0.0.1:2: connect ECONNREFUSED 127.0.0.1:2"]);
  assert.deepEqual(lines[1], ['C', 'node_timeout', "KILL got no answer in time from coordinator 'C' at 127.0.0.1:3: no answer before the deadline"]);
  assert.equal(lines[2]?.[1], 'node_error');
  assert.ok(lines[2]?.[2]?.startsWith("KILL failed on coordinator 'D' at 127.0.0.1:4: "), lines[2]?.[2]);
  assert.deepEqual(lines[3], ['E', 'node_error', 'alice: Not enough privileges']);
  const timeout = answers[1];
  assert.ok(timeout && 'failure' in timeout);
  assert.equal(peerKillFailure(timeout.record, timeout.failure, ', which owns session 7'), "KILL got no answer in time from coordinator 'C' at 127.0.0.1:3, which owns session 7: no answer before the deadline");
});
