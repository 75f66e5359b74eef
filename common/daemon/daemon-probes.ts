import type * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { Lifecycle } from './lifecycle';
import type { Logger } from './logger';
import { GrpcProbes } from '../grpc/grpc-probes';
import type { MetricsServer } from './metrics-server';
import type { TransportSecurity } from '../tls';

/** Whether the daemon reaches etcd, and how it says that this changed. */
export interface EtcdReach {
  ok(): boolean;
  onChange(listener: () => void): void;
}

/** Something the daemon depends on beside etcd, with a health name of its own (`quell.backend`). */
export interface Dependency extends EtcdReach {
  readonly name: string;
}

/**
 * What an orchestrator and a scraper see of one daemon: gRPC health and reflection on its
 * server, and its `/metrics` endpoint when asked for. Health is SERVING only while the
 * lifecycle is `running` and etcd is reached: NOT_SERVING while starting, draining, or cut off.
 * A dependency's name is SERVING while that holds and the dependency is up.
 */
export class DaemonProbes {
  private readonly grpc: GrpcProbes;
  private metrics: MetricsServer | undefined;

  constructor(services: readonly string[], lifecycle: Lifecycle, etcd: EtcdReach, dependencies: readonly Dependency[] = []) {
    this.grpc = new GrpcProbes(
      services,
      () => lifecycle.state === 'running' && etcd.ok(),
      Object.fromEntries(dependencies.map((d) => [d.name, () => d.ok()])),
    );
    lifecycle.onChange(() => this.grpc.refresh());
    etcd.onChange(() => this.grpc.refresh());
    for (const d of dependencies) d.onChange(() => this.grpc.refresh());
  }

  get serving(): boolean {
    return this.grpc.serving;
  }

  /** `scheme://host:port/metrics`, when metrics are served. */
  get metricsUrl(): string | undefined {
    return this.metrics && `${this.metrics.scheme}://${this.metrics.address}/metrics`;
  }

  addToServer(server: grpc.Server): void {
    // the .proto files are parsed for reflection only when it is asked (proto/definitions.ts)
    this.grpc.addToServer(server, async () => (await import('../../proto/definitions')).quellDefinitions());
  }

  async serveMetrics(listen: string, registry: Registry, security: TransportSecurity, log: Logger): Promise<void> {
    // prom-client loads only with --metrics-listen
    const { serveMetrics } = await import('./metrics-server');
    this.metrics = await serveMetrics(listen, registry, security, log.child({ service: 'metrics' }));
  }

  /** After the drain: health stays NOT_SERVING, Watch streams end, the metrics endpoint closes. */
  async close(): Promise<void> {
    this.grpc.close();
    const metrics = this.metrics;
    this.metrics = undefined;
    await metrics?.close();
  }
}
