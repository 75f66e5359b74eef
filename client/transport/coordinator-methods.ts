import { messages, services } from '../../proto/generated/coordinator-codec';
import type { GeneratedCodec } from '../../proto/service-definition';
import type { ExecuteRequest } from '../../proto/generated/quell/v1/ExecuteRequest';
import type { ExecuteResponse__Output } from '../../proto/generated/quell/v1/ExecuteResponse';
import type { CoordinatorServiceSessionRequest } from '../../proto/generated/quell/v1/CoordinatorServiceSessionRequest';
import type { CoordinatorServiceSessionResponse__Output } from '../../proto/generated/quell/v1/CoordinatorServiceSessionResponse';
import { methodOf, type Method } from './grpc-call';

// the Coordinator service's codec alone (scripts/gen-proto.js): a client loads nothing else
const CODEC = { messages, services } as unknown as GeneratedCodec;

export const EXECUTE: Method<ExecuteRequest, ExecuteResponse__Output> = methodOf(CODEC, 'quell.v1.CoordinatorService', 'Execute');
export const SESSION: Method<CoordinatorServiceSessionRequest, CoordinatorServiceSessionResponse__Output> = methodOf(CODEC, 'quell.v1.CoordinatorService', 'Session');
