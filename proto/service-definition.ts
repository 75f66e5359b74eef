import type * as grpc from '@grpc/grpc-js';

/**
 * gRPC service definitions from code that `npm run gen` writes (scripts/gen-codec.js): every
 * message's encode/decode/fromObject/toObject and every service's methods. A definition made
 * here is the one @grpc/proto-loader makes from the .proto file with these options, without
 * parsing the file or generating code at run time.
 */
export const TO_OBJECT_OPTIONS = { longs: String, enums: String, defaults: true, oneofs: true };

/** How decoded messages look: TO_OBJECT_OPTIONS, or a library's own (reflection wants bytes as arrays). */
export type ToObjectOptions = typeof TO_OBJECT_OPTIONS & { readonly bytes?: typeof Array | typeof String };

export interface MessageCodec {
  readonly name: string;
  encode(message: unknown): { finish(): Buffer };
  decode(bytes: Buffer): unknown;
  fromObject(object: unknown): unknown;
  toObject(message: unknown, options: ToObjectOptions): unknown;
}

export interface MethodDescription {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly originalName: string;
  readonly requestType: string;
  readonly responseType: string;
}

/** What a generated codec module exports. */
export interface GeneratedCodec {
  readonly messages: Readonly<Record<string, MessageCodec>>;
  readonly services: Readonly<Record<string, Readonly<Record<string, MethodDescription>>>>;
}

// the same serializer and deserializer @grpc/proto-loader makes
export function serializer(c: MessageCodec): (value: unknown) => Buffer {
  return (value) => {
    if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${c.name} structure, got array instead`);
    return c.encode(c.fromObject(value)).finish();
  };
}

export function deserializer(c: MessageCodec, options: ToObjectOptions): (bytes: Buffer) => unknown {
  return (bytes) => c.toObject(c.decode(bytes), options);
}

/** The definition of the service `fullName` (package.Service) in `codec`. */
export function serviceDefinition(codec: GeneratedCodec, fullName: string, options: ToObjectOptions = TO_OBJECT_OPTIONS): grpc.ServiceDefinition {
  const methods = codec.services[fullName];
  if (!methods) throw new Error(`no generated service ${fullName}: run npm run gen`);
  const message = (name: string): MessageCodec => {
    const c = codec.messages[name];
    if (!c) throw new Error(`no generated message ${name}: run npm run gen`);
    return c;
  };
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(methods)) {
    const request = message(m.requestType);
    const response = message(m.responseType);
    def[name] = {
      path: m.path,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request, options),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response, options),
      originalName: m.originalName,
    };
  }
  return def;
}
