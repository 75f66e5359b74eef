import { chError, type QuellError } from '../../errors/quell-error';

/** Which front door a statement came through. */
export type Door = 'grpc' | 'http' | 'mysql';

/** A statement running on this coordinator's doors: what system.sessions lists and `KILL QUERY WHERE query_id = …` reaches. */
export interface RunningStatement {
  readonly queryId: string;
  readonly user: string;
  readonly sql: string;
  readonly door: Door;
  /** the MySQL session it runs on, if any */
  readonly sessionId: number | undefined;
  /** the client's address (host:port) */
  readonly address: string;
  /** epoch ms */
  readonly startedAt: number;
  /** resolves once the statement has ended */
  readonly ended: Promise<void>;
  /** Stops it: its client gets 394 (a MySQL session's statement: 1317) with the reason. */
  kill(reason: string): void;
}

/** What a KILL by query_id asks of one coordinator's running statements. */
export interface StatementKillRequest {
  readonly queryIds: readonly string[];
  readonly user: string;
  /** the KILL QUERY grant: other users' statements too */
  readonly mayKillOthers: boolean;
  readonly reason: string;
  /** TEST: list, send nothing */
  readonly test: boolean;
  /** SYNC: wait this long at most for each to end (0: do not wait) */
  readonly waitMs: number;
  /** the killing statement: never killed by itself, as ClickHouse skips its KILL */
  readonly killerQueryId: string;
}

/** One statement a kill matched, with its kill status (common/kill-status.ts renders it), or `denied`: another user's, not killed. */
export interface StatementKillRow {
  readonly queryId: string;
  readonly user: string;
  readonly query: string;
  readonly status: 'KILL_STATUS_FINISHED' | 'KILL_STATUS_WAITING' | 'KILL_STATUS_UNKNOWN_STATUS' | 'denied';
}

/** ClickHouse's words for a cancelled query, with the killer's kill_reason when one was given. */
export function queryWasCancelled(reason: string): QuellError {
  return chError('QUERY_WAS_CANCELLED', reason ? `Query was cancelled: ${reason}` : 'Query was cancelled');
}

/**
 * How one statement is stopped by a KILL by query_id: its signal is the client's going away or
 * the kill, whichever comes first. A door with its own way (a MySQL session, which answers 1317
 * itself) is handed the reason instead.
 *
 * One controller that the client's signal aborts too, not AbortSignal.any: in Node 20 `any`
 * costs a signal, weak references and a finalizer per statement, a twentieth of the
 * coordinator's CPU on a 3-agent kill (bench profile). `dispose()` unhooks it from the client's
 * signal when the statement ends, so a signal that outlives statements holds none of them.
 */
export class KillSwitch {
  private readonly controller = new AbortController();
  readonly signal: AbortSignal = this.controller.signal;
  private why: string | undefined;
  private readonly clientGone = (): void => this.controller.abort(this.clientSignal.reason);

  constructor(
    private readonly clientSignal: AbortSignal,
    private readonly onKill?: (reason: string) => void,
  ) {
    if (clientSignal.aborted) this.controller.abort(clientSignal.reason);
    else clientSignal.addEventListener('abort', this.clientGone, { once: true });
  }

  kill(reason: string): void {
    if (this.why !== undefined) return;
    this.why = reason;
    if (this.onKill) this.onKill(reason);
    else this.controller.abort();
  }

  /** The error the statement ends with once killed (whatever it made of its abort); undefined when not killed, or its door answers itself. */
  error(): QuellError | undefined {
    return this.why !== undefined && !this.onKill ? queryWasCancelled(this.why) : undefined;
  }

  /** The statement ended: its client's signal no longer reaches it. */
  dispose(): void {
    this.clientSignal.removeEventListener('abort', this.clientGone);
  }
}

/**
 * The statements running on this coordinator by query_id. Query ids the coordinator makes are
 * unique (common/thread-id.ts makeQueryId); a client may name the same one twice, and a kill
 * then reaches both.
 */
export class RunningStatements {
  private readonly byId = new Map<string, Set<RunningStatement>>();

  add(s: RunningStatement): void {
    let set = this.byId.get(s.queryId);
    if (!set) this.byId.set(s.queryId, (set = new Set()));
    set.add(s);
  }

  remove(s: RunningStatement): void {
    const set = this.byId.get(s.queryId);
    set?.delete(s);
    if (set?.size === 0) this.byId.delete(s.queryId);
  }

  /** Every running statement, oldest first. */
  list(): RunningStatement[] {
    return [...this.byId.values()].flatMap((set) => [...set]).sort((a, b) => a.startedAt - b.startedAt);
  }

  /**
   * Kills the statements with these query ids that the user may kill (own, or any with the
   * grant); lists the others as `denied`. SYNC waits for each up to waitMs: `finished` once it
   * ended, else `waiting`.
   */
  async kill(req: StatementKillRequest): Promise<StatementKillRow[]> {
    const matched = [...new Set(req.queryIds)].flatMap((id) => [...(this.byId.get(id) ?? [])]).filter((s) => s.queryId !== req.killerQueryId);
    return Promise.all(
      matched.map(async (s): Promise<StatementKillRow> => {
        const row = { queryId: s.queryId, user: s.user, query: s.sql };
        if (s.user !== req.user && !req.mayKillOthers) return { ...row, status: 'denied' };
        if (req.test) return { ...row, status: 'KILL_STATUS_UNKNOWN_STATUS' };
        s.kill(req.reason);
        if (req.waitMs <= 0) return { ...row, status: 'KILL_STATUS_WAITING' };
        let timer: NodeJS.Timeout | undefined;
        const stopped = await Promise.race([s.ended.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), req.waitMs)))]);
        clearTimeout(timer);
        return { ...row, status: stopped ? 'KILL_STATUS_FINISHED' : 'KILL_STATUS_WAITING' };
      }),
    );
  }
}
