import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { encodeFrames, FrameDecoder, PacketTooLarge, type DecoderLimits, type Packet, type PacketBudget } from './framing';
import { upgradeToTls, type TlsFiles } from './tls-upgrade';

/** A client sent a packet whose sequence id is not the next one. */
export class OutOfOrder extends Error {}

/**
 * Unread bytes beyond which the socket is paused while nobody waits for a packet (a statement
 * runs): enough to see a client go away, not enough to matter times many sessions.
 */
const UNREAD_HIGH = 64 * 1024;

/**
 * One client connection as packets: reads frames into packets only as the session asks for
 * them (so what follows an SSLRequest stays unread for TLS), numbers what it sends, checks the
 * sequence ids of what it receives, and tells when the client is gone, also while a statement
 * runs and nobody reads.
 */
export class Wire {
  private stream: Duplex;
  private readonly decoder: FrameDecoder;
  /** the sequence id the next packet (either way) must have */
  private seq = 0;
  private waiter: { resolve: (p: Packet | undefined) => void; reject: (err: unknown) => void } | undefined;
  private gone = false;
  private readonly goneListeners: (() => void)[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  private tlsSocket: TLSSocket | undefined;

  constructor(
    private readonly socket: Socket,
    limits: DecoderLimits,
    budget?: PacketBudget,
  ) {
    this.decoder = new FrameDecoder(limits, budget);
    this.stream = socket;
    socket.setNoDelay(true);
    socket.on('close', () => this.markGone());
    this.listen(socket);
  }

  /** Whether the client went away (closed, reset, or the socket was destroyed). */
  get closed(): boolean {
    return this.gone;
  }

  /** The TLS socket after an upgrade. */
  get tls(): TLSSocket | undefined {
    return this.tlsSocket;
  }

  /** Runs once when the client goes away (at once if it already has). */
  onGone(listener: () => void): void {
    if (this.gone) listener();
    else this.goneListeners.push(listener);
  }

  setPacketLimits(limits: DecoderLimits): void {
    this.decoder.setLimits(limits);
  }

  /** A new command starts: the client's next packet is number 0. */
  beginCommand(): void {
    this.seq = 0;
  }

  /**
   * The client's next packet (possibly dropped: Packet.dropped); undefined once the client is
   * gone. Rejects with PacketTooLarge or OutOfOrder (the session answers those with an error and
   * closes).
   */
  next(): Promise<Packet | undefined> {
    if (this.waiter) return Promise.reject(new Error('already waiting for a packet'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  /** Sends packets numbered on from the last one received or sent; false when the socket's buffer is full. */
  send(...payloads: Buffer[]): boolean {
    if (this.gone) return false;
    for (const payload of payloads) {
      const { frames, next } = encodeFrames(payload, this.seq);
      this.seq = next;
      for (const f of frames) this.stream.write(f);
    }
    return !this.stream.writableNeedDrain;
  }

  /** Resolves once the socket can take more, or the client is gone. */
  drained(): Promise<void> {
    if (this.gone || !this.stream.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Resolves once everything sent so far has been handed to the operating system, or the client is gone. */
  flushed(): Promise<void> {
    if (this.gone) return Promise.resolve();
    return new Promise((resolve) => {
      this.stream.write(Buffer.alloc(0), () => resolve());
      this.onGone(resolve);
    });
  }

  /** Switches to TLS (after the client's SSLRequest); throws when the TLS handshake fails. */
  async upgrade(files: TlsFiles, timeoutMs: number): Promise<TLSSocket> {
    const tls = await upgradeToTls(this.socket, this.decoder.takeLeftover(), files, timeoutMs);
    this.tlsSocket = tls;
    this.stream = tls;
    tls.on('close', () => this.markGone());
    this.listen(tls);
    return tls;
  }

  /** Ends the connection after what was sent; destroys it if the client does not close within a moment. */
  close(): void {
    if (this.gone) return;
    this.stream.end();
    setTimeout(() => this.destroy(), 1_000).unref();
    this.markGone();
  }

  destroy(): void {
    this.stream.destroy();
    this.socket.destroy();
    this.markGone();
  }

  private listen(stream: Duplex): void {
    stream.on('data', (d: Buffer) => {
      this.decoder.append(d);
      // a client that sends while a statement runs is read on (its going away must be seen), up to a point
      if (!this.waiter && this.decoder.buffered > UNREAD_HIGH) stream.pause();
      this.pump();
    });
    stream.on('end', () => this.markGone());
    stream.on('drain', () => this.wakeDrain());
    // an error is followed by 'close'
    stream.on('error', () => undefined);
  }

  private pump(): void {
    const w = this.waiter;
    if (!w) return;
    let packet: Packet | undefined;
    try {
      packet = this.decoder.take();
      if (packet && packet.seq !== this.seq) throw new OutOfOrder(`packet ${packet.seq} where ${this.seq} was next`);
    } catch (err) {
      // MariaDB numbers its 1153 after the frame whose header was too much
      if (err instanceof PacketTooLarge && err.seq !== undefined) this.seq = (err.seq + 1) & 0xff;
      this.waiter = undefined;
      w.reject(err);
      return;
    }
    if (packet) {
      this.seq = (packet.seq + packet.frames) & 0xff;
      this.waiter = undefined;
      w.resolve(packet);
      return;
    }
    if (this.gone) {
      this.waiter = undefined;
      w.resolve(undefined);
      return;
    }
    if (this.stream.isPaused()) this.stream.resume();
  }

  private wakeDrain(): void {
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private markGone(): void {
    if (this.gone) return;
    this.gone = true;
    // a packet that can no longer arrive holds nothing of the door's budget
    this.decoder.close();
    this.wakeDrain();
    for (const l of this.goneListeners.splice(0)) l();
    this.pump();
  }
}
