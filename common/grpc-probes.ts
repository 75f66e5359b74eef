import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation, service as HEALTH_DEFINITION, type ServingStatus } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';
const REFLECTION_SERVICES = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
const REFLECTION_PROTO_ROOT = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');

type HealthServer = Parameters<HealthImplementation['addToServer']>[0];
type HealthHandlers = Parameters<HealthServer['addService']>[1];
type ReflectionVersion = 'v1' | 'v1alpha';
type ReflectionHandler = (call: unknown) => void;

// @grpc/reflection's own loader options: its handlers read and write messages of these shapes
const REFLECTION_LOADER: protoLoader.Options = { longs: String, enums: String, bytes: Array, defaults: true, oneofs: true, includeDirs: [REFLECTION_PROTO_ROOT] };

/** The reflection services' own definitions, loaded once per process: what a server adds at start. */
let reflectionProtos: protoLoader.PackageDefinition | undefined;
function reflectionDefinitions(): protoLoader.PackageDefinition {
  reflectionProtos ??= protoLoader.loadSync(['grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'], REFLECTION_LOADER);
  return reflectionProtos;
}

/**
 * Reflection's handlers for one set of services, built on the first reflection call (decoding
 * every descriptor costs tens of milliseconds that a daemon's start should not pay) and
 * shared by every server of the process that serves that set (a bench host runs 50 agents).
 */
const reflections = new Map<string, Map<ReflectionVersion, ReflectionHandler>>();
function reflectionHandler(services: readonly string[], definitions: protoLoader.PackageDefinition, version: ReflectionVersion): ReflectionHandler {
  const described = [...services, HEALTH_SERVICE, ...REFLECTION_SERVICES];
  const key = described.join(',');
  let handlers = reflections.get(key);
  if (!handlers) {
    const found = new Map<ReflectionVersion, ReflectionHandler>();
    // health's descriptors come from the definition grpc-health-check serves with
    const health = { 'grpc.health.v1.HealthCheckRequest': (HEALTH_DEFINITION as unknown as Record<string, { requestType: unknown }>).Check?.requestType };
    const all = { ...definitions, ...reflectionDefinitions(), ...health } as protoLoader.PackageDefinition;
    new ReflectionService(all, { services: described }).addToServer({
      addService: (service, impl) => {
        const v: ReflectionVersion = Object.values(service)[0]?.path.includes('.v1alpha.') ? 'v1alpha' : 'v1';
        found.set(v, impl.ServerReflectionInfo as ReflectionHandler);
      },
    });
    reflections.set(key, (handlers = found));
  }
  const handler = handlers.get(version);
  if (!handler) throw new Error(`@grpc/reflection added no ${version} handler`);
  return handler;
}

/**
 * gRPC's standard probes on one daemon's server: `grpc.health.v1.Health` (Check, Watch) and
 * server reflection (v1 and v1alpha). Neither checks the caller's certificate role: an
 * orchestrator's probe trusts the CA and has no quell identity.
 *
 * The overall service "" and every named service share one status: SERVING exactly while
 * `isServing()` holds; the daemon calls refresh() when what it reads may have changed.
 */
export class GrpcProbes {
  private readonly health: HealthImplementation;
  private status: ServingStatus = 'NOT_SERVING';
  /** open Watch streams: a draining server waits for its calls, so close() ends them */
  private readonly watches = new Set<{ end(): void }>();
  private closed = false;

  constructor(
    /** the daemon's own services, e.g. quell.v1.Coordinator */
    private readonly services: readonly string[],
    private readonly isServing: () => boolean,
  ) {
    this.health = new HealthImplementation(Object.fromEntries(['', ...services].map((s) => [s, this.status])));
  }

  get serving(): boolean {
    return this.status === 'SERVING';
  }

  /** Adds health and reflection; `definitions` holds the daemon's services for reflection to describe. */
  addToServer(server: grpc.Server, definitions: protoLoader.PackageDefinition): void {
    this.health.addToServer({
      addService: (service, handlers: HealthHandlers) => {
        const watch = handlers.watch as (call: { end(): void; on(event: 'cancelled', l: () => void): unknown }) => void;
        const tracked = (call: { end(): void; on(event: 'cancelled', l: () => void): unknown }): void => {
          if (this.closed) return call.end();
          this.watches.add(call);
          call.on('cancelled', () => this.watches.delete(call));
          watch(call);
        };
        server.addService(service as grpc.ServiceDefinition, { ...handlers, watch: tracked } as grpc.UntypedServiceImplementation);
      },
    });
    const protos = reflectionDefinitions();
    for (const version of ['v1', 'v1alpha'] as const) {
      const service = protos[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition;
      server.addService(service, { ServerReflectionInfo: (call: unknown) => reflectionHandler(this.services, definitions, version)(call) });
    }
  }

  refresh(): void {
    if (this.closed) return;
    const next: ServingStatus = this.isServing() ? 'SERVING' : 'NOT_SERVING';
    if (next === this.status) return;
    this.status = next;
    for (const s of ['', ...this.services]) this.health.setStatus(s, next);
  }

  /** NOT_SERVING for good, and every Watch stream ends (so the server's drain is not held by probes). */
  close(): void {
    if (this.closed) return;
    this.status = 'NOT_SERVING';
    for (const s of ['', ...this.services]) this.health.setStatus(s, 'NOT_SERVING');
    this.closed = true;
    for (const call of this.watches) call.end();
    this.watches.clear();
  }
}
