import { messages, services } from '../../proto/generated/coordinator-codec';
import { deserializer, serializer, TO_OBJECT_OPTIONS, type GeneratedCodec, type MessageCodec } from '../../proto/service-definition';
import type { ExecuteRequest } from '../../proto/generated/quell/v1/ExecuteRequest';
import type { ExecuteResponse__Output } from '../../proto/generated/quell/v1/ExecuteResponse';
import type { CoordinatorServiceSessionRequest } from '../../proto/generated/quell/v1/CoordinatorServiceSessionRequest';
import type { CoordinatorServiceSessionResponse__Output } from '../../proto/generated/quell/v1/CoordinatorServiceSessionResponse';
import type { Method } from './grpc-call';

// the Coordinator service's codec alone (scripts/gen-proto.js): a client loads nothing else
const CODEC = { messages, services } as unknown as GeneratedCodec;

function message(name: string): MessageCodec {
  const c = CODEC.messages[name];
  if (!c) throw new Error(`no generated message ${name}: run npm run gen`);
  return c;
}

function method<Req, Res>(name: string): Method<Req, Res> {
  const m = CODEC.services['quell.v1.CoordinatorService']?.[name];
  if (!m) throw new Error(`no generated method quell.v1.CoordinatorService/${name}: run npm run gen`);
  return {
    path: m.path,
    encode: serializer(message(m.requestType)),
    decode: deserializer(message(m.responseType), TO_OBJECT_OPTIONS) as (bytes: Buffer) => Res,
  };
}

export const EXECUTE: Method<ExecuteRequest, ExecuteResponse__Output> = method('Execute');
export const SESSION: Method<CoordinatorServiceSessionRequest, CoordinatorServiceSessionResponse__Output> = method('Session');
