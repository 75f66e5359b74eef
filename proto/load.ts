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

function load<T>(file: string): T {
  const def = protoLoader.loadSync(file, LOADER_OPTIONS);
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

let definitions: protoLoader.PackageDefinition | undefined;

/**
 * Every quell.v1 file in one package definition, for server reflection. One load, not three:
 * proto-loader merges a package's files into one descriptor per load, and reflection keeps the
 * first descriptor of a name it sees.
 */
export function quellDefinitions(): protoLoader.PackageDefinition {
  definitions ??= protoLoader.loadSync(['quell/v1/agent.proto', 'quell/v1/coordinator.proto', 'quell/v1/workload.proto'], LOADER_OPTIONS);
  return definitions;
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
