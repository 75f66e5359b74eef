import * as grpc from '@grpc/grpc-js';
import { messages, services } from './generated/codec';
import type { ProtoGrpcType as AgentProto } from './generated/agent';
import type { ProtoGrpcType as CoordinatorProto } from './generated/coordinator';
import type { ProtoGrpcType as WorkloadProto } from './generated/workload';

/**
 * The quell.v1 services, built from proto/generated/codec.ts (written by `npm run gen`) rather
 * than by parsing the .proto files at run time: that parse and protobufjs's code generation
 * were about a third of `quell client`'s start-up. Messages convert exactly as they did through
 * @grpc/proto-loader with these options, which scripts/gen-proto.js also gives the type generator
 * so that the generated types describe what arrives.
 */
const TO_OBJECT_OPTIONS = { longs: String, enums: String, defaults: true, oneofs: true };

interface MessageCodec {
  readonly name: string;
  encode(message: unknown): { finish(): Buffer };
  decode(bytes: Buffer): unknown;
  fromObject(object: unknown): unknown;
  toObject(message: unknown, options: typeof TO_OBJECT_OPTIONS): unknown;
}

interface MethodDescription {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly originalName: string;
  readonly requestType: string;
  readonly responseType: string;
}

const MESSAGES = messages as unknown as Readonly<Record<string, MessageCodec>>;
const SERVICES = services as unknown as Readonly<Record<string, Readonly<Record<string, MethodDescription>>>>;

function codec(name: string): MessageCodec {
  const c = MESSAGES[name];
  if (!c) throw new Error(`proto/generated/codec.ts has no message ${name}: run npm run gen`);
  return c;
}

// the same serializer and deserializer @grpc/proto-loader makes
function serializer(c: MessageCodec): (value: unknown) => Buffer {
  return (value) => {
    if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${c.name} structure, got array instead`);
    return c.encode(c.fromObject(value)).finish();
  };
}

function deserializer(c: MessageCodec): (bytes: Buffer) => unknown {
  return (bytes) => c.toObject(c.decode(bytes), TO_OBJECT_OPTIONS);
}

function serviceDefinition(fullName: string): grpc.ServiceDefinition {
  const methods = SERVICES[fullName];
  if (!methods) throw new Error(`proto/generated/codec.ts has no service ${fullName}: run npm run gen`);
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(methods)) {
    const request = codec(m.requestType);
    const response = codec(m.responseType);
    def[name] = {
      path: m.path,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response),
      originalName: m.originalName,
    };
  }
  return def;
}

type V1<P extends { quell: { v1: object } }> = P['quell']['v1'];

/** The client constructor (with its `.service`) of one quell.v1 service. */
function serviceClient<T>(name: string): T {
  return grpc.makeClientConstructor(serviceDefinition(`quell.v1.${name}`), name) as unknown as T;
}

export interface QuellProto {
  readonly agent: { readonly quell: { readonly v1: { readonly NodeAgent: V1<AgentProto>['NodeAgent'] } } };
  readonly coordinator: { readonly quell: { readonly v1: { readonly Coordinator: V1<CoordinatorProto>['Coordinator'] } } };
  readonly workload: { readonly quell: { readonly v1: { readonly Workload: V1<WorkloadProto>['Workload'] } } };
}

let agent: QuellProto['agent'] | undefined;
let coordinator: QuellProto['coordinator'] | undefined;
let workload: QuellProto['workload'] | undefined;

// each service is built on first use: a client builds only the one it calls
const PROTO: QuellProto = {
  get agent() {
    return (agent ??= { quell: { v1: { NodeAgent: serviceClient('NodeAgent') } } });
  },
  get coordinator() {
    return (coordinator ??= { quell: { v1: { Coordinator: serviceClient('Coordinator') } } });
  },
  get workload() {
    return (workload ??= { quell: { v1: { Workload: serviceClient('Workload') } } });
  },
};

/** The quell.v1 services, each built once per process. */
export function quellProto(): QuellProto {
  return PROTO;
}

/** Channel options shared by every quell client and server. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  // Fail fast and retry soon: during an incident a node that comes back must be used at once.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
  'grpc.enable_retries': 0,
  // Peers are verified by the SPIFFE ID in their certificate, never by host name; a fixed TLS
  // server name keeps Node from sending an IP address as SNI (and warning DEP0123 about it).
  'grpc.ssl_target_name_override': 'quell',
};
