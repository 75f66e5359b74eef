import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import type { ServingStatus } from 'grpc-health-check';
import { HealthImplementation } from './health-service';
import * as reflectionCodec from '../../proto/generated/reflection-codec';
import { serviceDefinition, TO_OBJECT_OPTIONS, type GeneratedCodec } from '../../proto/service-definition';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';
const REFLECTION_SERVICES = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];

type ReflectionVersion = 'v1' | 'v1alpha';
type ReflectionHandler = (call: unknown) => void;
interface ReflectionCall {
  emit(event: 'error', err: { code: number; details: string }): unknown;
}

// @grpc/reflection's own loader options: its handlers read and write messages of these shapes
const REFLECTION_OPTIONS = { ...TO_OBJECT_OPTIONS, bytes: Array };

/**
 * What a server adds at start: the reflection services' definitions, from code `npm run gen`
 * writes. @grpc/reflection itself, @grpc/proto-loader and every descriptor load on the first
 * reflection call (reflectionHandler): a daemon's start, and an agent's join, never pay for them.
 */
export function reflectionService(version: ReflectionVersion): grpc.ServiceDefinition {
  return serviceDefinition(reflectionCodec as unknown as GeneratedCodec, `grpc.reflection.${version}.ServerReflection`, REFLECTION_OPTIONS);
}

/** The .proto files reflection describes itself and health with: read only when it is asked. */
async function describedStandardServices(loader: typeof protoLoader): Promise<protoLoader.PackageDefinition> {
  const reflectionRoot = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
  const healthRoot = path.join(path.dirname(require.resolve('grpc-health-check/package.json')), 'proto');
  const reflection = loader.loadSync(['grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'], { ...REFLECTION_OPTIONS, includeDirs: [reflectionRoot] });
  const health = loader.loadSync('health/v1/health.proto', { keepCase: true, ...TO_OBJECT_OPTIONS, includeDirs: [healthRoot] });
  // health's descriptors as grpc-health-check's own definition carries them
  return { ...reflection, 'grpc.health.v1.HealthCheckRequest': health['grpc.health.v1.HealthCheckRequest'] } as protoLoader.PackageDefinition;
}

/**
 * Reflection's handlers for one set of services, built on the first reflection call (decoding
 * every descriptor costs tens of milliseconds that a daemon's start should not pay) and
 * shared by every server of the process that serves that set (a bench host runs 50 agents).
 */
const reflections = new Map<string, Promise<Map<ReflectionVersion, ReflectionHandler>>>();
async function reflectionHandler(services: readonly string[], definitions: () => Promise<protoLoader.PackageDefinition>, version: ReflectionVersion): Promise<ReflectionHandler> {
  const described = [...services, HEALTH_SERVICE, ...REFLECTION_SERVICES];
  const key = described.join(',');
  let handlers = reflections.get(key);
  if (!handlers) {
    handlers = (async () => {
      const [{ ReflectionService }, loader, own] = await Promise.all([import('@grpc/reflection'), import('@grpc/proto-loader'), definitions()]);
      const all = { ...own, ...(await describedStandardServices(loader)) } as protoLoader.PackageDefinition;
      const found = new Map<ReflectionVersion, ReflectionHandler>();
      new ReflectionService(all, { services: described }).addToServer({
        addService: (service, impl) => {
          const v: ReflectionVersion = Object.values(service)[0]?.path.includes('.v1alpha.') ? 'v1alpha' : 'v1';
          found.set(v, impl.ServerReflectionInfo as ReflectionHandler);
        },
      });
      return found;
    })();
    reflections.set(key, handlers);
  }
  const handler = (await handlers).get(version);
  if (!handler) throw new Error(`@grpc/reflection added no ${version} handler`);
  return handler;
}

/**
 * gRPC's standard probes on one daemon's server: `grpc.health.v1.Health` (Check, Watch) and
 * server reflection (v1 and v1alpha). Neither checks the caller's certificate role: an
 * orchestrator's probe trusts the CA and has no quell identity.
 *
 * The overall service "" and every named service share one status: SERVING exactly while
 * `isServing()` holds; the daemon calls refresh() when what it reads may have changed. A
 * dependency (`quell.backend`: the server an agent fronts) has its own name, SERVING while the
 * daemon is and the dependency is up: it never takes the daemon's own status down.
 */
export class GrpcProbes {
  private readonly health: HealthImplementation;
  private status: ServingStatus = 'NOT_SERVING';
  /** open Watch streams: a draining server waits for its calls, so close() ends them */
  private readonly watches = new Set<{ end(): void }>();
  private closed = false;

  /** each dependency's last status */
  private readonly dependencyStatus = new Map<string, ServingStatus>();

  constructor(
    /** the daemon's own services, e.g. quell.v1.CoordinatorService */
    private readonly services: readonly string[],
    private readonly isServing: () => boolean,
    /** health names of what the daemon depends on, each with whether it is up */
    private readonly dependencies: Readonly<Record<string, () => boolean>> = {},
  ) {
    this.health = new HealthImplementation(Object.fromEntries([...['', ...services].map((s) => [s, this.status]), ...Object.keys(dependencies).map((d) => [d, this.status])]));
    for (const d of Object.keys(dependencies)) this.dependencyStatus.set(d, this.status);
  }

  get serving(): boolean {
    return this.status === 'SERVING';
  }

  /** Adds health and reflection; `definitions` gives the daemon's services for reflection to describe, when first asked. */
  addToServer(server: grpc.Server, definitions: () => Promise<protoLoader.PackageDefinition>): void {
    this.health.addToServer({
      addService: (service, handlers) => {
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
    for (const version of ['v1', 'v1alpha'] as const) {
      server.addService(reflectionService(version), {
        ServerReflectionInfo: (call: unknown) =>
          void reflectionHandler(this.services, definitions, version).then(
            (handler) => handler(call),
            // INTERNAL: reflection could not be loaded; the call ends with the reason
            (err: unknown) => (call as ReflectionCall).emit('error', { code: 13, details: `reflection unavailable: ${String(err)}` }),
          ),
      });
    }
  }

  refresh(): void {
    if (this.closed) return;
    const next: ServingStatus = this.isServing() ? 'SERVING' : 'NOT_SERVING';
    if (next !== this.status) {
      this.status = next;
      for (const s of ['', ...this.services]) this.health.setStatus(s, next);
    }
    for (const [name, up] of Object.entries(this.dependencies)) {
      const status: ServingStatus = next === 'SERVING' && up() ? 'SERVING' : 'NOT_SERVING';
      if (status === this.dependencyStatus.get(name)) continue;
      this.dependencyStatus.set(name, status);
      this.health.setStatus(name, status);
    }
  }

  /** NOT_SERVING for good, and every Watch stream ends (so the server's drain is not held by probes). */
  close(): void {
    if (this.closed) return;
    this.status = 'NOT_SERVING';
    for (const s of ['', ...this.services, ...Object.keys(this.dependencies)]) this.health.setStatus(s, 'NOT_SERVING');
    this.closed = true;
    for (const call of this.watches) call.end();
    this.watches.clear();
  }
}
