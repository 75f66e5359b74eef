/**
 * The MySQL client/server protocol's numbers and its two basic encodings (fixed-size little-endian
 * integers and length-encoded integers and strings), as MariaDB's sql/protocol.cc and
 * include/mysql_com.h define them.
 */

/** Capability flags (include/mysql_com.h). */
export const CLIENT = {
  LONG_PASSWORD: 0x1,
  FOUND_ROWS: 0x2,
  LONG_FLAG: 0x4,
  CONNECT_WITH_DB: 0x8,
  PROTOCOL_41: 0x200,
  INTERACTIVE: 0x400,
  SSL: 0x800,
  TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000,
  MULTI_RESULTS: 0x20000,
  PLUGIN_AUTH: 0x80000,
  CONNECT_ATTRS: 0x100000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
} as const;

/** Command bytes of the command phase. */
export const COM = {
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  STATISTICS: 0x09,
  PROCESS_KILL: 0x0c,
  PING: 0x0e,
  CHANGE_USER: 0x11,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  RESET_CONNECTION: 0x1f,
} as const;

/** Column types (MYSQL_TYPE_*). */
export const TYPE = {
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  DOUBLE: 5,
  NULL: 6,
  LONGLONG: 8,
  DATETIME: 12,
  VAR_STRING: 253,
} as const;

/** Column flags. */
export const FLAG = {
  UNSIGNED: 32,
  BINARY: 128,
} as const;

export const SERVER_STATUS_AUTOCOMMIT = 0x2;

/** Collations: utf8mb4_general_ci for text, binary for numbers and times. */
export const CHARSET_UTF8MB4 = 45;
export const CHARSET_BINARY = 63;

/** MariaDB's NOT_FIXED_DEC: "no fixed number of decimals" in a column definition. */
export const NOT_FIXED_DEC = 39;

export const NATIVE_PASSWORD_PLUGIN = 'mysql_native_password';

/** Builds one packet's payload. */
export class PayloadWriter {
  private readonly parts: Buffer[] = [];

  u8(n: number): this {
    this.parts.push(Buffer.from([n & 0xff]));
    return this;
  }

  u16(n: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n & 0xffff);
    this.parts.push(b);
    return this;
  }

  u32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n >>> 0);
    this.parts.push(b);
    return this;
  }

  bytes(b: Buffer): this {
    this.parts.push(b);
    return this;
  }

  zeros(n: number): this {
    this.parts.push(Buffer.alloc(n));
    return this;
  }

  /** A string followed by a NUL byte. */
  nulString(s: string): this {
    return this.bytes(Buffer.from(s, 'utf8')).u8(0);
  }

  /** A length-encoded integer (1, 3, 4 or 9 bytes). */
  lenenc(n: number): this {
    if (n < 251) return this.u8(n);
    if (n < 2 ** 16) return this.u8(0xfc).u16(n);
    if (n < 2 ** 24) {
      const b = Buffer.alloc(4);
      b[0] = 0xfd;
      b.writeUIntLE(n, 1, 3);
      return this.bytes(b);
    }
    const b = Buffer.alloc(9);
    b[0] = 0xfe;
    b.writeBigUInt64LE(BigInt(n), 1);
    return this.bytes(b);
  }

  lenencString(s: string | Buffer): this {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    return this.lenenc(b.length).bytes(b);
  }

  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A packet payload too short or malformed for what it claims to be. */
export class MalformedPacket extends Error {}

/** Reads one packet's payload front to back; every read checks that the bytes are there. */
export class PayloadReader {
  private offset = 0;

  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  private take(n: number): Buffer {
    if (n < 0 || this.offset + n > this.buf.length) throw new MalformedPacket(`packet ends ${this.offset + n - this.buf.length} byte(s) early`);
    const b = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }

  u8(): number {
    return this.take(1)[0] ?? 0;
  }

  u16(): number {
    return this.take(2).readUInt16LE();
  }

  u32(): number {
    return this.take(4).readUInt32LE();
  }

  skipBytes(n: number): void {
    this.take(n);
  }

  bytes(n: number): Buffer {
    return this.take(n);
  }

  rest(): Buffer {
    return this.take(this.remaining);
  }

  /** A NUL-terminated string; a missing NUL ends at the packet's end (clients may omit the last one). */
  nulString(): string {
    const end = this.buf.indexOf(0, this.offset);
    const stop = end < 0 ? this.buf.length : end;
    const s = this.buf.toString('utf8', this.offset, stop);
    this.offset = end < 0 ? stop : stop + 1;
    return s;
  }

  lenenc(): number {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.take(3).readUIntLE(0, 3);
    if (first === 0xfe) {
      const n = this.take(8).readBigUInt64LE();
      if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedPacket('length-encoded integer too large');
      return Number(n);
    }
    throw new MalformedPacket(`0x${first.toString(16)} is not a length-encoded integer`);
  }

  lenencBytes(): Buffer {
    return this.take(this.lenenc());
  }
}
