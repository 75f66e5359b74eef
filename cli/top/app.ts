import type { ExecuteOptions, QueryResult } from '../../client/coordinator-client';
import { QuellError, renderError } from '../../errors/quell-error';
import { errorText } from '../../errors/error-text';
import { layout, type ScreenLine } from './layout';
import type { TopEffect, TopModel } from './model';
import { COORDINATORS_QUERY, processesQuery, silentNodes, toCoordinators, toProcesses, type KillAction } from './statements';
import { killResultLines } from './kill-result';

/** How often the list is read again, from the start of one refresh to the start of the next. */
export const REFRESH_MS = 1_000;

/** What the app needs of a terminal: TopScreen, or a fake in tests. */
export interface Screen {
  readonly width: number;
  readonly height: number;
  start(onKey: (name: string) => void, onResize: () => void): void;
  draw(lines: readonly ScreenLine[]): void;
  stop(): Promise<void>;
}

/** What the app needs of the coordinator: QuellClient. */
export interface Coordinator {
  query(sql: string, options?: ExecuteOptions): Promise<QueryResult>;
}

/** A failed statement as one line: the coordinator's own error text when it gave one. */
function failureLine(err: unknown): string {
  return err instanceof QuellError ? renderError(err) : errorText(err);
}

/**
 * Runs `quell top`: reads the processes every REFRESH_MS (one read at a time; a read whose
 * filter or order changed while it ran is dropped and read again at once), hands keys to the
 * model and carries out what it asks, and redraws after each change.
 */
export class TopApp {
  private timer: NodeJS.Timeout | undefined;
  /** redraws each second (the clock) also while a read waits on a slow node */
  private ticker: NodeJS.Timeout | undefined;
  private reading: AbortController | undefined;
  private again = false;
  private quitting = false;
  private finished!: (code: number) => void;
  private readonly done = new Promise<number>((resolve) => (this.finished = resolve));

  constructor(
    private readonly coordinator: Coordinator,
    private readonly model: TopModel,
    private readonly screen: Screen,
  ) {}

  /** Resolves with the exit status once the user quits (or quit() is called). */
  run(): Promise<number> {
    this.screen.start(
      (name) => this.onKey(name),
      () => this.draw(),
    );
    this.draw();
    this.refresh();
    this.ticker = setInterval(() => this.draw(), REFRESH_MS);
    return this.done;
  }

  async quit(code = 0): Promise<void> {
    if (this.quitting) return;
    this.quitting = true;
    clearTimeout(this.timer);
    clearInterval(this.ticker);
    this.reading?.abort();
    try {
      await this.screen.stop();
    } finally {
      this.finished(code);
    }
  }

  private draw(): void {
    if (!this.quitting) this.screen.draw(layout(this.model, this.screen.width, this.screen.height, new Date()));
  }

  private onKey(name: string): void {
    this.apply(this.model.key(name));
    this.draw();
  }

  private apply(effect: TopEffect): void {
    switch (effect.kind) {
      case 'quit':
        void this.quit(0);
        return;
      case 'refresh':
        this.refresh();
        return;
      case 'kill':
        void this.kill(effect.action);
        return;
      case 'none':
        return;
    }
  }

  /** Reads now, or right after the read under way. */
  private refresh(): void {
    if (this.quitting) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    void this.read();
  }

  private async read(): Promise<void> {
    const started = Date.now();
    const sql = processesQuery(this.model.cluster, this.model.where, this.model.sort);
    const reading = new AbortController();
    this.reading = reading;
    try {
      // the coordinators line is extra: a coordinator that cannot list them leaves it out
      const [r, coordinators] = await Promise.all([
        this.coordinator.query(sql, { signal: reading.signal }),
        this.coordinator.query(COORDINATORS_QUERY, { signal: reading.signal }).then((c) => toCoordinators(c.rows), () => undefined),
      ]);
      const { silent, other } = silentNodes(r.warnings);
      if (sql === processesQuery(this.model.cluster, this.model.where, this.model.sort)) this.model.refreshed({ processes: toProcesses(r.rows), silent, warnings: other, coordinators });
      else this.again = true;
    } catch (err) {
      if (this.quitting) return;
      this.model.refreshFailed(failureLine(err));
    } finally {
      this.reading = undefined;
    }
    if (this.quitting) return;
    this.draw();
    const wait = this.again ? 0 : Math.max(0, REFRESH_MS - (Date.now() - started));
    this.again = false;
    this.timer = setTimeout(() => this.refresh(), wait);
  }

  private async kill(action: KillAction): Promise<void> {
    let lines: string[];
    let failed = false;
    try {
      const r = await this.coordinator.query(action.statement, { dialect: action.dialect });
      lines = killResultLines(action, r);
    } catch (err) {
      lines = [failureLine(err)];
      failed = true;
    }
    if (this.quitting) return;
    this.model.killDone(action, lines, failed);
    this.draw();
  }
}
