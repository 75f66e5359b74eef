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
  readonly payload: Buffer;
}

/** A client sent a packet larger than the limit (MariaDB: max_allowed_packet). */
export class PacketTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`a packet larger than ${limit} bytes`);
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

/**
 * Joins bytes from the socket into packets. The size limit is checked as each frame header
 * arrives, so garbage that claims a huge length is refused without waiting for its bytes.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /** frames of a packet that is not complete yet */
  private pending: { seq: number; frames: number; parts: Buffer[]; size: number } | undefined;

  constructor(private limit: number) {}

  /** Changes the size limit (the handshake allows less than the command phase). */
  setLimit(limit: number): void {
    this.limit = limit;
  }

  /** Bytes received and not yet part of a packet (after a switch to TLS: the start of the TLS stream). */
  takeLeftover(): Buffer {
    const rest = Buffer.concat(this.chunks);
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

  /** The next complete packet, if its bytes are all here. Throws PacketTooLarge. */
  take(): Packet | undefined {
    return this.nextPacket();
  }

  private nextPacket(): Packet | undefined {
    for (;;) {
      if (this.bufferedBytes < 4) return undefined;
      const head = this.peek(4);
      const len = head.readUIntLE(0, 3);
      const seq = head[3] ?? 0;
      const size = (this.pending?.size ?? 0) + len;
      if (size > this.limit) throw new PacketTooLarge(this.limit);
      if (this.bufferedBytes < 4 + len) return undefined;
      this.consume(4);
      const body = this.consume(len);
      const p = this.pending ?? { seq, frames: 0, parts: [], size: 0 };
      p.frames++;
      p.parts.push(body);
      p.size += len;
      if (len === MAX_FRAME) {
        this.pending = p;
        continue;
      }
      this.pending = undefined;
      return { seq: p.seq, frames: p.frames, payload: p.parts.length === 1 ? (p.parts[0] as Buffer) : Buffer.concat(p.parts) };
    }
  }

  private peek(n: number): Buffer {
    if ((this.chunks[0]?.length ?? 0) < n) this.chunks = [Buffer.concat(this.chunks)];
    return (this.chunks[0] as Buffer).subarray(0, n);
  }

  private consume(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    if ((this.chunks[0]?.length ?? 0) < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0] as Buffer;
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.bufferedBytes -= n;
    return out;
  }
}
