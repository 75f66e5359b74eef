import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { TO_OBJECT_OPTIONS } from './service-definition';

// The .proto files sit next to this module's source; from dist/proto/ they are one level up.
const PROTO_ROOT = [path.resolve(__dirname), path.resolve(__dirname, '..', '..', 'proto')].find((p) =>
  existsSync(path.join(p, 'quell', 'v1', 'agent.proto')),
) as string;

// the options scripts/gen-proto.js gives the generators: the generated services' own decoding ones
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, ...TO_OBJECT_OPTIONS, includeDirs: [PROTO_ROOT] };

let definitions: protoLoader.PackageDefinition | undefined;

/**
 * Every quell.v1 file in one package definition, for server reflection, which needs the file
 * descriptors only the .proto files give (the services themselves come from generated code,
 * proto/load.ts). One load, not three: proto-loader merges a package's files into one
 * descriptor per load, and reflection keeps the first descriptor of a name it sees.
 */
export function quellDefinitions(): protoLoader.PackageDefinition {
  definitions ??= protoLoader.loadSync(['quell/v1/agent.proto', 'quell/v1/coordinator.proto', 'quell/v1/workload.proto'], LOADER_OPTIONS);
  return definitions;
}
