import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, quellProto } from '../proto/load';
import type { WorkloadClient as WorkloadStub } from '../proto/generated/quell/v1/Workload';
import type { AgentCommand__Output } from '../proto/generated/quell/v1/AgentCommand';
import type { WorkloadMessage } from '../proto/generated/quell/v1/WorkloadMessage';
import type { QueryInfo } from '../proto/generated/quell/v1/QueryInfo';
import type { Outcome } from '../proto/generated/quell/v1/Outcome';

/** Why a process's signal was aborted. */
export interface CancelReason {
  readonly kind: 'cancel' | 'detached';
  /** SOFT kill: the workload may finish a critical section first */
  readonly soft: boolean;
}

export type QueryRegistration = Omit<QueryInfo, 'query_id'> & { readonly query_id: string };

export interface ProgressReport {
  readonly read_rows?: number;
  readonly read_bytes?: number;
  readonly total_rows_approx?: number;
  readonly written_rows?: number;
  readonly written_bytes?: number;
  readonly memory_usage?: number;
}

/** A process registered with the agent. Its cancellation is an AbortSignal. */
export class RunningProcess {
  private readonly controller = new AbortController();
  private ended = false;

  constructor(
    readonly queryId: string,
    private readonly session: WorkloadSession,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  progress(p: ProgressReport): void {
    if (this.ended) return;
    const n = (v: number | undefined): string => String(Math.max(0, Math.trunc(v ?? 0)));
    this.session.send({
      progress: {
        query_id: this.queryId,
        read_rows: n(p.read_rows),
        read_bytes: n(p.read_bytes),
        total_rows_approx: n(p.total_rows_approx),
        written_rows: n(p.written_rows),
        written_bytes: n(p.written_bytes),
        memory_usage: String(Math.trunc(p.memory_usage ?? 0)),
      },
    });
  }

  /** Ends the process; after a cancel, 'cancelled' is the acknowledgement the agent waits for. */
  end(outcome: 'finished' | 'cancelled' | 'failed'): void {
    if (this.ended) return;
    this.ended = true;
    const wire: Record<typeof outcome, Outcome> = { finished: 'OUTCOME_FINISHED', cancelled: 'OUTCOME_CANCELLED', failed: 'OUTCOME_FAILED' };
    this.session.send({ end: { query_id: this.queryId, outcome: wire[outcome] } });
    this.session.forget(this.queryId);
  }

  /** @internal */
  abort(reason: CancelReason): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }
}

export interface MutationRegistration {
  readonly database: string;
  readonly table: string;
  readonly mutation_id: string;
  readonly command: string;
  /** unix seconds; now when omitted */
  readonly create_time?: number;
  readonly parts_to_do: number;
}

/** A mutation registered with the agent. A kill aborts its signal; parts already done stay done. */
export class RunningMutation {
  private readonly controller = new AbortController();
  private ended = false;

  constructor(
    readonly ref: { readonly database: string; readonly table: string; readonly mutation_id: string },
    private readonly session: WorkloadSession,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  progress(partsDone: number, partsToDo: number, failure?: { part: string; reason: string }): void {
    if (this.ended) return;
    this.session.send({
      mutation_progress: {
        mutation: this.ref,
        parts_done: String(partsDone),
        parts_to_do: String(partsToDo),
        latest_failed_part: failure?.part ?? '',
        latest_fail_reason: failure?.reason ?? '',
      },
    });
  }

  /** Ends the mutation: done, failed, or killed (the acknowledgement of a kill). */
  end(outcome: 'done' | 'failed' | 'killed', partsDone: number): void {
    if (this.ended) return;
    this.ended = true;
    const wire = { done: 'MUTATION_DONE', failed: 'MUTATION_FAILED', killed: 'MUTATION_KILLED' } as const;
    this.session.send({ end_mutation: { mutation: this.ref, outcome: wire[outcome], parts_done: String(partsDone) } });
    this.session.forgetMutation(this.ref);
  }

  /** @internal */
  abort(reason: CancelReason): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }
}

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
    private readonly session: WorkloadSession,
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

function mutationKey(m: { database: string; table: string; mutation_id: string }): string {
  return `${m.database}\u0000${m.table}\u0000${m.mutation_id}`;
}

/**
 * One Attach stream to a node agent. Registering (or opening a connection) returns once the
 * agent has accepted it; a dropped stream aborts every process, mutation and connection (the
 * agent has ended them on its side).
 */
export class WorkloadSession {
  private readonly stub: WorkloadStub;
  private readonly call: grpc.ClientDuplexStream<WorkloadMessage, AgentCommand__Output>;
  private readonly processes = new Map<string, RunningProcess>();
  private readonly pending = new Map<string, { resolve: (p: RunningProcess) => void; reject: (e: Error) => void }>();
  private readonly mutations = new Map<string, RunningMutation>();
  private readonly pendingMutations = new Map<string, { resolve: (m: RunningMutation) => void; reject: (e: Error) => void }>();
  private readonly connections = new Map<string, RunningConnection>();
  private readonly pendingConnections = new Map<string, { resolve: (c: RunningConnection) => void; reject: (e: Error) => void }>();
  private nextConnectionRef = 1;
  private closedWith: Error | undefined;
  private readonly closedListeners = new Set<(err: Error | undefined) => void>();

  constructor(readonly agentAddress: string) {
    const Ctor = quellProto().workload.quell.v1.Workload;
    this.stub = new Ctor(agentAddress, grpc.credentials.createInsecure(), { ...CHANNEL_OPTIONS });
    this.call = this.stub.Attach();
    this.call.on('data', (cmd: AgentCommand__Output) => this.onCommand(cmd));
    this.call.on('error', (err: Error) => this.onClosed(err));
    this.call.on('end', () => this.onClosed(undefined));
  }

  register(reg: QueryRegistration): Promise<RunningProcess> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.pending.set(reg.query_id, { resolve, reject });
      this.send({ register: reg });
    });
  }

  /** Registers a mutation; resolves once the agent has accepted it (after any pending durable kill is known). */
  registerMutation(reg: MutationRegistration): Promise<RunningMutation> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.pendingMutations.set(mutationKey(reg), { resolve, reject });
      this.send({
        register_mutation: {
          database: reg.database,
          table: reg.table,
          mutation_id: reg.mutation_id,
          command: reg.command,
          create_time: String(reg.create_time ?? Math.floor(Date.now() / 1000)),
          parts_to_do: String(reg.parts_to_do),
        },
      });
    });
  }

  /** Opens a connection; resolves once the agent has given it its thread id. */
  openConnection(o: ConnectionOpening): Promise<RunningConnection> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const ref = String(this.nextConnectionRef++);
    return new Promise((resolve, reject) => {
      this.pendingConnections.set(ref, { resolve, reject });
      this.send({ open_connection: { client_ref: ref, user: o.user, host: o.host ?? 'localhost', db: o.db ?? '' } });
    });
  }

  /** Called once when the stream is gone; the error is undefined for a clean close. */
  onClose(listener: (err: Error | undefined) => void): void {
    this.closedListeners.add(listener);
  }

  get active(): number {
    return this.processes.size + this.mutations.size + this.connections.size;
  }

  /** @internal */
  send(msg: WorkloadMessage): void {
    if (!this.closedWith) this.call.write(msg);
  }

  /** @internal */
  forget(queryId: string): void {
    this.processes.delete(queryId);
  }

  /** @internal */
  forgetConnection(threadId: number): void {
    this.connections.delete(String(threadId));
  }

  /** @internal */
  forgetMutation(ref: { database: string; table: string; mutation_id: string }): void {
    this.mutations.delete(mutationKey(ref));
  }

  close(): void {
    this.call.end();
    this.stub.close();
  }

  private onCommand(cmd: AgentCommand__Output): void {
    if (cmd.registered) {
      const id = cmd.registered.query_id;
      const waiter = this.pending.get(id);
      this.pending.delete(id);
      const proc = new RunningProcess(id, this);
      this.processes.set(id, proc);
      waiter?.resolve(proc);
    } else if (cmd.rejected) {
      const waiter = this.pending.get(cmd.rejected.query_id);
      this.pending.delete(cmd.rejected.query_id);
      waiter?.reject(new Error(cmd.rejected.reason));
    } else if (cmd.cancel) {
      this.processes.get(cmd.cancel.query_id)?.abort({ kind: 'cancel', soft: cmd.cancel.soft });
    } else if (cmd.mutation_registered) {
      const key = mutationKey(cmd.mutation_registered);
      const waiter = this.pendingMutations.get(key);
      this.pendingMutations.delete(key);
      const m = new RunningMutation({ ...cmd.mutation_registered }, this);
      this.mutations.set(key, m);
      waiter?.resolve(m);
    } else if (cmd.mutation_rejected?.mutation) {
      const key = mutationKey(cmd.mutation_rejected.mutation);
      this.pendingMutations.get(key)?.reject(new Error(cmd.mutation_rejected.reason));
      this.pendingMutations.delete(key);
    } else if (cmd.kill_mutation) {
      this.mutations.get(mutationKey(cmd.kill_mutation))?.abort({ kind: 'cancel', soft: false });
    } else {
      this.onConnectionCommand(cmd);
    }
  }

  private onConnectionCommand(cmd: AgentCommand__Output): void {
    if (cmd.connection_opened) {
      const { client_ref: ref, thread_id: threadId } = cmd.connection_opened;
      const waiter = this.pendingConnections.get(ref);
      this.pendingConnections.delete(ref);
      const conn = new RunningConnection(Number(threadId), this);
      this.connections.set(threadId, conn);
      waiter?.resolve(conn);
    } else if (cmd.connection_rejected) {
      this.pendingConnections.get(cmd.connection_rejected.client_ref)?.reject(new Error(cmd.connection_rejected.reason));
      this.pendingConnections.delete(cmd.connection_rejected.client_ref);
    } else if (cmd.query_started) {
      this.connections.get(cmd.query_started.thread_id)?.statementStarted(Number(cmd.query_started.query_id));
    } else if (cmd.kill_connection) {
      const k = cmd.kill_connection;
      this.connections.get(k.thread_id)?.kill({ kind: 'cancel', soft: k.soft, queryOnly: k.query_only, queryId: Number(k.query_id || 0) });
    }
  }

  private onClosed(err: Error | undefined): void {
    if (this.closedWith) return;
    this.closedWith = err ?? new Error('workload stream closed');
    for (const w of [...this.pending.values(), ...this.pendingMutations.values(), ...this.pendingConnections.values()]) w.reject(this.closedWith);
    this.pending.clear();
    this.pendingMutations.clear();
    this.pendingConnections.clear();
    for (const c of this.connections.values()) c.abort({ kind: 'detached', soft: false });
    this.connections.clear();
    for (const m of this.mutations.values()) m.abort({ kind: 'detached', soft: false });
    this.mutations.clear();
    for (const p of this.processes.values()) p.abort({ kind: 'detached', soft: false });
    this.processes.clear();
    for (const l of this.closedListeners) l(err);
  }
}
