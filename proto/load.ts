import * as grpc from '@grpc/grpc-js';
import { messages, services } from './generated/codec';
import { serviceDefinition, type GeneratedCodec } from './service-definition';
import type { ProtoGrpcType as AgentProto } from './generated/agent';
import type { ProtoGrpcType as CoordinatorProto } from './generated/coordinator';
import type { ProtoGrpcType as WorkloadProto } from './generated/workload';

// The services are built from proto/generated/codec.ts (proto/service-definition.ts) rather
// than by parsing the .proto files at run time: that parse and protobufjs's code generation were
// about a third of `quell client`'s start-up. scripts/gen-proto.js gives the type generator the
// same options, so that the generated types describe what arrives.
const CODEC: GeneratedCodec = { messages, services } as unknown as GeneratedCodec;

type V1<P extends { quell: { v1: object } }> = P['quell']['v1'];

/** The client constructor (with its `.service`) of one quell.v1 service. */
function serviceClient<T>(name: string): T {
  return grpc.makeClientConstructor(serviceDefinition(CODEC, `quell.v1.${name}`), name) as unknown as T;
}

export interface QuellProto {
  readonly agent: { readonly quell: { readonly v1: { readonly NodeAgentService: V1<AgentProto>['NodeAgentService'] } } };
  readonly coordinator: { readonly quell: { readonly v1: { readonly CoordinatorService: V1<CoordinatorProto>['CoordinatorService'] } } };
  readonly workload: { readonly quell: { readonly v1: { readonly WorkloadService: V1<WorkloadProto>['WorkloadService'] } } };
}

let agent: QuellProto['agent'] | undefined;
let coordinator: QuellProto['coordinator'] | undefined;
let workload: QuellProto['workload'] | undefined;

// each service is built on first use: a client builds only the one it calls
const PROTO: QuellProto = {
  get agent() {
    return (agent ??= { quell: { v1: { NodeAgentService: serviceClient('NodeAgentService') } } });
  },
  get coordinator() {
    return (coordinator ??= { quell: { v1: { CoordinatorService: serviceClient('CoordinatorService') } } });
  },
  get workload() {
    return (workload ??= { quell: { v1: { WorkloadService: serviceClient('WorkloadService') } } });
  },
};

/** The quell.v1 services, each built once per process. */
export function quellProto(): QuellProto {
  return PROTO;
}
