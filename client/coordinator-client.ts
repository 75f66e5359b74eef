import type { ExecuteRequest } from '../proto/generated/quell/v1/ExecuteRequest';
import type { ExecuteResponse__Output } from '../proto/generated/quell/v1/ExecuteResponse';
import { chError, QuellError, type Dialect } from '../errors/quell-error';
import type { TlsOptions } from '../common/tls/options';
import { KEEPALIVE, type Keepalive } from '../common/grpc/keepalive';
import type { Column, SqlValue } from '../sql/types';
import { coordinatorShuttingDown, notStartedAttempt, ResultQueue, toEvent, transportError, type Attempt, type Item, type ResultEvent } from './result-events';
import { ClientSession, UNSUPPORTED } from './statement-session';
import { TurnFlusher } from '../common/mux/turn-flusher';
import { coordinatorAddresses, DEFAULT_CONNECT_TIMEOUT_MS, executeRequest } from './statement-request';
import { ClientTls } from './transport/client-tls';
import { CoordinatorChannel } from './transport/coordinator-channel';
import type { CallError, GrpcCall } from './transport/grpc-call';
import type { H2Connection } from './transport/h2-connection';
import { EXECUTE } from './transport/coordinator-methods';

export { coordinatorAddresses } from './statement-request';

export type { ResultEvent } from './result-events';

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
  /** how long to wait for a connection to one coordinator before trying the next (default 5 s) */
  readonly connectTimeoutMs?: number;
  /**
   * Run statements on one Session stream per coordinator (default), or one Execute call each
   * (false). A coordinator without Session gets Execute calls either way.
   */
  readonly session?: boolean;
}



/**
 * A client of the coordinator's Execute API; statement failures arrive as QuellError. Given
 * several coordinators, a statement goes to the one that last worked, and moves on to the next
 * only when it certainly did not start where it was sent (no connection, a refused stream, or
 * a coordinator that refused it before starting). A statement that may have started is never
 * sent again: its failure is the result.
 *
 * It speaks gRPC over Node's own HTTP/2 (client/transport/): the one client transport, which
 * `quell client` uses as well, so that a one-shot command does not load a gRPC library.
 */
export class QuellClient {
  private readonly tls: ClientTls;
  /** every coordinator, in the order tried */
  readonly addresses: readonly string[];
  private readonly channels = new Map<string, CoordinatorChannel>();
  /** each coordinator's Session stream, or UNSUPPORTED where it has none */
  private readonly sessions = new Map<string, ClientSession | typeof UNSUPPORTED>();
  /** one immediate per turn sends what every session gathered */
  private readonly flusher = new TurnFlusher();
  private preferred = 0;

  constructor(
    address: string | readonly string[],
    private readonly opts: ClientOptions = {},
    /** the connections' pings (tests shorten them) */
    private readonly keepalive: Keepalive = KEEPALIVE,
  ) {
    this.addresses = coordinatorAddresses(address);
    this.tls = ClientTls.from(opts.tls ?? {});
    // an address that cannot be dialled (not host:port, plaintext where it is not allowed) fails here, before any statement
    for (const a of this.addresses) this.channels.set(a, new CoordinatorChannel(a, this.tls, this.keepalive));
  }

  /** The coordinator the next statement goes to first: the last one that took a statement. */
  get address(): string {
    return this.addresses[this.preferred] as string;
  }

  /** Streams a statement's result: header, row batches as they arrive, end. The statement is sent at once. */
  execute(sql: string, options: ExecuteOptions = {}): AsyncIterable<ResultEvent> {
    const req = executeRequest(sql, this.opts, options);
    const started = this.send(req, options.signal);
    // the iteration reports a failure; until it runs, the promise must not count as unhandled
    started.catch(() => undefined);
    return (async function* () {
      for await (const item of await started) {
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
    for (const session of this.sessions.values()) if (session !== UNSUPPORTED) session.close();
    this.sessions.clear();
    for (const channel of this.channels.values()) channel.close();
    this.tls.close();
  }

  /** Tries the coordinators in turn until one takes the statement; its result stream. */
  private async send(req: ExecuteRequest, signal: AbortSignal | undefined): Promise<AsyncIterable<Item>> {
    const timeoutMs = this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const missed: string[] = [];
    for (let k = 0; k < this.addresses.length; k++) {
      const i = (this.preferred + k) % this.addresses.length;
      const address = this.addresses[i] as string;
      const connection = await (this.channels.get(address) as CoordinatorChannel).connect(timeoutMs);
      if (signal?.aborted) throw chError('QUERY_WAS_CANCELLED', 'statement cancelled');
      if ('missed' in connection) {
        missed.push(`${address}: ${connection.missed}`);
        continue;
      }
      const attempt = await this.attempt(connection, address, req, signal);
      if ('refused' in attempt) {
        // with one coordinator, its own refusal is the clearest answer
        if (this.addresses.length === 1 && attempt.refused) throw attempt.refused;
        missed.push(`${address}: ${attempt.reason}`);
        continue;
      }
      this.preferred = i;
      return attempt.results;
    }
    if (missed.length === 1) throw chError('NETWORK_ERROR', `cannot reach the coordinator at ${missed[0]}`, true);
    throw chError('ALL_CONNECTION_TRIES_FAILED', `All connection tries failed: ${missed.join('; ')}`, true);
  }

  /** One try at one coordinator: on its Session stream where it has one, else an Execute call. */
  private async attempt(connection: H2Connection, address: string, req: ExecuteRequest, signal: AbortSignal | undefined): Promise<Attempt> {
    let session = this.sessions.get(address);
    if (session === undefined && this.opts.session !== false) {
      session = new ClientSession(address, this.flusher);
      this.sessions.set(address, session);
    }
    if (session !== undefined && session !== UNSUPPORTED) {
      const attempt = await session.start(connection, req, signal);
      if (attempt !== UNSUPPORTED) return attempt;
      this.sessions.set(address, UNSUPPORTED);
    }
    return sendTo(connection, address, req, signal);
  }
}

function sendTo(connection: H2Connection, address: string, req: ExecuteRequest, signal: AbortSignal | undefined): Promise<Attempt> {
  let call: GrpcCall<ExecuteRequest, ExecuteResponse__Output>;
  try {
    call = connection.call(EXECUTE);
  } catch {
    // the coordinator sent GOAWAY (it is draining): no new stream, and its answer is its refusal
    const refused = coordinatorShuttingDown(address);
    return Promise.resolve({ reason: refused.message, refused });
  }
  return new Promise((resolve) => {
    const queue = new ResultQueue(call);
    let settled = false;
    let received = false;
    const started = (): void => {
      if (settled) return;
      settled = true;
      resolve({ results: queue.results });
    };
    const cancel = (): void => call.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    const finish = (): void => {
      signal?.removeEventListener('abort', cancel);
      queue.close();
      started();
    };
    call.on('data', (msg: ExecuteResponse__Output) => {
      received = true;
      queue.push(toEvent(msg));
      started();
    });
    call.on('end', finish);
    call.on('error', (err: CallError) => {
      if (!received && !settled && err.notStarted) {
        signal?.removeEventListener('abort', cancel);
        settled = true;
        resolve(notStartedAttempt(err.status));
        return;
      }
      queue.fail(transportError(err.status, address));
      finish();
    });
    call.end(req);
  });
}
