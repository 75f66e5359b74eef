import { QuellError } from '../errors/quell-error';
import { KEEPALIVE, type Keepalive } from '../common/grpc/keepalive';
import type { ClientOptions, ExecuteOptions, QuellClient } from './coordinator-client';
import { DirectChannel } from './direct-execute';
import type { ResultEvent } from './result-events';
import { coordinatorAddresses, DEFAULT_CONNECT_TIMEOUT_MS, executeRequest } from './statement-request';

/**
 * How long the direct connection waits for the coordinator (one that answers takes
 * milliseconds). One that gave no connection by then is left to QuellClient, which waits its
 * own timeout for it before the next address: a coordinator that swallows packets costs this
 * much more than with QuellClient alone, not a second timeout.
 */
const DIRECT_CONNECT_TIMEOUT_MS = 1_000;

/**
 * The client of `quell client -q` and of statements piped into it: a whole process per use,
 * so its start is what the operator waits for. Statements go on one HTTP/2 connection of
 * Node's own to the first coordinator (client/direct-execute.ts), and grpc-js is not loaded.
 *
 * Where a statement certainly did not start there (no connection, a refused stream, a
 * coordinator that refused it before starting), or where that way does not apply (plaintext,
 * a dns:/unix: target, certificate files it cannot use), the statement and every later one go
 * to a QuellClient over all the coordinators, which does what it always does: tries each in
 * turn, and tells why none took the statement. A statement that may have started is never
 * sent again: its failure is the result, as with QuellClient.
 */
export class DirectClient {
  private readonly addresses: string | readonly string[];
  /** null once it is not to be used (it never applied, or a statement did not start on it) */
  private direct: DirectChannel | null | undefined;
  private full: QuellClient | undefined;

  constructor(
    address: string | readonly string[],
    private readonly opts: ClientOptions = {},
    /** the direct connection's pings (tests shorten them) */
    private readonly keepalive: Keepalive = KEEPALIVE,
  ) {
    this.addresses = address;
  }

  /** Streams a statement's result, as QuellClient.execute does. */
  async *execute(sql: string, options: ExecuteOptions = {}): AsyncGenerator<ResultEvent> {
    const results = await this.directResults(sql, options);
    if (results === undefined) {
      yield* (await this.fullClient()).execute(sql, options);
      return;
    }
    for await (const item of results) {
      if (item instanceof QuellError) throw item;
      yield item;
    }
  }

  close(): void {
    this.direct?.close();
    this.full?.close();
  }

  private async directResults(sql: string, options: ExecuteOptions): Promise<AsyncIterable<ResultEvent | QuellError> | undefined> {
    if (this.direct === undefined) {
      let first: string | undefined;
      try {
        first = coordinatorAddresses(this.addresses)[0];
      } catch {
        first = undefined; // QuellClient reports it
      }
      const timeoutMs = Math.min(this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, DIRECT_CONNECT_TIMEOUT_MS);
      this.direct = (first !== undefined && DirectChannel.open(first, this.opts.tls ?? {}, timeoutMs, this.keepalive)) || null;
    }
    if (this.direct === null) return undefined;
    const attempt = await this.direct.execute(executeRequest(sql, this.opts, options), options.signal);
    if ('results' in attempt) return attempt.results;
    this.direct.close();
    this.direct = null;
    return undefined;
  }

  private async fullClient(): Promise<QuellClient> {
    this.full ??= new (await import('./coordinator-client')).QuellClient(this.addresses, this.opts);
    return this.full;
  }
}
