import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { TransportSecurity } from '../../common/tls';
import { quellProto } from '../../proto/load';
import type { ExecuteRequest__Output } from '../../proto/generated/quell/v1/ExecuteRequest';
import type { ExecuteResponse } from '../../proto/generated/quell/v1/ExecuteResponse';

export type ExecuteCall = grpc.ServerWritableStream<ExecuteRequest__Output, ExecuteResponse>;

export interface FakeCoordinator {
  readonly address: string;
  /** statements this coordinator received */
  readonly received: string[];
  stop(): void;
}

/**
 * Real gRPC servers on loopback that play coordinators with only an Execute method, each
 * answering as its test says. They speak TLS as real coordinators do, with `tls` (the test
 * CA's coordinator certificate).
 */
export class FakeCoordinators {
  private readonly servers: FakeCoordinator[] = [];

  constructor(private readonly tls: TransportSecurity) {}

  /** `port` 0 takes a free one; a given port brings a coordinator back where one was */
  async start(answer: (call: ExecuteCall) => void, port = 0): Promise<FakeCoordinator> {
    const server = new grpc.Server();
    const received: string[] = [];
    server.addService(quellProto().coordinator.quell.v1.CoordinatorService.service, {
      Execute: (call: ExecuteCall) => {
        received.push(call.request.sql);
        answer(call);
      },
    });
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, this.tls.serverCredentials(`127.0.0.1:${port}`, 'request'), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const fake = { address: `127.0.0.1:${bound}`, received, stop: () => server.forceShutdown() };
    this.servers.push(fake);
    return fake;
  }

  stopAll(): void {
    for (const s of this.servers.splice(0)) s.stop();
  }
}

/** Answers every statement with one row naming the coordinator. */
export const answering = (name: string) => (call: ExecuteCall) => {
  call.write({ header: { columns: [{ name: 'who', type: 'String' }], format: '', dialect: 'DIALECT_CLICKHOUSE', statement_id: 's' } });
  call.write({ rows: { rows: [{ values: [{ str: name }] }] } });
  call.write({ end: { rows: '1', elapsed_seconds: 0, affected_rows: '0', warnings: [] } });
  call.end();
};

/** An address that accepts TCP and never speaks (a coordinator that swallows packets); close() ends it. */
export async function silentServer(): Promise<{ readonly address: string; close(): void }> {
  const server = net.createServer(() => undefined);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
