import * as grpc from '@grpc/grpc-js';
import * as path from 'node:path';
import { identities } from '../common/tls/identity';
import { TransportSecurity, type TlsOptions } from '../common/tls';
import { CHANNEL_OPTIONS } from '../common/grpc/channel-options';
import { errorText } from '../errors/error-text';
import type { BenchCluster, HostGroup } from './cluster';
import { FLOOR_ECHO, FLOOR_STREAM, floorDeserialize, floorSerialize } from './floor-service';

/**
 * The raw grpc-js floor of one cluster size: what a fan-out costs with nothing but grpc-js,
 * HTTP/2 and TLS, measured in the same run as quell so that quell's numbers read as ratios.
 * The servers (floor-server.ts) are packed into processes as the cluster's agents are, and use
 * the agents' certificates; this process dials them as the coordinator dials agents (its
 * certificate, the agent's identity checked, quell's channel options), one channel per node.
 * Two fan-outs, each the analogue of one statement:
 *  - perCall: one unary Echo call per node, all in flight at once (Promise.all);
 *  - stream: one long-lived bidi stream per node; one tagged message to every node, then
 *    wait for the reply with that tag from each.
 */

export const FLOOR_SERVER_MAIN = path.join(__dirname, 'floor-server.js');

/** About the size of a statement's request to an agent (its WHERE, mode and ids). */
const PAYLOAD_BYTES = 64;
const CONNECT_TIMEOUT_MS = 60_000;

export interface FloorNode {
  readonly nodeId: string;
  readonly address: string;
}

/** Starts the floor's servers for `groups` (as the cluster packs its agents) in the cluster's PKI. */
export async function startFloorServers(cluster: BenchCluster, groups: readonly HostGroup[]): Promise<FloorNode[]> {
  const started = await Promise.all(
    groups.map(async (g) => {
      const child = cluster.spawnHelper('floor-server', FLOOR_SERVER_MAIN, ['--pki', cluster.pkiDir, '--first', String(g.first), '--count', String(g.count)]);
      const ready = await child.waitFor((e) => e.event === 'ready', 60_000);
      return (ready.servers as { node_id: string; address: string }[]).map((s) => ({ nodeId: s.node_id, address: s.address }));
    }),
  );
  return started.flat();
}

interface Waiting {
  readonly tag: number;
  left: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class FloorClient {
  private readonly streams: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
  private tag = 0;
  private waiting: Waiting | undefined;
  private failure: Error | undefined;

  private constructor(
    private readonly security: TransportSecurity,
    private readonly clients: grpc.Client[],
  ) {}

  /** Connects to every node (TLS handshakes done) and opens its stream. */
  static async open(nodes: readonly FloorNode[], tls: TlsOptions): Promise<FloorClient> {
    const security = TransportSecurity.from(tls);
    const clients = nodes.map((n) => new grpc.Client(n.address, security.channelCredentials(n.address, identities.agent(n.nodeId, security.trustDomain)), { ...CHANNEL_OPTIONS }));
    const floor = new FloorClient(security, clients);
    try {
      const deadline = Date.now() + CONNECT_TIMEOUT_MS;
      await Promise.all(clients.map((c, i) => new Promise<void>((resolve, reject) => c.waitForReady(deadline, (err) => (err ? reject(new Error(`floor: ${nodes[i]?.address ?? '?'}: ${errorText(err)}`)) : resolve())))));
      for (const c of clients) floor.openStream(c);
      // a first round trip on every stream: each is open end to end before anything is timed
      await floor.stream();
    } catch (err) {
      floor.close();
      throw err;
    }
    return floor;
  }

  get nodes(): number {
    return this.clients.length;
  }

  private openStream(c: grpc.Client): void {
    const s = c.makeBidiStreamRequest<Buffer, Buffer>(FLOOR_STREAM, floorSerialize, floorDeserialize);
    s.on('data', (m: Buffer) => this.onReply(m));
    s.on('error', (err: Error) => this.fail(new Error(`floor stream broke: ${errorText(err)}`)));
    this.streams.push(s);
  }

  private message(tag: number): Buffer {
    const b = Buffer.alloc(PAYLOAD_BYTES, 0x61);
    b.writeUInt32LE(tag, 0);
    return b;
  }

  private onReply(m: Buffer): void {
    const w = this.waiting;
    if (!w || m.readUInt32LE(0) !== w.tag) {
      this.fail(new Error(`floor: a stream reply tagged ${m.readUInt32LE(0)} while ${w ? `waiting for ${w.tag}` : 'nothing is in flight'}`));
      return;
    }
    if (--w.left === 0) {
      this.waiting = undefined;
      w.resolve();
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(err);
  }

  /** One unary call per node, all at once; resolves when every node has answered. */
  perCall(): Promise<void> {
    const tag = ++this.tag;
    const msg = this.message(tag);
    return Promise.all(
      this.clients.map(
        (c) =>
          new Promise<void>((resolve, reject) => {
            c.makeUnaryRequest<Buffer, Buffer>(FLOOR_ECHO, floorSerialize, floorDeserialize, msg, (err, reply) => {
              if (err) reject(new Error(`floor call failed: ${errorText(err)}`));
              else if (reply?.readUInt32LE(0) !== tag) reject(new Error('floor: a unary reply with another tag'));
              else resolve();
            });
          }),
      ),
    ).then(() => undefined);
  }

  /** One tagged message on every node's stream; resolves when each has echoed it. */
  stream(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiting) return Promise.reject(new Error('floor: one stream fan-out at a time'));
    const tag = ++this.tag;
    const msg = this.message(tag);
    return new Promise<void>((resolve, reject) => {
      this.waiting = { tag, left: this.streams.length, resolve, reject };
      for (const s of this.streams) s.write(msg);
    });
  }

  close(): void {
    this.waiting?.reject(new Error('floor client closed'));
    this.waiting = undefined;
    for (const s of this.streams) s.cancel();
    for (const c of this.clients) c.close();
    this.security.close();
  }
}
