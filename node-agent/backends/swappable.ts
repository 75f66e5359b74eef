import type { Backend, ServerConnection, ServerMutation, ServerQuery, ToClusterId } from './backend';

/** How long a replaced backend stays open: rows listed before the swap can still be killed through it. */
export const RETIRE_AFTER_MS = 15_000;

/** The server a backend URL names: scheme, host and port. Its credentials may change on SIGHUP; the server may not. */
export function serverOf(url: URL): string {
  const scheme = url.protocol === 'mysql:' ? 'mariadb:' : url.protocol === 'postgresql:' ? 'postgres:' : url.protocol;
  return `${scheme}//${url.host}`;
}

/**
 * The agent's backend, whose credentials a SIGHUP can change (`--backend-file` read again:
 * cli/commands/agent.ts). Calls go to the backend of now; a replaced one is closed 15 s later,
 * so that a kill of a row listed before the swap (bound to the old one) within a statement's deadline still reaches the
 * server. Only credentials (user, password, database, parameters) may change: another server
 * would change what the node is, and that takes a restart.
 */
export class SwappableBackend implements Backend {
  private retiring = new Set<{ backend: Backend; timer: NodeJS.Timeout }>();
  private closed = false;

  constructor(
    private current: Backend,
    private url: URL,
    private readonly retireAfterMs = RETIRE_AFTER_MS,
  ) {}

  get kind(): Backend['kind'] {
    return this.current.kind;
  }

  get description(): string {
    return this.current.description;
  }

  /** Whether `url` is what this backend already uses (nothing to reload). */
  same(url: URL): boolean {
    return url.href === this.url.href;
  }

  /** Throws unless `url` names the same server as the running backend. */
  assertSameServer(url: URL): void {
    if (serverOf(url) !== serverOf(this.url)) {
      throw new Error(`the backend URL now names ${serverOf(url)}, not ${serverOf(this.url)}: another server takes a restart; the agent keeps ${this.current.description}`);
    }
  }

  /** Puts `next` in; the one it replaces is closed after retireAfterMs. */
  replace(next: Backend, url: URL): void {
    if (this.closed) {
      void next.close();
      return;
    }
    const old = this.current;
    this.current = next;
    this.url = url;
    const entry = {
      backend: old,
      timer: setTimeout(() => {
        this.retiring.delete(entry);
        void old.close().catch(() => undefined);
      }, this.retireAfterMs),
    };
    entry.timer.unref();
    this.retiring.add(entry);
  }

  ping(): Promise<void> {
    return this.current.ping();
  }

  queries(ids?: ToClusterId): Promise<ServerQuery[]> {
    return this.current.queries(ids);
  }

  connections(ids?: ToClusterId): Promise<ServerConnection[]> {
    return this.current.connections(ids);
  }

  mutations(): Promise<ServerMutation[]> {
    return this.current.mutations();
  }

  async close(): Promise<void> {
    this.closed = true;
    const retiring = [...this.retiring];
    this.retiring.clear();
    for (const r of retiring) clearTimeout(r.timer);
    await Promise.all([this.current, ...retiring.map((r) => r.backend)].map((b) => b.close().catch(() => undefined)));
  }
}
