import * as net from 'node:net';

/**
 * A TCP relay in front of one daemon, so that a test can break the connections through it
 * while both ends keep running (a cut cable, not a crash). TLS passes through untouched.
 */
export class TcpProxy {
  private readonly pairs = new Set<[net.Socket, net.Socket]>();

  private constructor(
    private readonly server: net.Server,
    /** host:port to dial instead of the target */
    readonly address: string,
  ) {}

  static async start(targetPort: number, listenPort = 0): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = await new Promise<TcpProxy>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        resolve(new TcpProxy(server, `127.0.0.1:${port}`));
      });
    });
    server.on('connection', (inbound) => proxy.relay(inbound, targetPort));
    return proxy;
  }

  /** Connections relayed now. */
  get open(): number {
    return this.pairs.size;
  }

  /** Resets every relayed connection (both sides see it break); new connections are still relayed. */
  cut(): number {
    const n = this.pairs.size;
    for (const [a, b] of this.pairs) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    this.pairs.clear();
    return n;
  }

  /**
   * Stops relaying on every connection while keeping it open: the far end goes silent without
   * a FIN or a reset, as when its host dies or the network partitions. Only keepalive notices.
   */
  freeze(): number {
    for (const [a, b] of this.pairs) {
      a.unpipe(b);
      b.unpipe(a);
      a.pause();
      b.pause();
    }
    return this.pairs.size;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(inbound: net.Socket, targetPort: number): void {
    const outbound = net.connect(targetPort, '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [inbound, outbound];
    this.pairs.add(pair);
    // a side that fails breaks the other at once, as a cut would
    const drop = (): void => {
      if (!this.pairs.delete(pair)) return;
      inbound.destroy();
      outbound.destroy();
    };
    for (const [s, other] of [pair, [outbound, inbound]] as const) {
      s.on('error', drop);
      // a side that closed cleanly lets the other finish: pipe() ends it once what the closed
      // side sent is written (destroying it would drop the last bytes, say a GOAWAY or trailers)
      s.on('close', () => {
        if (other.destroyed) this.pairs.delete(pair);
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  }
}
