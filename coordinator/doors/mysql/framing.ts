/**
 * MySQL packet framing: each frame is a 3-byte little-endian length, a 1-byte sequence id and
 * that many bytes. A payload of 2^24 - 1 bytes or more is split into full frames followed by a
 * shorter one (possibly empty); the receiver joins them.
 */

/** The most one frame holds. */
export const MAX_FRAME = 0xffffff;

export interface Packet {
  /** the sequence id of the packet's first frame */
  readonly seq: number;
  /** how many frames it took (the next expected sequence id is seq + frames) */
  readonly frames: number;
  /** the bytes; of a dropped packet only its first (the command byte), if it had one */
  readonly payload: Buffer;
  /** set when the packet's bytes were read and thrown away instead of kept (FrameDecoder) */
  readonly dropped?: Dropped;
}

/** Why a packet was not kept, and how long it was. */
export interface Dropped {
  /** over the decoder's buffer limit (the door: max_query_size), or the door's total was in use */
  readonly reason: 'tooLarge' | 'budget';
  /** the packet's whole length */
  readonly size: number;
}

/** A client sent a packet larger than the limit (MariaDB: max_allowed_packet). */
export class PacketTooLarge extends Error {
  constructor(
    readonly limit: number,
    /** the sequence id of the frame header that made it too large (the answer is numbered after it) */
    readonly seq?: number,
  ) {
    super(`a packet larger than ${limit} bytes`);
  }
}

/** A packet the connection phase cannot answer and go on from: it was dropped (the budget was in use). */
export class PacketDropped extends Error {
  constructor(readonly dropped: Dropped) {
    super(`a packet of ${dropped.size} bytes was dropped (${dropped.reason})`);
  }
}

/** Frames up to this size are always taken into a budget; larger ones only while it has room. */
export const SMALL_FRAME = 16 * 1024;

/**
 * The bytes all connections of a door may hold for packets still arriving. Each frame takes its
 * announced length at its header and gives it back when its packet is complete or its connection
 * gone; a frame over SMALL_FRAME that would take the total past `limit` is refused (its packet is
 * dropped), so a door under a flood of big packets refuses them instead of growing.
 */
export class PacketBudget {
  private held = 0;

  constructor(readonly limit: number) {}

  /** Bytes taken now. */
  get inUse(): number {
    return this.held;
  }

  /** Takes n bytes; false (nothing taken) for a frame over SMALL_FRAME that does not fit. */
  take(n: number): boolean {
    if (n > SMALL_FRAME && this.held + n > this.limit) return false;
    this.held += n;
    return true;
  }

  give(n: number): void {
    this.held = Math.max(0, this.held - n);
  }
}

/** Frames of one payload with consecutive sequence ids from `seq`; returns them and the next id. */
export function encodeFrames(payload: Buffer, seq: number): { frames: Buffer[]; next: number } {
  const frames: Buffer[] = [];
  let offset = 0;
  let s = seq;
  for (;;) {
    const len = Math.min(MAX_FRAME, payload.length - offset);
    const header = Buffer.alloc(4);
    header.writeUIntLE(len, 0, 3);
    header[3] = s & 0xff;
    frames.push(header, payload.subarray(offset, offset + len));
    offset += len;
    s = (s + 1) & 0xff;
    // a payload that fills its last frame exactly needs an empty frame after it
    if (len < MAX_FRAME) break;
  }
  return { frames, next: s };
}

export interface DecoderLimits {
  /** a packet longer than this is refused with PacketTooLarge at the header that makes it so */
  readonly max: number;
  /** a packet longer than this (and at most max) is read and thrown away, and returned as dropped (default: max) */
  readonly keep?: number;
}

/** The frame whose header was read and whose body is still coming. */
interface OpenFrame {
  readonly len: number;
  /** body bytes not yet taken (kept) or thrown away (dropped) */
  remaining: number;
}

/** The packet being put together from its frames. */
interface OpenPacket {
  readonly seq: number;
  frames: number;
  size: number;
  parts: Buffer[];
  dropped: Dropped['reason'] | undefined;
  /** the first byte of a dropped packet */
  first: number | undefined;
}

/**
 * Joins bytes from the socket into packets. The size limits and the budget are checked as each
 * frame header arrives: garbage that claims a huge length is refused without waiting for its
 * bytes, and the body of a packet over the keep limit is thrown away as it arrives, never held.
 * Packets are taken one at a time, so what follows a packet stays unread (the TLS bytes after an
 * SSLRequest). A kept body is copied out of the received chunks, so no packet holds on to a
 * larger buffer than its own.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private max: number;
  private keep: number;
  private frame: OpenFrame | undefined;
  private packet: OpenPacket | undefined;
  /** taken from the budget for the open packet */
  private reserved = 0;
  /** the connection is gone: packets still buffered may be taken, without the budget */
  private closed = false;

  constructor(
    limit: number | DecoderLimits,
    private readonly budget?: PacketBudget,
  ) {
    const l = typeof limit === 'number' ? { max: limit } : limit;
    this.max = l.max;
    this.keep = Math.min(l.keep ?? l.max, l.max);
  }

  /** Changes the limits (the handshake allows less than the command phase). */
  setLimits(limit: number | DecoderLimits): void {
    const l = typeof limit === 'number' ? { max: limit } : limit;
    this.max = l.max;
    this.keep = Math.min(l.keep ?? l.max, l.max);
  }

  /** Bytes received and not yet part of a packet (after a switch to TLS: the start of the TLS stream). */
  takeLeftover(): Buffer {
    const rest = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    this.chunks = [];
    this.bufferedBytes = 0;
    return rest;
  }

  /** Bytes received and not yet taken as packets. */
  get buffered(): number {
    return this.bufferedBytes;
  }

  /** Adds received bytes; packets are taken from them one at a time (take), so what follows a packet stays unread. */
  append(data: Buffer): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.bufferedBytes += data.length;
  }

  /** The connection is gone: what the open packet took from the budget goes back, and nothing more is taken. */
  close(): void {
    this.closed = true;
    this.release();
  }

  /** The next complete packet, if its bytes are all here (dropped or kept). Throws PacketTooLarge. */
  take(): Packet | undefined {
    for (;;) {
      if (!this.frame && !this.openFrame()) return undefined;
      const frame = this.frame as OpenFrame;
      const packet = this.packet as OpenPacket;
      if (packet.dropped) {
        const n = Math.min(frame.remaining, this.bufferedBytes);
        if (n > 0 && packet.first === undefined && packet.size === frame.len) packet.first = this.chunks[0]?.[0];
        this.discard(n);
        frame.remaining -= n;
        if (frame.remaining > 0) return undefined;
      } else {
        if (this.bufferedBytes < frame.remaining) return undefined;
        if (frame.remaining > 0) packet.parts.push(this.gather(frame.remaining));
        frame.remaining = 0;
      }
      this.frame = undefined;
      // a full frame is followed by more of the same packet (possibly an empty frame)
      if (frame.len === MAX_FRAME) continue;
      this.packet = undefined;
      this.release();
      if (packet.dropped) {
        const payload = packet.first === undefined ? Buffer.alloc(0) : Buffer.from([packet.first]);
        return { seq: packet.seq, frames: packet.frames, payload, dropped: { reason: packet.dropped, size: packet.size } };
      }
      const payload = packet.parts.length === 1 ? (packet.parts[0] as Buffer) : Buffer.concat(packet.parts, packet.size);
      return { seq: packet.seq, frames: packet.frames, payload };
    }
  }

  private release(): void {
    if (this.reserved > 0) this.budget?.give(this.reserved);
    this.reserved = 0;
  }

  /** Reads the next frame header, if it is here: opens the frame and decides whether its bytes are kept. */
  private openFrame(): boolean {
    if (this.bufferedBytes < 4) return false;
    const head = this.gather(4);
    const len = head.readUIntLE(0, 3);
    const seq = head[3] ?? 0;
    const packet = (this.packet ??= { seq, frames: 0, size: 0, parts: [], dropped: undefined, first: undefined });
    const size = packet.size + len;
    if (size > this.max) throw new PacketTooLarge(this.max, seq);
    packet.frames++;
    packet.size = size;
    if (!packet.dropped) {
      if (size > this.keep) this.drop(packet, 'tooLarge');
      else if (this.budget && !this.closed) {
        if (this.budget.take(len)) this.reserved += len;
        else this.drop(packet, 'budget');
      }
    }
    this.frame = { len, remaining: len };
    return true;
  }

  /** From now on the packet's bytes are thrown away: what was kept of it goes, but its first byte. */
  private drop(packet: OpenPacket, reason: Dropped['reason']): void {
    packet.dropped = reason;
    packet.first = packet.parts[0]?.[0];
    packet.parts = [];
    this.release();
  }

  /** The next n bytes, copied out unless they lie within the first chunk. */
  private gather(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      this.discard(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0] as Buffer;
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      this.discard(k);
    }
    return out;
  }

  /** Throws away the next n buffered bytes. */
  private discard(n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.chunks[0] as Buffer;
      if (c.length <= left) {
        this.chunks.shift();
        left -= c.length;
      } else {
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.bufferedBytes -= n;
  }
}
