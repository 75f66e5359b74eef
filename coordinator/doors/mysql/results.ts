import { renderError, type Dialect, type QuellError } from '../../../errors/quell-error';
import { textCell } from '../../../sql/formats';
import type { Column, ColumnType, SqlValue } from '../../../sql/types';
import { CHARSET_BINARY, CHARSET_UTF8MB4, FLAG, NOT_FIXED_DEC, PayloadWriter, SERVER_STATUS_AUTOCOMMIT, TYPE } from './protocol';

/** An error as an ERR packet carries it. */
export interface WireError {
  readonly code: number;
  readonly sqlstate: string;
  readonly message: string;
}

/** MariaDB's own errors of the protocol layer (sql/share/errmsg-utf8.txt). */
function withReason(message: string, reason: string): string {
  return reason ? `${message}: ${reason}` : message;
}

export const MARIADB_ERRORS = {
  accessDenied: (user: string, host: string, usingPassword: boolean, why = ''): WireError => ({
    code: 1045,
    sqlstate: '28000',
    message: `Access denied for user '${user}'@'${host}' (using password: ${usingPassword ? 'YES' : 'NO'})${why}`,
  }),
  badHandshake: (): WireError => ({ code: 1043, sqlstate: '08S01', message: 'Bad handshake' }),
  unknownCommand: (): WireError => ({ code: 1047, sqlstate: '08S01', message: 'Unknown command' }),
  packetTooLarge: (): WireError => ({ code: 1153, sqlstate: '08S01', message: "Got a packet bigger than 'max_allowed_packet' bytes" }),
  outOfOrder: (): WireError => ({ code: 1156, sqlstate: '08S01', message: 'Got packets out of order' }),
  tooManyUserConnections: (user: string): WireError => ({ code: 1203, sqlstate: '42000', message: `User ${user} already has more than 'max_user_connections' active connections` }),
  queryEmpty: (): WireError => ({ code: 1065, sqlstate: '42000', message: 'Query was empty' }),
  noDatabase: (): WireError => ({ code: 1046, sqlstate: '3D000', message: 'No database selected' }),
  unknownDatabase: (db: string): WireError => ({ code: 1049, sqlstate: '42000', message: `Unknown database '${db}'` }),
  unknownVariable: (name: string): WireError => ({ code: 1193, sqlstate: 'HY000', message: `Unknown system variable '${name}'` }),
  // a KILL with a kill_reason: MariaDB's words, then the killer's reason
  interrupted: (reason = ''): WireError => ({ code: 1317, sqlstate: '70100', message: withReason('Query execution was interrupted', reason) }),
  connectionKilled: (reason = ''): WireError => ({ code: 1927, sqlstate: '70100', message: withReason('Connection was killed', reason) }),
  serverShutdown: (): WireError => ({ code: 1053, sqlstate: '08S01', message: 'Server shutdown in progress' }),
  unsupportedPrepared: (): WireError => ({ code: 1295, sqlstate: 'HY000', message: 'This command is not supported in the prepared statement protocol yet' }),
};

/**
 * A statement's error as the client sees it. MariaDB-form errors keep their number, SQLSTATE and
 * words (`ERROR 1094 (HY000): Unknown thread id: 9999`); ClickHouse-form errors travel as
 * ClickHouse's own MySQL interface sends them: its code as the error number and its text
 * (`ERROR 62 (HY000): Code: 62. SYNTAX_ERROR: …`).
 */
export function wireError(e: QuellError): WireError {
  if (e.dialect === 'mariadb') return { code: e.code, sqlstate: e.errorName, message: e.message };
  return { code: e.code, sqlstate: 'HY000', message: renderError(e) };
}

export function errPacket(e: WireError): Buffer {
  const sqlstate = (e.sqlstate + 'HY000').slice(0, 5);
  return new PayloadWriter().u8(0xff).u16(e.code).bytes(Buffer.from(`#${sqlstate}`, 'latin1')).bytes(Buffer.from(e.message, 'utf8')).build();
}

export function okPacket(affectedRows = 0, warnings = 0): Buffer {
  return new PayloadWriter().u8(0x00).lenenc(affectedRows).lenenc(0).u16(SERVER_STATUS_AUTOCOMMIT).u16(Math.min(warnings, 0xffff)).build();
}

export function eofPacket(warnings = 0): Buffer {
  return new PayloadWriter().u8(0xfe).u16(Math.min(warnings, 0xffff)).u16(SERVER_STATUS_AUTOCOMMIT).build();
}

interface WireType {
  readonly type: number;
  readonly length: number;
  readonly charset: number;
  readonly flags: number;
  readonly decimals: number;
}

/** quell's column types as MariaDB declares the like (SHOW PROCESSLIST's Progress: DOUBLE with 3 decimals). */
function wireType(t: ColumnType, dialect: Dialect): WireType {
  const number = (type: number, length: number, unsigned: boolean): WireType => ({ type, length, charset: CHARSET_BINARY, flags: FLAG.BINARY | (unsigned ? FLAG.UNSIGNED : 0), decimals: 0 });
  switch (t) {
    case 'UInt8':
      return number(TYPE.TINY, 3, true);
    case 'UInt16':
      return number(TYPE.SHORT, 5, true);
    case 'UInt32':
      return number(TYPE.LONG, 10, true);
    case 'UInt64':
      return number(TYPE.LONGLONG, 20, true);
    case 'Int64':
      return number(TYPE.LONGLONG, 20, false);
    case 'Float64':
      return { type: TYPE.DOUBLE, length: 22, charset: CHARSET_BINARY, flags: FLAG.BINARY, decimals: dialect === 'mariadb' ? 3 : NOT_FIXED_DEC };
    case 'DateTime':
      return { type: TYPE.DATETIME, length: 19, charset: CHARSET_BINARY, flags: FLAG.BINARY, decimals: 0 };
    case 'Nullable(Nothing)':
      return { type: TYPE.NULL, length: 0, charset: CHARSET_BINARY, flags: FLAG.BINARY, decimals: 0 };
    case 'String':
      return { type: TYPE.VAR_STRING, length: 65535, charset: CHARSET_UTF8MB4, flags: 0, decimals: NOT_FIXED_DEC };
  }
}

/** Protocol::ColumnDefinition41 of a computed column (no table behind it). */
export function columnDefinitionPacket(c: Column, dialect: Dialect): Buffer {
  const w = wireType(c.type, dialect);
  return new PayloadWriter()
    .lenencString('def')
    .lenencString('')
    .lenencString('')
    .lenencString('')
    .lenencString(c.name)
    .lenencString(c.name)
    .lenenc(0x0c)
    .u16(w.charset)
    .u32(w.length)
    .u8(w.type)
    .u16(w.flags)
    .u8(w.decimals)
    .zeros(2)
    .build();
}

export function columnCountPacket(n: number): Buffer {
  return new PayloadWriter().lenenc(n).build();
}

/** A cell's text: ClickHouse's plain text, except MariaDB-form decimals with 3 places as MariaDB prints Progress. */
function cellText(v: string | number, c: Column, dialect: Dialect): string {
  if (typeof v === 'number' && c.type === 'Float64' && dialect === 'mariadb') return v.toFixed(3);
  return textCell(v, c.type);
}

/** Protocol::ResultsetRow in the text protocol: each cell a length-encoded string, NULL as 0xfb. */
export function textRowPacket(row: readonly SqlValue[], columns: readonly Column[], dialect: Dialect): Buffer {
  const w = new PayloadWriter();
  columns.forEach((c, i) => {
    const v = row[i] ?? null;
    if (v === null) w.u8(0xfb);
    else w.lenencString(cellText(v, c, dialect));
  });
  return w.build();
}

/** A whole small result set: column count, definitions, EOF, rows, EOF. */
export function resultSetPackets(columns: readonly Column[], rows: readonly (readonly SqlValue[])[], dialect: Dialect, warnings = 0): Buffer[] {
  return [
    columnCountPacket(columns.length),
    ...columns.map((c) => columnDefinitionPacket(c, dialect)),
    eofPacket(),
    ...rows.map((r) => textRowPacket(r, columns, dialect)),
    eofPacket(warnings),
  ];
}
