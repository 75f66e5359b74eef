import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as AgentProto } from './generated/agent';
import type { ProtoGrpcType as CoordinatorProto } from './generated/coordinator';
import type { ProtoGrpcType as WorkloadProto } from './generated/workload';

// The .proto files sit next to this module's source; from dist/proto/ they are one level up.
const PROTO_ROOT = [path.resolve(__dirname), path.resolve(__dirname, '..', '..', 'proto')].find((p) =>
  existsSync(path.join(p, 'quell', 'v1', 'agent.proto')),
) as string;

// Must match the flags in scripts/gen-proto.js so that the generated types describe what arrives.
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

/** Every package definition loaded so far, by file: server reflection describes them (they keep the file descriptors). */
const definitions = new Map<string, protoLoader.PackageDefinition>();

function load<T>(file: string): T {
  const def = protoLoader.loadSync(file, LOADER_OPTIONS);
  definitions.set(file, def);
  return grpc.loadPackageDefinition(def) as unknown as T;
}

let cache: { agent: AgentProto; coordinator: CoordinatorProto; workload: WorkloadProto } | undefined;

/** The quell.v1 package, loaded once per process. */
export function quellProto(): { agent: AgentProto; coordinator: CoordinatorProto; workload: WorkloadProto } {
  cache ??= {
    agent: load<AgentProto>('quell/v1/agent.proto'),
    coordinator: load<CoordinatorProto>('quell/v1/coordinator.proto'),
    workload: load<WorkloadProto>('quell/v1/workload.proto'),
  };
  return cache;
}

/** The quell.v1 files as one package definition, for server reflection. */
export function quellDefinitions(): protoLoader.PackageDefinition {
  quellProto();
  return Object.assign({}, ...definitions.values()) as protoLoader.PackageDefinition;
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
