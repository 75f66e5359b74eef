import type { IncomingHttpHeaders } from 'node:http2';
import type { CallStatus } from '../../common/grpc/call-status';
import { MESSAGE_LIMIT_BYTES } from '../../proto/wire-size';

/** A gRPC message: uncompressed flag, length, bytes. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** gRPC's length-prefixed messages out of a stream's chunks; each message is copied once. */
export class MessageReader {
  private chunks: Buffer[] = [];
  private size = 0;

  /** Calls `each` with every whole message; throws on a compressed one (none was asked for). */
  push(chunk: Buffer, each: (message: Buffer) => void): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size >= 5) {
      if ((this.chunks[0] as Buffer).length < 5) this.chunks = [Buffer.concat(this.chunks)];
      const head = this.chunks[0] as Buffer;
      if (head[0] !== 0) throw new Error('the server sent a compressed message');
      const length = head.readUInt32BE(1);
      // the coordinator and agents send in blocks well under gRPC's limit: a bigger length prefix
      // is a broken peer, and buffering it would only grow the client's memory
      if (length > MESSAGE_LIMIT_BYTES) throw new Error(`the server sent a message of ${length} bytes, over the ${MESSAGE_LIMIT_BYTES} limit`);
      const total = 5 + length;
      if (this.size < total) return;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks);
      this.chunks = all.length > total ? [all.subarray(total)] : [];
      this.size -= total;
      each(all.subarray(5, total));
    }
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The gRPC status in a response's headers (a trailers-only response) or trailers, if there is one. */
export function statusOf(headers: IncomingHttpHeaders): CallStatus | undefined {
  const code = first(headers['grpc-status']);
  if (code === undefined) return undefined;
  const raw = first(headers['grpc-message']) ?? '';
  let details = raw;
  try {
    details = decodeURIComponent(raw);
  } catch {
    // not percent-encoded after all: shown as it came
  }
  return { code: Number(code), details, trailer: (key) => first(headers[key]) };
}
