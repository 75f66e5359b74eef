import type * as grpc from '@grpc/grpc-js';

/**
 * The raw grpc-js floor's service: Echo (unary) and Stream (bidi), whose messages are raw
 * Buffers passed through as they are. No .proto and no protobuf encoding: what is left is
 * grpc-js, HTTP/2 and TLS, the cost of any gRPC hop.
 */

const raw = (b: Buffer): Buffer => b;

export const FLOOR_ECHO = '/quell.bench.Floor/Echo';
export const FLOOR_STREAM = '/quell.bench.Floor/Stream';

export const FLOOR_SERVICE = {
  Echo: { path: FLOOR_ECHO, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw, originalName: 'Echo' },
  Stream: { path: FLOOR_STREAM, requestStream: true, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw, originalName: 'Stream' },
} satisfies grpc.ServiceDefinition;

export const floorSerialize = raw;
export const floorDeserialize = raw;
