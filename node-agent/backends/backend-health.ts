import type { Logger } from '../../common/daemon/logger';
import { Sleeper } from '../../common/etcd/backoff';
import { errorText } from '../../errors/error-text';
import type { Backend } from './backend';

/** How often an agent asks its backend server `SELECT 1`. */
export const BACKEND_CHECK_MS = 2_000;

/**
 * Whether the server an agent fronts (`--backend`) answers: `SELECT 1` at start and every
 * BACKEND_CHECK_MS, on the backend's own pool (which reconnects by itself). One log line per
 * change: down with why, up again. It decides nothing about kills (each statement reads the
 * server afresh); it is what `quell_backend_up` and the `quell.backend` health service show.
 */
export class BackendHealth {
  private current = false;
  private checked = false;
  private closed = false;
  private readonly sleeper = new Sleeper();
  private readonly listeners = new Set<(up: boolean) => void>();

  constructor(
    private readonly backend: Backend,
    private readonly log: Logger,
    private readonly intervalMs = BACKEND_CHECK_MS,
  ) {}

  /** false until the first check answered */
  get up(): boolean {
    return this.current;
  }

  onChange(listener: (up: boolean) => void): void {
    this.listeners.add(listener);
  }

  /** The first check now, then one every interval until close(). */
  start(): void {
    void (async () => {
      do await this.check();
      while (await this.sleeper.sleep(this.intervalMs));
    })();
  }

  /** One check; listeners hear a change. */
  async check(): Promise<void> {
    let up = true;
    let why = '';
    try {
      await this.backend.ping();
    } catch (err) {
      up = false;
      why = errorText(err);
    }
    if (this.closed || (this.checked && up === this.current)) return;
    const first = !this.checked;
    this.checked = true;
    this.current = up;
    if (!up) this.log.warn({ backend: this.backend.description, err: why }, `backend server does not answer${first ? ' yet' : ''}; statements will show node_error until it does`);
    else if (!first) this.log.info({ backend: this.backend.description }, 'backend server answers again');
    for (const l of this.listeners) l(up);
  }

  close(): void {
    this.closed = true;
    this.sleeper.close();
  }
}
