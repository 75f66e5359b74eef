import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { freePort, spawnQuell, startEtcd, type EtcdServer } from '../../common/child-processes';
import { sleep } from './harness';

/**
 * A daemon that lived through an etcd outage must still stop on SIGTERM: every reconnect,
 * re-list and re-grant timer is cleared on stop, so the process exits instead of logging
 * `stopped` and staying up.
 */
test('a coordinator that lived through an etcd outage exits on SIGTERM', async () => {
  let etcd: EtcdServer = await startEtcd();
  const coordinator = spawnQuell(['coordinator', '--etcd', etcd.url, '--listen', `127.0.0.1:${await freePort()}`]);
  try {
    await coordinator.waitFor((e) => e.event === 'ready');
    await etcd.halt();
    await sleep(3_000);
    etcd = await etcd.restart();
    await sleep(1_000);
    // a hung process is killed by stop() after the grace period, which reports the signal, not 0
    const code = await coordinator.stop('SIGTERM', 8_000);
    assert.equal(code, 0, `coordinator did not exit on SIGTERM; stderr: ${coordinator.stderr().slice(-2000)}`);
  } finally {
    await coordinator.stop('SIGKILL');
    await etcd.stop();
  }
});
