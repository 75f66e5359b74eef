import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COORDINATOR_BIT, idOwner, makeId, makeMappedId, makeQueryId, makeSessionId, MAX_SERVER_ID, MAX_SESSION_ID, queryIdServerId, serverIdOf } from '../../common/thread-id';
import { SessionRegistry, type SessionHandle } from '../../coordinator/doors/sessions';
import type { ServerIdHold } from '../../common/etcd/server-id';

test('one layout: an id says whether an agent or a coordinator made it, and which server id', () => {
  assert.equal(MAX_SESSION_ID, 2 ** 32 - 1);
  for (const serverId of [1, 2, 4095, MAX_SERVER_ID]) {
    const s = makeSessionId(serverId, 5, 1);
    assert.ok(s >= COORDINATOR_BIT && s <= MAX_SESSION_ID, 'in MariaDB 32-bit range, coordinator bit set');
    assert.deepEqual(idOwner(s), { kind: 'coordinator', serverId });
    assert.equal(serverIdOf(s), 0, 'not an agent id');
    assert.deepEqual(idOwner(makeSessionId(serverId, 6, 65535)), { kind: 'coordinator', serverId });
    assert.deepEqual(idOwner(makeId(serverId, 5, 1)), { kind: 'agent', serverId });
    assert.deepEqual(idOwner(makeMappedId(serverId, 123)), { kind: 'agent', serverId });
  }
  // nobody's: small ids, the coordinator bit with server id 0, the gap below 2^40, junk
  for (const id of [0, 1, 9999, COORDINATOR_BIT, COORDINATOR_BIT + 2 ** 18 - 1, 2 ** 32, 2 ** 40 - 1, -5, 1.5, 2 ** 53]) assert.equal(idOwner(id), undefined, String(id));
  // the incarnation's low bits: a new holder of a server id makes other ids
  assert.notEqual(makeSessionId(3, 1, 1), makeSessionId(3, 2, 1));
  assert.throws(() => makeSessionId(3, 1, 65536), RangeError);
  assert.throws(() => makeSessionId(0, 1, 1), RangeError);
});

test('session registry: ids carry the held server id, restart at a new hold, and skip ids in use', () => {
  let hold: ServerIdHold | undefined;
  const r = new SessionRegistry(() => hold);
  assert.throws(() => r.allocate(), /no server id yet/);
  hold = { serverId: 7, incarnation: 2 };
  const a = r.allocate();
  assert.equal(a, makeSessionId(7, 2, 1));
  const handle = (id: number): SessionHandle => ({ id, user: 'u', kill: () => undefined, process: () => ({ id, user: 'u', host: 'h', db: undefined, command: 'Sleep', timeMs: 0, info: undefined }) });
  r.add(handle(a));
  assert.ok(r.isOurs(a));
  assert.ok(!r.isOurs(makeSessionId(8, 2, 1)));
  hold = { serverId: 7, incarnation: 3 };
  const b = r.allocate();
  assert.equal(b, makeSessionId(7, 3, 1));
  // the counter wraps past ids still held
  r.add(handle(makeSessionId(7, 3, 2)));
  assert.equal(r.allocate(), makeSessionId(7, 3, 3));
  assert.deepEqual(r.list().map((s) => s.id), [a, makeSessionId(7, 3, 2)]);
});

test('query ids a coordinator makes carry its server id; any other text carries none', () => {
  const uuid = '3f2a9b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c';
  for (const serverId of [1, 42, MAX_SERVER_ID]) assert.equal(queryIdServerId(makeQueryId(serverId, uuid)), serverId);
  assert.equal(makeQueryId(7, uuid), `c7-${uuid}`);
  for (const other of [uuid, 'c0-' + uuid, `c8192-${uuid}`, `c7-${uuid}x`, `xc7-${uuid}`, 'c7-', '', `c7-${uuid.toUpperCase()}`]) assert.equal(queryIdServerId(other), undefined, other);
  assert.throws(() => makeQueryId(0, uuid), RangeError);
});
