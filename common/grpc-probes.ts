import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation, protoPath as HEALTH_PROTO, type ServingStatus } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';
const REFLECTION_SERVICES = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
const REFLECTION_PROTO_ROOT = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');

type HealthServer = Parameters<HealthImplementation['addToServer']>[0];
type HealthHandlers = Parameters<HealthServer['addService']>[1];

/** The descriptors reflection serves for health and for itself, loaded once per process. */
let standardDefinitions: protoLoader.PackageDefinition | undefined;
function standard(): protoLoader.PackageDefinition {
  standardDefinitions ??= {
    ...protoLoader.loadSync(HEALTH_PROTO),
    ...protoLoader.loadSync(['grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'], { includeDirs: [REFLECTION_PROTO_ROOT] }),
  };
  return standardDefinitions;
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
    const described = [...this.services, HEALTH_SERVICE, ...REFLECTION_SERVICES];
    new ReflectionService({ ...definitions, ...standard() }, { services: described }).addToServer(server);
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
