import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../node-agent/backends/backend';
import { serverOf, SwappableBackend } from '../../node-agent/backends/swappable';

function fake(name: string, closed: string[]): Backend {
  return {
    kind: 'mariadb',
    description: `mariadb://${name}@db:3306`,
    ping: () => Promise.resolve(),
    queries: () => Promise.resolve([{ key: name } as never]),
    connections: () => Promise.resolve([]),
    mutations: () => Promise.resolve([]),
    close: () => {
      closed.push(name);
      return Promise.resolve();
    },
  };
}

test('SwappableBackend: calls go to the backend of now; the replaced one closes later; another server is refused', async () => {
  const closed: string[] = [];
  const b = new SwappableBackend(fake('old', closed), new URL('mariadb://old:pw@db:3306'), 50);
  assert.equal((await b.queries())[0]?.key, 'old');
  assert.ok(b.same(new URL('mariadb://old:pw@db:3306')));
  assert.ok(!b.same(new URL('mariadb://old:pw2@db:3306')));
  b.assertSameServer(new URL('mysql://new:pw2@db:3306/x'));
  assert.throws(() => b.assertSameServer(new URL('mariadb://old:pw@other:3306')), /another server takes a restart/);
  assert.throws(() => b.assertSameServer(new URL('postgres://old:pw@db:3306')), /another server/);
  b.replace(fake('new', closed), new URL('mariadb://new:pw2@db:3306'));
  assert.equal((await b.queries())[0]?.key, 'new');
  assert.equal(b.description, 'mariadb://new@db:3306');
  assert.deepEqual(closed, [], 'the old one stays open a while: rows listed through it can still be killed');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(closed, ['old']);
  b.replace(fake('third', closed), new URL('mariadb://third:pw@db:3306'));
  await b.close();
  assert.deepEqual(closed.sort(), ['new', 'old', 'third'], 'close() closes the retiring one too');
  assert.equal(serverOf(new URL('postgresql://u@h:5432')), 'postgres://h:5432');
});
