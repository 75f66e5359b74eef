import { test } from 'node:test';
import assert from 'node:assert/strict';
import { componentLogger, rootLogger, setLogLevel } from '../../common/daemon/logger';

test('setLogLevel reaches the root and every logger made from it (a SIGHUP changes the level)', () => {
  const component = componentLogger('test-level');
  const grandchild = component.child({ service: 'x' });
  setLogLevel('debug');
  assert.equal(rootLogger().level, 'debug');
  assert.equal(component.level, 'debug');
  assert.equal(grandchild.level, 'debug');
  assert.ok(grandchild.isLevelEnabled('debug'));
  setLogLevel('warn');
  assert.ok(!grandchild.isLevelEnabled('info'));
  assert.equal(component.child({ later: 1 }).level, 'warn', 'a logger made after takes the new level');
  assert.throws(() => setLogLevel('loud'), /not one of/);
  setLogLevel('silent');
});
