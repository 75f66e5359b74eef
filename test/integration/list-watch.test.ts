import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnChild, startEtcd, type EtcdServer } from '../../common/daemon/child-processes';
import { connectEtcd } from '../../common/etcd/client';
import { sleep } from './harness';

// The view runs in a child process, so that the test can see it exit on its own after
// close(): a pending reconnect or backoff timer would keep it running and fail the test.
const VIEW_PROCESS = `
const { connectEtcd } = require(${JSON.stringify(path.resolve(__dirname, '../../common/etcd/client'))});
const { ListWatch, etcdWatchSource } = require(${JSON.stringify(path.resolve(__dirname, '../../common/etcd/list-watch'))});
const pino = require('pino');
const say = (ev) => process.stdout.write(JSON.stringify(ev) + '\\n');
const etcd = connectEtcd({ endpoints: [process.env.ETCD_URL] });
const log = pino({ level: 'debug' }, pino.destination(2));
let view;
const stop = async () => {
  await view.close();
  etcd.close();
  say({ event: 'closed' });
};
const keys = new Set();
const changed = (what) => say({ event: 'view', what, keys: [...keys].sort() });
view = new ListWatch(etcdWatchSource(etcd), '/t/', {
  reset: (kvs, initial) => {
    keys.clear();
    for (const kv of kvs) keys.add(kv.key);
    changed(initial ? 'listed' : 're-listed');
  },
  put: (key) => {
    keys.add(key);
    changed('put');
    if (key === '/t/stop') void stop();
  },
  remove: (key) => {
    keys.delete(key);
    changed('remove');
  },
}, log);
view.start().then(() => say({ event: 'ready' }));
`;

test('a list-watch catches up after etcd restarts, and close() lets its process exit', async () => {
  let etcd: EtcdServer = await startEtcd();
  const child = spawnChild(process.execPath, ['-e', VIEW_PROCESS], { env: { ...process.env, ETCD_URL: etcd.url } });
  let client = connectEtcd({ endpoints: [etcd.url] });
  try {
    await client.put('/t/before').value('1');
    const listed = await child.waitFor((e) => e.event === 'view');
    assert.deepEqual(listed, { event: 'view', what: 'listed', keys: ['/t/before'] });
    await child.waitFor((e) => e.event === 'ready');
    await client.put('/t/watched').value('1');
    await child.waitFor((e) => e.event === 'view' && e.what === 'put');

    client.close();
    await etcd.halt();
    await sleep(3_000);
    etcd = await etcd.restart();
    client = connectEtcd({ endpoints: [etcd.url] });
    // written after the restart: only a view that re-listed or re-watched can see it
    await client.put('/t/after').value('1');
    await client.delete().key('/t/before');
    const caughtUp = await child.waitFor((e) => e.event === 'view' && JSON.stringify(e.keys) === JSON.stringify(['/t/after', '/t/watched']), 15_000);
    assert.ok(caughtUp);
    assert.ok(child.events.some((e) => e.what === 're-listed'), 'the view re-listed after the outage');

    await client.put('/t/stop').value('1');
    await child.waitFor((e) => e.event === 'closed');
    // nothing pending after close(): the process ends by itself
    const code = await Promise.race([child.exited, sleep(5_000).then(() => 'still running')]);
    assert.equal(code, 0, `view process did not exit after close(); stderr: ${child.stderr().slice(-2000)}`);
  } finally {
    client.close();
    await child.stop('SIGKILL');
    await etcd.stop();
  }
});
