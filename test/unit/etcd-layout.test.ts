import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aliveKey, assertKeySegment, killLogHeadKey, memberKey, parseAliveKey, parseMemberKey, splitAddress } from '../../common/etcd/etcd-layout';

test('etcd keys round-trip and reject foreign shapes', () => {
  assert.equal(memberKey('c3', 'n1'), '/quell/v1/members/c3/n1');
  assert.deepEqual(parseMemberKey(memberKey('c3', 'n1')), { cluster: 'c3', nodeId: 'n1' });
  assert.equal(parseMemberKey('/quell/v1/members/c3'), undefined);
  assert.equal(parseMemberKey('/quell/v1/members/c3/n1/x'), undefined);
  assert.equal(aliveKey('n1'), '/quell/v1/alive/n1');
  assert.equal(killLogHeadKey('n1'), '/quell/v1/kill-log-heads/n1');
  assert.equal(parseAliveKey('/quell/v1/alive/n1'), 'n1');
  assert.equal(parseAliveKey('/quell/v1/alive/'), undefined);
  assert.throws(() => assertKeySegment('node id', 'a/b'), /invalid node id 'a\/b'/);
  assert.throws(() => assertKeySegment('cluster', ''), /invalid cluster/);
  assert.deepEqual(splitAddress('127.0.0.1:9701'), { host: '127.0.0.1', port: 9701 });
  assert.deepEqual(splitAddress('[::1]:9701'), { host: '::1', port: 9701 });
});
