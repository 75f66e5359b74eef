import * as grpc from '@grpc/grpc-js';
import { TransportSecurity } from '../common/tls';
import { CHANNEL_OPTIONS } from '../common/grpc/channel-options';
import { errorText } from '../errors/error-text';
import { intOption, parse, UsageError } from '../cli/args';
import { FLOOR_SERVICE } from './floor-service';
import { pkiFiles } from './pki-files';
import { stopWithParent } from './helper-lifetime';

/**
 * Benchmark helper: the raw grpc-js floor's servers. K echo servers in one process, each its
 * own grpc.Server on 127.0.0.1 with the TLS of node agent `<prefix><i>` (the bench cluster's
 * certificate for that node, server credentials as the agent makes them), so the floor's hops
 * cost what quell's hops to agents cost in transport. Echo answers a unary call with its
 * request; Stream answers every message with the same message. Prints one JSON line when all
 * listen:
 *   {"event":"ready","pid":…,"servers":[{"node_id":"n1","address":"127.0.0.1:…"},…]}
 * Stops on SIGTERM/SIGINT, and by itself when its parent goes away.
 *
 *   node dist/bench/floor-server.js --pki DIR --first 1 --count 50 [--prefix n]
 */

interface Options {
  readonly pki: string;
  readonly prefix: string;
  readonly first: number;
  readonly count: number;
}

function options(argv: string[]): Options {
  const { values } = parse(argv, { pki: { type: 'string' }, prefix: { type: 'string', default: 'n' }, first: { type: 'string' }, count: { type: 'string' } });
  if (!values.pki) throw new UsageError('--pki is required');
  const count = intOption(values.count, 'count', 1);
  if (count < 1) throw new UsageError('--count must be at least 1');
  return { pki: values.pki, prefix: values.prefix, first: intOption(values.first, 'first', 1), count };
}

const handlers: grpc.UntypedServiceImplementation = {
  Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request),
  Stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
    call.on('data', (m: Buffer) => call.write(m));
    call.on('end', () => call.end());
    // a client that goes away mid-stream: nothing to clean up but the call
    call.on('error', () => undefined);
  },
};

async function listen(pki: string, nodeId: string): Promise<{ server: grpc.Server; security: TransportSecurity; address: string }> {
  const security = TransportSecurity.from(pkiFiles(pki, `agent-${nodeId}`));
  const server = new grpc.Server({ ...CHANNEL_OPTIONS });
  server.addService(FLOOR_SERVICE, handlers);
  const listenOn = '127.0.0.1:0';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listenOn, security.serverCredentials(listenOn, 'request'), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, security, address: `127.0.0.1:${port}` };
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const running: { server: grpc.Server; security: TransportSecurity }[] = [];
  const stop = (code: number): void => {
    for (const r of running) {
      r.server.forceShutdown();
      r.security.close();
    }
    process.exit(code);
  };
  stopWithParent(() => stop(0));

  const servers: { node_id: string; address: string }[] = [];
  try {
    for (let i = 0; i < o.count; i++) {
      const nodeId = `${o.prefix}${o.first + i}`;
      const s = await listen(o.pki, nodeId);
      running.push(s);
      servers.push({ node_id: nodeId, address: s.address });
    }
  } catch (err) {
    process.stderr.write(`floor-server: ${errorText(err)}\n`);
    stop(1);
    return;
  }
  process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid, servers })}\n`);
}

void main();
