import { randomBytes } from 'node:crypto';
import { CLIENT, MalformedPacket, NATIVE_PASSWORD_PLUGIN, PayloadReader, PayloadWriter, SERVER_STATUS_AUTOCOMMIT } from './protocol';

/** What the door offers every client; CLIENT.SSL is added when the coordinator has a certificate. */
export const SERVER_CAPABILITIES =
  CLIENT.LONG_PASSWORD |
  CLIENT.FOUND_ROWS |
  CLIENT.LONG_FLAG |
  CLIENT.CONNECT_WITH_DB |
  CLIENT.PROTOCOL_41 |
  CLIENT.INTERACTIVE |
  CLIENT.TRANSACTIONS |
  CLIENT.SECURE_CONNECTION |
  CLIENT.MULTI_RESULTS |
  CLIENT.PLUGIN_AUTH |
  CLIENT.CONNECT_ATTRS |
  CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA;

/** The 20-byte challenge of mysql_native_password, printable as MySQL makes it (it travels NUL-terminated). */
export function newScramble(): Buffer {
  const b = randomBytes(20);
  for (let i = 0; i < b.length; i++) b[i] = 33 + ((b[i] ?? 0) % 94);
  return b;
}

export interface Greeting {
  readonly serverVersion: string;
  readonly connectionId: number;
  readonly scramble: Buffer;
  readonly capabilities: number;
  readonly charset: number;
}

/** Protocol::HandshakeV10, the server's first packet. */
export function greetingPacket(g: Greeting): Buffer {
  return new PayloadWriter()
    .u8(10)
    .nulString(g.serverVersion)
    .u32(g.connectionId)
    .bytes(g.scramble.subarray(0, 8))
    .u8(0)
    .u16(g.capabilities & 0xffff)
    .u8(g.charset)
    .u16(SERVER_STATUS_AUTOCOMMIT)
    .u16(g.capabilities >>> 16)
    .u8(g.scramble.length + 1)
    .zeros(10)
    .bytes(g.scramble.subarray(8))
    .u8(0)
    .nulString(NATIVE_PASSWORD_PLUGIN)
    .build();
}

/** The client's answer to the greeting (Protocol::HandshakeResponse41), or its SSLRequest. */
export interface HandshakeResponse {
  /** the client's capabilities that the server offered too */
  readonly capabilities: number;
  readonly charset: number;
  /** only the fixed part: the client asks to switch to TLS before it says more */
  readonly sslRequest: boolean;
  readonly user: string;
  readonly authResponse: Buffer;
  readonly database: string | undefined;
  /** the plugin the client computed authResponse with; '' when it did not say */
  readonly plugin: string;
}

/** The fixed part every response starts with: capabilities, max packet size, charset, 23 reserved bytes. */
const FIXED_PART = 32;

/** Parses a handshake response; throws MalformedPacket for what no client sends. */
export function parseHandshakeResponse(payload: Buffer, serverCapabilities: number): HandshakeResponse {
  const r = new PayloadReader(payload);
  const clientCaps = r.u32();
  if ((clientCaps & CLIENT.PROTOCOL_41) === 0) throw new MalformedPacket('the client does not speak protocol 4.1');
  const caps = clientCaps & serverCapabilities;
  r.u32(); // max packet size: the server's limit is its own
  const charset = r.u8();
  r.skipBytes(23);
  const common = { capabilities: caps, charset, user: '', authResponse: Buffer.alloc(0), database: undefined, plugin: '' };
  if (payload.length === FIXED_PART) {
    if ((clientCaps & CLIENT.SSL) === 0) throw new MalformedPacket('a handshake response without a user name');
    return { ...common, sslRequest: true };
  }
  const user = r.nulString();
  let authResponse: Buffer;
  if (caps & CLIENT.PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = r.lenencBytes();
  else if (caps & CLIENT.SECURE_CONNECTION) authResponse = r.bytes(r.u8());
  else authResponse = Buffer.from(r.nulString(), 'utf8');
  const database = caps & CLIENT.CONNECT_WITH_DB && r.remaining > 0 ? r.nulString() : undefined;
  const plugin = caps & CLIENT.PLUGIN_AUTH && r.remaining > 0 ? r.nulString() : '';
  // connection attributes (program name, pid, …) follow; nothing here needs them
  return { ...common, sslRequest: false, user, authResponse, database: database || undefined, plugin };
}

/** Protocol::AuthSwitchRequest: asks a client that answered with another plugin for mysql_native_password. */
export function authSwitchPacket(scramble: Buffer): Buffer {
  return new PayloadWriter().u8(0xfe).nulString(NATIVE_PASSWORD_PLUGIN).bytes(scramble).u8(0).build();
}
