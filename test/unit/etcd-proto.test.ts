import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type * as protoLoader from '@grpc/proto-loader';
import '../../common/etcd/etcd-proto';

// common/etcd/etcd-proto.ts hands etcd3 generated services in place of its run-time parse of
// rpc.proto, and only for that file with etcd3's own options (proto-codec.test.ts checks that
// the generated services are the same as the parsed ones).

const etcd3Require = createRequire(require.resolve('etcd3'));
const loader = etcd3Require('@grpc/proto-loader') as typeof protoLoader;
const etcd3Lib = path.dirname(etcd3Require.resolve('etcd3'));
// the call etcd3's lib/connection-pool.js makes
const ETCD3_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

function range(def: protoLoader.PackageDefinition): protoLoader.MethodDefinition<object, object> {
  const kv = def['etcdserverpb.KV'] as protoLoader.ServiceDefinition | undefined;
  assert.ok(kv?.Range, 'etcdserverpb.KV has Range');
  return kv.Range;
}

test("etcd3's load of rpc.proto gets the generated services, not a parse", () => {
  const def = loader.loadSync(`${etcd3Lib}/../proto/rpc.proto`, ETCD3_OPTIONS);
  // a parse also describes every message; the generated package holds the services only
  assert.equal(def['mvccpb.KeyValue'], undefined);
  assert.equal(range(def).path, '/etcdserverpb.KV/Range');
  const bytes = range(def).requestSerialize({ key: Buffer.from('k'), limit: '3' });
  const decoded = range(def).requestDeserialize(bytes) as { key: Buffer; limit: string; sort_order: string };
  assert.deepEqual([decoded.key, decoded.limit, decoded.sort_order], [Buffer.from('k'), '3', 'None']);
  // nor was the .proto parser loaded for it
  assert.deepEqual(Object.keys(require.cache).filter((f) => f.endsWith(path.join('protobufjs', 'src', 'parse.js'))), []);
});

test('other options are parsed as before', () => {
  const def = loader.loadSync(`${etcd3Lib}/../proto/rpc.proto`, { ...ETCD3_OPTIONS, arrays: true });
  assert.notEqual(def['mvccpb.KeyValue'], undefined);
  assert.equal(range(def).path, '/etcdserverpb.KV/Range');
});
