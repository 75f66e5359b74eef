import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ClusterMembership } from '../../coordinator/cluster/membership';
import { Backoff } from '../../common/etcd/backoff';
import { coordinatorKey } from '../../common/etcd/etcd-layout';
import { FakeEtcd } from './fake-etcd';
import { until } from './until';
import { coordinatorRecord } from './coordinator-record';

const record = (id: string, serverId: number): string => JSON.stringify(coordinatorRecord(id, serverId));


test('a coordinator that left while the view was not watching (an etcd outage) is remembered as departed, as one seen leaving is', async () => {
  const etcd = new FakeEtcd();
  etcd.put(coordinatorKey('A'), record('A', 1));
  etcd.put(coordinatorKey('B'), record('B', 2));
  etcd.put(coordinatorKey('C'), record('C', 3));
  const membership = new ClusterMembership(etcd, pino({ level: 'silent' }), new Backoff(() => 1));
  try {
    await membership.start();
    // seen leaving
    etcd.remove(coordinatorKey('A'));
    assert.equal(membership.departedCoordinator(1)?.id, 'A');
    // gone, and C back under a new server id, while the watch was broken
    etcd.down = true;
    etcd.breakWatches('disconnected');
    etcd.remove(coordinatorKey('B'));
    etcd.put(coordinatorKey('C'), record('C', 4));
    etcd.down = false;
    await until('re-listed', () => membership.viewState === 'watching' && !membership.coordinators().some((c) => c.id === 'B'));
    assert.equal(membership.departedCoordinator(2)?.id, 'B');
    assert.equal(membership.departedCoordinator(3)?.id, 'C', "C's old server id is a departed coordinator");
    assert.equal(membership.departedCoordinator(4), undefined, 'C under its new server id is live');
    assert.equal(membership.departedCoordinator(1)?.id, 'A', 'the earlier departure is still remembered');
  } finally {
    await membership.close();
  }
});
