import { killConnectionAction, killQueryAction, type KillAction, type SilentNode, type SortKey, type TopCoordinator, type TopProcess } from './statements';

/** What the screen shows besides the list: the WHERE being typed, a kill to confirm, a kill's outcome. */
export type TopMode =
  | { readonly kind: 'browse' }
  | { readonly kind: 'where'; readonly text: string }
  | { readonly kind: 'confirm'; readonly action: KillAction }
  | { readonly kind: 'killing'; readonly action: KillAction }
  | { readonly kind: 'result'; readonly action: KillAction; readonly lines: readonly string[]; readonly failed: boolean };

/** What the caller must do after a key: the model itself does no I/O. */
export type TopEffect = { readonly kind: 'none' } | { readonly kind: 'quit' } | { readonly kind: 'refresh' } | { readonly kind: 'kill'; readonly action: KillAction };

const NONE: TopEffect = { kind: 'none' };
const REFRESH: TopEffect = { kind: 'refresh' };

/** One refresh's answer. */
export interface Snapshot {
  readonly processes: readonly TopProcess[];
  readonly silent: readonly SilentNode[];
  /** warnings that name no node */
  readonly warnings: readonly string[];
  /** the live coordinators; undefined when they could not be read (a coordinator without system.coordinators) */
  readonly coordinators?: readonly TopCoordinator[];
}

const keyOf = (p: TopProcess): string => `${p.nodeId}\u0000${p.queryId}`;

/**
 * The state of `quell top` without a terminal: the processes of the last refresh in the chosen
 * order, the selected one (it stays selected across refreshes while it runs), the WHERE, and
 * the dialogs. Keys come in as terminal-kit names them ('UP', 'ENTER', or the character typed).
 */
export class TopModel {
  private rows: TopProcess[] = [];
  private silentNodes: readonly SilentNode[] = [];
  private otherWarnings: readonly string[] = [];
  private coordinatorList: readonly TopCoordinator[] | undefined;
  private index = 0;
  private selectedKey: string | undefined;
  private sortKey: SortKey = 'elapsed';
  private filter: string;
  private errorLine: string | undefined;
  private notice: string | undefined;
  private screenMode: TopMode = { kind: 'browse' };
  private refreshedOnce = false;
  /** how many list lines the screen shows: page keys move by this */
  pageSize = 10;

  constructor(
    readonly cluster: string | undefined,
    where = '',
  ) {
    this.filter = where.trim();
  }

  get processes(): readonly TopProcess[] {
    return this.rows;
  }
  get silent(): readonly SilentNode[] {
    return this.silentNodes;
  }
  get warnings(): readonly string[] {
    return this.otherWarnings;
  }
  get coordinators(): readonly TopCoordinator[] | undefined {
    return this.coordinatorList;
  }
  get sort(): SortKey {
    return this.sortKey;
  }
  get where(): string {
    return this.filter;
  }
  /** the last refresh's error (a bad WHERE, an unreachable coordinator), one line */
  get error(): string | undefined {
    return this.errorLine;
  }
  /** a passing remark on the last key (why `K` did nothing) */
  get message(): string | undefined {
    return this.notice;
  }
  get mode(): TopMode {
    return this.screenMode;
  }
  get loaded(): boolean {
    return this.refreshedOnce;
  }
  get selectedIndex(): number {
    return this.rows.length === 0 ? -1 : this.index;
  }
  get selected(): TopProcess | undefined {
    return this.rows[this.index];
  }

  refreshed(s: Snapshot): void {
    this.refreshedOnce = true;
    this.errorLine = undefined;
    this.silentNodes = s.silent;
    this.otherWarnings = s.warnings;
    this.coordinatorList = s.coordinators;
    this.rows = sortProcesses(s.processes, this.sortKey);
    this.reselect();
  }

  /** The refresh failed as a whole: its rows would be of another filter or another moment, so none are shown. */
  refreshFailed(message: string): void {
    this.refreshedOnce = true;
    this.errorLine = message;
    this.rows = [];
    this.silentNodes = [];
    this.otherWarnings = [];
    this.reselect();
  }

  killDone(action: KillAction, lines: readonly string[], failed: boolean): void {
    this.screenMode = { kind: 'result', action, lines, failed };
  }

  key(name: string): TopEffect {
    this.notice = undefined;
    if (name === 'CTRL_C') return { kind: 'quit' };
    const mode = this.screenMode;
    switch (mode.kind) {
      case 'browse':
        return this.browseKey(name);
      case 'where':
        return this.whereKey(mode.text, name);
      case 'confirm':
        if (name === 'y' || name === 'Y' || name === 'ENTER') {
          this.screenMode = { kind: 'killing', action: mode.action };
          return { kind: 'kill', action: mode.action };
        }
        if (name === 'n' || name === 'N' || name === 'ESCAPE' || name === 'q') this.screenMode = { kind: 'browse' };
        return NONE;
      case 'killing':
        // the kill's answer is awaited; nothing else is taken meanwhile
        return NONE;
      case 'result':
        this.screenMode = { kind: 'browse' };
        return REFRESH;
    }
  }

  private browseKey(name: string): TopEffect {
    switch (name) {
      case 'q':
      case 'Q':
        return { kind: 'quit' };
      case 'UP':
        return this.move(-1);
      case 'DOWN':
        return this.move(1);
      case 'PAGE_UP':
        return this.move(-this.pageSize);
      case 'PAGE_DOWN':
        return this.move(this.pageSize);
      case 'HOME':
        return this.move(-Infinity);
      case 'END':
        return this.move(Infinity);
      case 'e':
      case 'm':
        return this.sortBy(name === 'e' ? 'elapsed' : 'memory');
      case '/':
      case 'w':
        this.screenMode = { kind: 'where', text: this.filter };
        return NONE;
      case 'k':
        return this.confirm((p) => killQueryAction(p, this.cluster));
      case 'K':
        return this.confirm((p) => {
          const action = killConnectionAction(p);
          if (!action) this.notice = `query ${p.queryId} on ${p.nodeId} runs on no connection (thread_id 0): nothing for K to kill`;
          return action;
        });
      case 'r':
      case ' ':
        return REFRESH;
      default:
        return NONE;
    }
  }

  private whereKey(text: string, name: string): TopEffect {
    switch (name) {
      case 'ENTER':
        this.filter = text.trim();
        this.screenMode = { kind: 'browse' };
        return REFRESH;
      case 'ESCAPE':
        this.screenMode = { kind: 'browse' };
        return NONE;
      case 'BACKSPACE':
        this.screenMode = { kind: 'where', text: [...text].slice(0, -1).join('') };
        return NONE;
      case 'CTRL_U':
        this.screenMode = { kind: 'where', text: '' };
        return NONE;
      default:
        // terminal-kit names a typed character by itself; named keys (TAB, UP, …) are longer
        if ([...name].length === 1) this.screenMode = { kind: 'where', text: text + name };
        return NONE;
    }
  }

  private confirm(make: (p: TopProcess) => KillAction | undefined): TopEffect {
    const p = this.selected;
    if (!p) {
      this.notice = 'no process selected';
      return NONE;
    }
    const action = make(p);
    if (action) this.screenMode = { kind: 'confirm', action };
    return NONE;
  }

  private move(by: number): TopEffect {
    if (this.rows.length === 0) return NONE;
    this.index = Math.min(this.rows.length - 1, Math.max(0, this.index + by));
    this.selectedKey = keyOf(this.rows[this.index] as TopProcess);
    return NONE;
  }

  private sortBy(key: SortKey): TopEffect {
    if (key === this.sortKey) return NONE;
    this.sortKey = key;
    this.rows = sortProcesses(this.rows, key);
    this.reselect();
    // the refresh fetches the top of this order, which may hold other processes
    return REFRESH;
  }

  /** Keeps the selected process selected where it moved; when it is gone, the same line. */
  private reselect(): void {
    if (this.rows.length === 0) {
      this.index = 0;
      return;
    }
    const found = this.selectedKey === undefined ? -1 : this.rows.findIndex((p) => keyOf(p) === this.selectedKey);
    this.index = found >= 0 ? found : Math.min(this.index, this.rows.length - 1);
    this.selectedKey = keyOf(this.rows[this.index] as TopProcess);
  }
}

/** Largest first; ties in node and query id order, so lines do not swap places between refreshes. */
export function sortProcesses(rows: readonly TopProcess[], key: SortKey): TopProcess[] {
  return [...rows].sort((a, b) => b[key] - a[key] || a.nodeId.localeCompare(b.nodeId) || a.queryId.localeCompare(b.queryId));
}
