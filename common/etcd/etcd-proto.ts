import Module, { createRequire } from 'node:module';
import * as path from 'node:path';
import type * as protoLoader from '@grpc/proto-loader';
import { messages, services } from '../../proto/generated/etcd-codec';
import { serviceDefinition, TO_OBJECT_OPTIONS, type GeneratedCodec } from '../../proto/service-definition';

/**
 * etcd3 parses its 1,000-line proto/rpc.proto with @grpc/proto-loader when it is first required:
 * about 40 ms of every daemon's start, and so of an agent's join. `npm run gen` generates the
 * same services from that file (proto/generated/etcd-codec.ts); this hands them to etcd3 in
 * place of the parse. Any other file, or other options, still go to proto-loader.
 *
 * When etcd3 has a copy of proto-loader of its own, as npm installs it today, nothing else
 * requires that copy, and etcd3 gets a stand-in that loads it (and protobufjs, another ~10 ms)
 * only for a call the stand-in does not answer. A proto-loader that etcd3 shares is patched
 * instead.
 *
 * Must run before etcd3 is first required: common/etcd/client.ts imports it first.
 */
const etcd3Require = createRequire(require.resolve('etcd3'));
const ETCD3_DIR = path.dirname(etcd3Require.resolve('etcd3/package.json'));
const RPC_PROTO = path.join(ETCD3_DIR, 'proto', 'rpc.proto');
const CODEC: GeneratedCodec = { messages, services } as unknown as GeneratedCodec;

/** The package definition proto-loader makes of rpc.proto, as far as etcd3 uses it: the services. */
function etcdPackage(): protoLoader.PackageDefinition {
  const pkg: protoLoader.PackageDefinition = {};
  for (const name of Object.keys(CODEC.services)) pkg[name] = serviceDefinition(CODEC, name) as protoLoader.ServiceDefinition;
  return pkg;
}

function sameOptions(o: protoLoader.Options | undefined): boolean {
  return (
    o?.keepCase === true &&
    o.longs === TO_OBJECT_OPTIONS.longs &&
    o.enums === TO_OBJECT_OPTIONS.enums &&
    o.defaults === TO_OBJECT_OPTIONS.defaults &&
    o.oneofs === TO_OBJECT_OPTIONS.oneofs &&
    o.arrays === undefined &&
    o.objects === undefined &&
    o.bytes === undefined &&
    o.json === undefined
  );
}

type Loader = typeof protoLoader;

function answer(parse: () => Loader['loadSync']): Loader['loadSync'] {
  return (file, options) => (typeof file === 'string' && path.resolve(file) === RPC_PROTO && sameOptions(options) ? etcdPackage() : parse()(file, options));
}

// proto-loader as etcd3 resolves it
const loaderFile = etcd3Require.resolve('@grpc/proto-loader');
if (loaderFile.startsWith(ETCD3_DIR + path.sep) && require.cache[loaderFile] === undefined) {
  let real: Loader | undefined;
  const load = (): Loader => {
    if (!real) {
      delete require.cache[loaderFile];
      real = etcd3Require('@grpc/proto-loader') as Loader;
    }
    return real;
  };
  const own = { loadSync: answer(() => load().loadSync) };
  const standIn = new Module(loaderFile);
  standIn.filename = loaderFile;
  standIn.loaded = true;
  standIn.exports = new Proxy(own, { get: (target, name) => (name in target ? target[name as keyof typeof own] : load()[name as keyof Loader]) });
  require.cache[loaderFile] = standIn;
} else {
  const loader = etcd3Require('@grpc/proto-loader') as { loadSync: Loader['loadSync'] };
  const parse = loader.loadSync;
  loader.loadSync = answer(() => parse);
}
