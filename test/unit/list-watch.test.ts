import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Backoff } from '../../common/etcd/backoff';
import { ListWatch, type KeyValue } from '../../common/etcd/list-watch';
import { FakeEtcd } from './fake-etcd';
import { until } from './until';

/** A view that mirrors the prefix into a map, and the log lines of its transitions. */
function view(etcd: FakeEtcd): { lw: ListWatch; map: Map<string, string>; resets: boolean[]; transitions: string[] } {
  const map = new Map<string, string>();
  const resets: boolean[] = [];
  const transitions: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void transitions.push((JSON.parse(line) as { to?: string }).to ?? '') });
  const lw = new ListWatch(
    etcd,
    '/p/',
    {
      reset: (kvs: readonly KeyValue[], initial) => {
        resets.push(initial);
        map.clear();
        for (const kv of kvs) map.set(kv.key, kv.value);
      },
      put: (key, value) => map.set(key, value),
      remove: (key) => map.delete(key),
    },
    log,
    new Backoff(() => 1),
  );
  return { lw, map, resets, transitions: transitions };
}


test('lists, then watches from the listed revision + 1 and applies puts and deletes', async () => {
  const etcd = new FakeEtcd();
  etcd.put('/p/a', '1');
  etcd.put('/p/b', '2');
  const { lw, map, resets, transitions } = view(etcd);
  await lw.start();
  assert.equal(lw.state, 'watching');
  assert.equal(lw.listedRevision, 3);
  assert.deepEqual(resets, [true]);
  assert.equal(etcd.watches[0]?.from, 4);
  etcd.put('/p/c', '3');
  etcd.remove('/p/a');
  assert.deepEqual([...map].sort(), [['/p/b', '2'], ['/p/c', '3']]);
  assert.deepEqual(transitions.filter(Boolean), ['listing', 'watching']);
  await lw.close();
  assert.equal(lw.state, 'closed');
  assert.equal(etcd.live().length, 0);
});

test('a broken watch is cancelled and replaced after a re-list that sees what it missed', async () => {
  const etcd = new FakeEtcd();
  const { lw, map, resets, transitions } = view(etcd);
  await lw.start();
  etcd.down = true;
  etcd.breakWatches('disconnected');
  etcd.put('/p/missed', 'x');
  etcd.down = false;
  await until('re-listed', () => resets.length === 2 && lw.state === 'watching');
  assert.deepEqual(resets, [true, false]);
  assert.equal(map.get('/p/missed'), 'x');
  assert.equal(etcd.watches.length, 2);
  assert.equal(etcd.watches[0]?.cancelled, true);
  assert.equal(etcd.watches[1]?.from, etcd.revision + 1);
  assert.equal(etcd.maxLiveWatches, 1);
  assert.deepEqual(transitions.filter(Boolean), ['listing', 'watching', 'backoff', 'listing', 'watching']);
  // the old watcher's late events are ignored
  etcd.watches[0]?.events.put({ key: '/p/stale', value: 'y' });
  assert.equal(map.has('/p/stale'), false);
  await lw.close();
});

test('failed lists retry with the one backoff until etcd is back; never two lists at once', async () => {
  const etcd = new FakeEtcd();
  const { lw, map, transitions } = view(etcd);
  await lw.start();
  etcd.down = true;
  // the same break reported several times, and again while re-listing, runs one loop
  etcd.breakWatches('disconnected');
  etcd.breakWatches('watch ended');
  await until('three failed re-lists', () => etcd.lists >= 4);
  etcd.breakWatches('error');
  etcd.put('/p/after', 'z');
  etcd.down = false;
  await until('caught up', () => map.get('/p/after') === 'z' && lw.state === 'watching');
  assert.equal(etcd.maxConcurrentLists, 1);
  assert.equal(etcd.maxLiveWatches, 1);
  assert.ok(transitions.filter((t) => t === 'backoff').length >= 3);
  await lw.close();
});

test('close() during a backoff cancels the wait and lists no more', async () => {
  const etcd = new FakeEtcd();
  const { lw } = view(etcd);
  await lw.start();
  etcd.down = true;
  etcd.breakWatches('disconnected');
  await until('backing off', () => lw.state === 'backoff');
  const lists = etcd.lists;
  await lw.close();
  assert.equal(lw.state, 'closed');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(etcd.lists, lists);
  assert.equal(etcd.live().length, 0);
});

test('close() while a list is in flight creates no watcher afterwards', async () => {
  const etcd = new FakeEtcd();
  const { lw } = view(etcd);
  await lw.start();
  let open: () => void = () => undefined;
  etcd.gate = new Promise((r) => (open = r));
  etcd.breakWatches('watch error: compacted');
  await until('re-listing', () => lw.state === 'listing');
  await lw.close();
  open();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(etcd.watches.length, 1);
  assert.equal(etcd.live().length, 0);
  assert.equal(lw.state, 'closed');
});

test('a first list that fails rejects start() and closes the view', async () => {
  const etcd = new FakeEtcd();
  etcd.down = true;
  const { lw } = view(etcd);
  await assert.rejects(lw.start(), /ECONNREFUSED/);
  assert.equal(lw.state, 'closed');
  assert.equal(etcd.watches.length, 0);
  await assert.rejects(lw.start(), /already started/);
});

test('a handler that throws is logged and the watch goes on', async () => {
  const etcd = new FakeEtcd();
  const seen: string[] = [];
  const lw = new ListWatch(
    etcd,
    '/p/',
    {
      reset: () => undefined,
      put: (key) => {
        if (key === '/p/bad') throw new Error('bad value');
        seen.push(key);
      },
      remove: () => undefined,
    },
    pino({ level: 'silent' }),
  );
  await lw.start();
  etcd.put('/p/bad', '');
  etcd.put('/p/good', '');
  assert.deepEqual(seen, ['/p/good']);
  assert.equal(lw.state, 'watching');
  await lw.close();
});
