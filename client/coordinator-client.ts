import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, quellProto } from '../proto/load';
import { decodeColumns, decodeRow } from '../proto/codec';
import type { CoordinatorClient } from '../proto/generated/quell/v1/Coordinator';
import type { ExecuteResponse__Output } from '../proto/generated/quell/v1/ExecuteResponse';
import { AsyncQueue } from '../common/async-queue';
import { remoteQuellError, transportReason } from '../common/rpc-status';
import { chError, QuellError, type Dialect } from '../errors/quell-error';
import { TransportSecurity, type TlsOptions } from '../common/tls';
import type { Column, SqlValue } from '../sql/types';

export type ResultEvent =
  | { readonly kind: 'header'; readonly columns: Column[]; readonly format: string | undefined; readonly dialect: Dialect; readonly statementId: string }
  | { readonly kind: 'rows'; readonly rows: SqlValue[][] }
  | { readonly kind: 'end'; readonly rows: number; readonly elapsedSeconds: number; readonly affectedRows: number; readonly warnings: string[] };

export interface ExecuteOptions {
  readonly statementId?: string;
  readonly signal?: AbortSignal;
  /** decides a bare SHOW PROCESSLIST: ClickHouse's processes or MariaDB's connections */
  readonly dialect?: Dialect;
}

export interface QueryResult {
  readonly columns: Column[];
  readonly rows: SqlValue[][];
  readonly format: string | undefined;
  readonly elapsedSeconds: number;
  readonly affectedRows: number;
  readonly warnings: string[];
}

export interface ClientOptions {
  readonly user?: string;
  readonly password?: string;
  /**
   * TLS to the coordinator: `ca` verifies it; `cert`/`key` (a `spiffe://quell/user/<name>`
   * certificate) log in without a password. Plaintext needs `insecure: true` and a loopback address.
   */
  readonly tls?: TlsOptions;
}

/** A client of the coordinator's Execute API; statement failures arrive as QuellError. */
export class QuellClient {
  private readonly client: CoordinatorClient;
  private readonly security: TransportSecurity;

  constructor(
    readonly address: string,
    private readonly opts: ClientOptions = {},
  ) {
    const Ctor = quellProto().coordinator.quell.v1.Coordinator;
    this.security = TransportSecurity.from(opts.tls ?? {});
    this.client = new Ctor(address, this.security.channelCredentials(address, 'coordinator'), {
      ...CHANNEL_OPTIONS,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      'grpc.max_receive_message_length': -1,
    });
  }

  /** Streams a statement's result: header, row batches as they arrive, end. */
  execute(sql: string, options: ExecuteOptions = {}): AsyncIterable<ResultEvent> {
    const queue = new AsyncQueue<ResultEvent | QuellError>();
    const call = this.client.Execute({
      sql,
      user: this.opts.user ?? 'default',
      password: this.opts.password ?? '',
      statement_id: options.statementId ?? '',
      dialect: options.dialect === 'mariadb' ? 'DIALECT_MARIADB' : 'DIALECT_CLICKHOUSE',
    });
    options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    call.on('data', (msg: ExecuteResponse__Output) => {
      const ev = toEvent(msg);
      if (ev) queue.push(ev);
    });
    call.on('end', () => queue.close());
    call.on('error', (err: grpc.ServiceError) => {
      queue.push(transportError(err, this.address));
      queue.close();
    });
    return (async function* () {
      for await (const item of queue) {
        if (item instanceof QuellError) throw item;
        yield item;
      }
    })();
  }

  /** Runs a statement and gathers its rows. */
  async query(sql: string, options: ExecuteOptions = {}): Promise<QueryResult> {
    let columns: Column[] = [];
    let format: string | undefined;
    const rows: SqlValue[][] = [];
    for await (const ev of this.execute(sql, options)) {
      if (ev.kind === 'header') {
        columns = ev.columns;
        format = ev.format;
      } else if (ev.kind === 'rows') rows.push(...ev.rows);
      else return { columns, rows, format, elapsedSeconds: ev.elapsedSeconds, affectedRows: ev.affectedRows, warnings: ev.warnings };
    }
    throw chError('NETWORK_ERROR', `coordinator at ${this.address} ended the stream without a result`);
  }

  close(): void {
    this.client.close();
    this.security.close();
  }
}

function toEvent(msg: ExecuteResponse__Output): ResultEvent | QuellError | undefined {
  if (msg.header) {
    return {
      kind: 'header',
      columns: decodeColumns(msg.header.columns),
      format: msg.header.format || undefined,
      dialect: msg.header.dialect === 'DIALECT_MARIADB' ? 'mariadb' : 'clickhouse',
      statementId: msg.header.statement_id,
    };
  }
  if (msg.rows) return { kind: 'rows', rows: msg.rows.rows.map(decodeRow) };
  if (msg.end) {
    const e = msg.end.error;
    if (e) return new QuellError(e.code, e.name, e.message, e.dialect === 'DIALECT_MARIADB' ? 'mariadb' : 'clickhouse');
    return {
      kind: 'end',
      rows: Number(msg.end.rows),
      elapsedSeconds: msg.end.elapsed_seconds,
      affectedRows: Number(msg.end.affected_rows),
      warnings: msg.end.warnings,
    };
  }
  return undefined;
}

function transportError(err: grpc.ServiceError, address: string): QuellError {
  const remote = remoteQuellError(err);
  if (remote) return remote;
  if (err.code === grpc.status.UNAVAILABLE) return chError('NETWORK_ERROR', `cannot reach the coordinator at ${address}: ${transportReason(err.details)}`, true);
  if (err.code === grpc.status.CANCELLED) return chError('QUERY_WAS_CANCELLED', 'statement cancelled');
  if (err.code === grpc.status.RESOURCE_EXHAUSTED) return chError('SYNTAX_ERROR', `Max query size exceeded: ${err.details}`);
  return chError('NETWORK_ERROR', `coordinator at ${address} failed the call: ${err.details}`, true);
}
