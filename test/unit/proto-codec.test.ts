import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import * as protoLoader from '@grpc/proto-loader';
import type * as grpc from '@grpc/grpc-js';
import { createRequire } from 'node:module';
import { quellProto } from '../../proto/load';
import { serviceDefinition, type GeneratedCodec } from '../../proto/service-definition';
import * as etcdCodec from '../../proto/generated/etcd-codec';
import * as coordinatorCodec from '../../proto/generated/coordinator-codec';
import { HEALTH_DEFINITION } from '../../common/grpc/health-service';
import { reflectionService } from '../../common/grpc/grpc-probes';

// proto/load.ts builds quell's services, common/etcd/etcd-proto.ts etcd3's and common/grpc/grpc-probes.ts
// those of gRPC health and reflection from generated code (proto/generated/) instead of parsing
// .proto files at run time. Every request and response must still travel and arrive exactly as
// @grpc/proto-loader, given the .proto files and the same options, has them.

interface ProtoSet {
  readonly dir: string;
  readonly files: string[];
  /** proto-loader's loadSync: quell's own, or the one etcd3 resolves */
  readonly loadSync: typeof protoLoader.loadSync;
  readonly generated: Record<string, grpc.ServiceDefinition>;
  /** the loader options its users give (default LOADER_OPTIONS) */
  readonly options?: protoLoader.Options;
}

const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

const QUELL_DIR = path.resolve(__dirname, '..', '..', '..', 'proto');
const quell: ProtoSet = {
  dir: QUELL_DIR,
  files: ['quell/v1/agent.proto', 'quell/v1/coordinator.proto', 'quell/v1/workload.proto'],
  loadSync: protoLoader.loadSync,
  generated: {
    'quell.v1.NodeAgentService': quellProto().agent.quell.v1.NodeAgentService.service,
    'quell.v1.CoordinatorService': quellProto().coordinator.quell.v1.CoordinatorService.service,
    'quell.v1.WorkloadService': quellProto().workload.quell.v1.WorkloadService.service,
  },
};

// the Coordinator service's codec alone, which QuellClient loads (client/transport/coordinator-methods.ts)
const COORDINATOR_CODEC = coordinatorCodec as unknown as GeneratedCodec;
const coordinatorOnly: ProtoSet = {
  dir: QUELL_DIR,
  files: ['quell/v1/coordinator.proto'],
  loadSync: protoLoader.loadSync,
  generated: { 'quell.v1.CoordinatorService': serviceDefinition(COORDINATOR_CODEC, 'quell.v1.CoordinatorService') },
};

const etcd3Require = createRequire(require.resolve('etcd3'));
const ETCD_CODEC = etcdCodec as unknown as GeneratedCodec;
const etcd: ProtoSet = {
  dir: path.join(path.dirname(etcd3Require.resolve('etcd3/package.json')), 'proto'),
  files: ['rpc.proto'],
  loadSync: (etcd3Require('@grpc/proto-loader') as typeof protoLoader).loadSync,
  generated: Object.fromEntries(Object.keys(ETCD_CODEC.services).map((name) => [name, serviceDefinition(ETCD_CODEC, name)])),
};

const healthDir = path.join(path.dirname(require.resolve('grpc-health-check/package.json')), 'proto');
const health: ProtoSet = {
  dir: healthDir,
  files: ['health/v1/health.proto'],
  loadSync: protoLoader.loadSync,
  generated: { 'grpc.health.v1.Health': HEALTH_DEFINITION },
};

const reflectionSet: ProtoSet = {
  dir: path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto'),
  files: ['grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'],
  loadSync: protoLoader.loadSync,
  generated: { 'grpc.reflection.v1.ServerReflection': reflectionService('v1'), 'grpc.reflection.v1alpha.ServerReflection': reflectionService('v1alpha') },
  // @grpc/reflection's own: camelCase fields, bytes as arrays
  options: { longs: String, enums: String, bytes: Array, defaults: true, oneofs: true },
};

function reflection(set: ProtoSet): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(set.dir, target);
  root.loadSync(set.files, { keepCase: (set.options ?? LOADER_OPTIONS).keepCase === true });
  root.resolveAll();
  return root;
}

function parsed(set: ProtoSet): protoLoader.PackageDefinition {
  return set.loadSync(set.files.map((f) => path.join(set.dir, f)), { ...(set.options ?? LOADER_OPTIONS), includeDirs: [set.dir] });
}

const LONG = '9007199254740993'; // above 2^53: must stay exact as a string

function scalar(type: string, name: string): unknown {
  switch (type) {
    case 'string':
      return `s-${name}`;
    case 'bool':
      return true;
    case 'double':
    case 'float':
      return 1.5;
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
    case 'sfixed64':
      return LONG;
    case 'sint32':
    case 'sfixed32':
    case 'int32':
      return -7;
    case 'bytes':
      return Buffer.from('ab');
    default:
      return 7;
  }
}

/** A message with every field set; of each oneof, member number `variant` (modulo its size). */
function sample(type: protobuf.Type, variant: number, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const oneof = field.partOf;
    if (oneof && oneof.fieldsArray[variant % oneof.fieldsArray.length] !== field) continue;
    let value: unknown;
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) value = Object.keys(resolved.values).at(-1);
    else if (resolved instanceof protobuf.Type) {
      if (depth >= 3) continue;
      value = sample(resolved, variant, depth + 1);
    } else value = scalar(field.type, field.name);
    out[field.name] = field.map ? { k: value } : field.repeated ? [value, value] : value;
  }
  return out;
}

function oneofWidth(type: protobuf.Type, depth = 0): number {
  let width = 1;
  for (const o of type.oneofsArray) width = Math.max(width, o.fieldsArray.length);
  for (const f of type.fieldsArray) if (f.resolvedType instanceof protobuf.Type && depth < 3) width = Math.max(width, oneofWidth(f.resolvedType, depth + 1));
  return width;
}

function sameServices(set: ProtoSet): void {
  const root = reflection(set);
  const loaded = parsed(set);
  const generated = set.generated;
  const fromProto = Object.keys(loaded).filter((k) => root.lookup(k) instanceof protobuf.Service);
  assert.deepEqual(fromProto.sort(), Object.keys(generated).sort());
  for (const name of fromProto) {
    const expected = loaded[name] as grpc.ServiceDefinition;
    const actual = generated[name] as grpc.ServiceDefinition;
    assert.deepEqual(Object.keys(actual), Object.keys(expected), name);
    for (const [method, e] of Object.entries(expected)) {
      const a = actual[method] as grpc.MethodDefinition<unknown, unknown>;
      assert.deepEqual(
        { path: a.path, requestStream: a.requestStream, responseStream: a.responseStream, originalName: a.originalName },
        { path: e.path, requestStream: e.requestStream, responseStream: e.responseStream, originalName: e.originalName },
      );
    }
  }
}

/** Every request and response type, sampled: the number of messages compared. */
function sameMessages(set: ProtoSet): number {
  const root = reflection(set);
  const loaded = parsed(set);
  let checked = 0;
  for (const [serviceName, actual] of Object.entries(set.generated)) {
    const service = root.lookupService(serviceName);
    const expected = loaded[serviceName] as grpc.ServiceDefinition;
    for (const method of service.methodsArray) {
      const e = expected[method.name] as grpc.MethodDefinition<unknown, unknown>;
      const a = actual[method.name] as grpc.MethodDefinition<unknown, unknown>;
      const sides = [
        { type: root.lookupType(method.requestType), eSer: e.requestSerialize, aSer: a.requestSerialize, eDe: e.requestDeserialize, aDe: a.requestDeserialize },
        { type: root.lookupType(method.responseType), eSer: e.responseSerialize, aSer: a.responseSerialize, eDe: e.responseDeserialize, aDe: a.responseDeserialize },
      ];
      for (const s of sides) {
        const objects = [{}, ...Array.from({ length: oneofWidth(s.type) }, (_, v) => sample(s.type, v))];
        for (const object of objects) {
          const bytes = s.eSer(object);
          assert.deepEqual(s.aSer(object), bytes, `${s.type.fullName} ${JSON.stringify(object)}`);
          assert.deepStrictEqual(s.aDe(bytes), s.eDe(bytes), `${s.type.fullName} ${JSON.stringify(object)}`);
          checked++;
        }
      }
    }
  }
  return checked;
}

test('every quell.v1 service and method is generated, with the same path, streaming and name', () => {
  sameServices(quell);
});

test('quell.v1 requests and responses encode to the same bytes and decode to the same objects as through proto-loader', () => {
  assert.ok(sameMessages(quell) >= 10);
});

test("the Coordinator's own codec has its service, and its messages encode and decode as through proto-loader", () => {
  sameServices(coordinatorOnly);
  assert.ok(sameMessages(coordinatorOnly) >= 4);
});

test("every service and method of etcd3's rpc.proto is generated, with the same path, streaming and name", () => {
  sameServices(etcd);
});

test("etcd3's requests and responses encode and decode as through the proto-loader etcd3 uses", () => {
  assert.ok(sameMessages(etcd) >= 40);
});

test('gRPC health and reflection: every service and method is generated, with the same path, streaming and name', () => {
  sameServices(health);
  sameServices(reflectionSet);
});

test('gRPC health and reflection messages encode and decode as through proto-loader with their users\' options', () => {
  assert.ok(sameMessages(health) >= 4);
  assert.ok(sameMessages(reflectionSet) >= 8);
});

test('a message given as an array is refused, as proto-loader refuses it', () => {
  const execute = quell.generated['quell.v1.CoordinatorService']?.Execute as grpc.MethodDefinition<unknown, unknown>;
  assert.throws(() => execute.requestSerialize([]), /expected object with .*ExecuteRequest structure, got array/);
});
