import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Logger } from './logger';
import { splitAddress } from '../etcd/etcd-layout';
import type { TransportSecurity } from '../tls';
import { errorText } from '../../errors/error-text';

/** A daemon's `/metrics` endpoint (`--metrics-listen`). */
export interface MetricsServer {
  /** the bound host:port */
  readonly address: string;
  /** `https` when the daemon has a certificate */
  readonly scheme: 'http' | 'https';
  close(): Promise<void>;
}

/**
 * Serves `registry` as Prometheus text at GET /metrics. The daemon's transport rule applies:
 * HTTPS with its own certificate (following rotations) when it has one, and no client
 * certificate asked for, so a scraper needs only the CA; plaintext only with `--insecure` on
 * a loopback address.
 */
export async function serveMetrics(listen: string, registry: Registry, security: TransportSecurity, log: Logger): Promise<MetricsServer> {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://metrics');
    if (url.pathname !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET and HEAD\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.warn({ err: errorText(err) }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${errorText(err)}\n`);
      },
    );
  };
  let tlsServer: https.Server | undefined;
  const secure = security.followServerCertificate(listen, (pair) => {
    if (tlsServer) tlsServer.setSecureContext(pair);
    else tlsServer = https.createServer(pair, handler);
  });
  const server: http.Server = tlsServer ?? http.createServer(handler);
  const { host, port } = splitAddress(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.warn({ err: errorText(err) }, 'metrics server error'));
  const bound = (server.address() as AddressInfo).port;
  const address = listen.replace(/:\d+$/, `:${bound}`);
  const scheme = secure ? 'https' : 'http';
  log.info({ url: `${scheme}://${address}/metrics` }, 'serving metrics');
  return {
    address,
    scheme,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // a scraper's keep-alive connection must not hold the daemon's exit
        server.closeAllConnections();
      }),
  };
}

/** The daemon's own TLS certificate, read at each scrape so that a rotation shows (undefined: none, `--insecure`). */
export type OwnCertificate = () => { readonly identity: string; readonly notAfter: Date } | undefined;

/**
 * A daemon's own registry (never prom-client's global one: tests run several daemons in one
 * process): Node's default process metrics, `quell_serving`, what its gRPC health says, and
 * `quell_tls_cert_expiry_seconds`, when its own certificate expires.
 */
export function daemonRegistry(serving: () => boolean, ownCertificate: OwnCertificate = () => undefined): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'quell_serving',
    help: '1 while the daemon reports SERVING on grpc.health.v1 (running, with etcd reachable), else 0',
    registers: [registry],
    collect() {
      this.set(serving() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'quell_tls_cert_expiry_seconds',
    help: "The daemon's own TLS certificate (--tls-cert, as last accepted: rotations show) expires at this time, in unix seconds; no series without TLS",
    labelNames: ['identity'],
    registers: [registry],
    collect() {
      this.reset();
      const own = ownCertificate();
      if (own) this.set({ identity: own.identity }, Math.floor(own.notAfter.getTime() / 1000));
    },
  });
  return registry;
}
