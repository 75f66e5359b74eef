import type { CancelReason, SessionChannel } from './session-channel';

export interface ConnectionOpening {
  readonly user: string;
  /** the client's host as MariaDB shows it; 'localhost' when omitted */
  readonly host?: string;
  /** the selected database; none (DB NULL) when omitted */
  readonly db?: string;
}

/** What a connection is doing; state() merges a partial report into the last one. */
export interface ConnectionStateReport {
  /** the running statement's text; '' when idle. A different non-empty text is a new statement. */
  readonly info?: string;
  /** MariaDB STATE text, e.g. 'User sleep' */
  readonly state?: string;
  readonly in_transaction?: boolean;
  /** inside a section a SOFT kill must not interrupt: soft kills wait until it is reported over */
  readonly critical?: boolean;
  readonly examined_rows?: number;
  readonly memory_used?: number;
}

/** A MariaDB KILL that reached a connection: the reason of the signals it aborts. */
export interface ConnectionKill extends CancelReason {
  readonly kind: 'cancel';
  /** KILL QUERY: interrupt the running statement (client error 1317), keep the connection and its transaction */
  readonly queryOnly: boolean;
  /** the statement's QUERY_ID (0 for a connection kill of an idle connection) */
  readonly queryId: number;
}

/**
 * A client connection opened with the agent, which named it: threadId is cluster-wide (MariaDB's
 * processlist ID). Report what it does with state(); kills arrive as aborted signals:
 * - `signal` aborts when the connection is killed (the client gets 1927 and its transaction
 *   is rolled back; acknowledge with close()) or when the agent's stream drops;
 * - `statementSignal` is the running statement's, aborted by a KILL QUERY of that statement
 *   (1317; the transaction stays open) or with `signal`.
 * A KILL QUERY for a statement that already ended is dropped: it never hits the next one. A SOFT
 * kill that arrives while the connection reports `critical` aborts when it reports leaving the
 * section; a HARD kill aborts at once. onKill() listeners hear every kill when it arrives.
 */
export class RunningConnection {
  private readonly controller = new AbortController();
  private statement: { controller: AbortController; seq: number; queryId: number | undefined } | undefined;
  private namedWaiters: Array<() => void> = [];
  /** statements started, and statements the agent has named (QueryStarted): the nth name is the nth statement's */
  private started = 0;
  private named = 0;
  private report: Required<ConnectionStateReport> = { info: '', state: '', in_transaction: false, critical: false, examined_rows: 0, memory_used: 0 };
  private readonly deferred: ConnectionKill[] = [];
  private readonly listeners = new Set<(kill: ConnectionKill) => void>();
  private closed = false;

  constructor(
    readonly threadId: number,
    private readonly session: SessionChannel,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The running statement's signal; undefined while idle. */
  get statementSignal(): AbortSignal | undefined {
    return this.statement?.controller.signal;
  }

  /** The running statement's QUERY_ID once the agent has named it. */
  get queryId(): number | undefined {
    return this.statement?.queryId;
  }

  /** false once closed (or its stream dropped): reports are no longer sent */
  get open(): boolean {
    return !this.closed;
  }

  /** The last report, merged. */
  get current(): Readonly<Required<ConnectionStateReport>> {
    return this.report;
  }

  /** Calls the listener for each kill when it arrives (before any deferral); returns an unsubscribe. */
  onKill(listener: (kill: ConnectionKill) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reports a change: a statement started (info set) or ended (info ''), the transaction, the critical section, counters. */
  state(partial: ConnectionStateReport): void {
    if (this.closed) return;
    const before = this.report;
    const next: Required<ConnectionStateReport> = {
      info: partial.info ?? before.info,
      state: partial.state ?? before.state,
      in_transaction: partial.in_transaction ?? before.in_transaction,
      critical: partial.critical ?? before.critical,
      examined_rows: partial.examined_rows ?? before.examined_rows,
      memory_used: partial.memory_used ?? before.memory_used,
    };
    this.report = next;
    // the agent's rule (ConnectionTable.update): a non-empty text that differs starts a statement
    if (next.info !== '' && next.info !== before.info) {
      this.statement = { controller: new AbortController(), seq: ++this.started, queryId: undefined };
    } else if (next.info === '') {
      this.statement = undefined;
    }
    this.session.send({
      connection_state: {
        thread_id: String(this.threadId),
        info: next.info,
        state: next.state,
        in_transaction: next.in_transaction,
        critical: next.critical,
        examined_rows: String(Math.max(0, Math.trunc(next.examined_rows))),
        memory_used: String(Math.max(0, Math.trunc(next.memory_used))),
      },
    });
    if (before.critical && !next.critical) for (const kill of this.deferred.splice(0)) this.apply(kill);
  }

  /** Ends the connection: a normal disconnect, or the acknowledgement of a connection kill. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.namedWaiters.splice(0)) wake();
    this.session.send({ close_connection: { thread_id: String(this.threadId) } });
    this.session.forgetConnection(this.threadId);
  }

  /** @internal the agent named a statement: the one started as many statements ago (both sides apply the same rule) */
  statementStarted(queryId: number): void {
    if (this.statement?.seq === ++this.named) {
      this.statement.queryId = queryId;
      for (const wake of this.namedWaiters.splice(0)) wake();
    }
  }

  /**
   * Resolves once the agent has named the running statement (its QUERY_ID): from then on the
   * agent knows the statement runs, so a KILL QUERY reaches it instead of finding it idle.
   */
  whenStatementNamed(): Promise<void> {
    if (!this.statement || this.statement.queryId !== undefined || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.namedWaiters.push(resolve));
  }

  /** @internal */
  kill(kill: ConnectionKill): void {
    if (kill.queryOnly && !this.isRunning(kill.queryId)) return;
    for (const l of this.listeners) l(kill);
    if (kill.soft && this.report.critical) this.deferred.push(kill);
    else this.apply(kill);
  }

  /** @internal */
  abort(reason: CancelReason): void {
    if (reason.kind === 'detached') {
      this.closed = true;
      for (const wake of this.namedWaiters.splice(0)) wake();
    }
    this.statement?.controller.abort(reason);
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  private isRunning(queryId: number): boolean {
    return this.statement?.queryId !== undefined && this.statement.queryId === queryId;
  }

  private apply(kill: ConnectionKill): void {
    if (!kill.queryOnly) this.abort(kill);
    // a deferred KILL QUERY whose statement ended meanwhile is dropped
    else if (this.isRunning(kill.queryId)) this.statement?.controller.abort(kill);
  }
}
