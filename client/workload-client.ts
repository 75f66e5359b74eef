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

function mutationKey(m: { database: string; table: string; mutation_id: string }): string {
  return `${m.database}\u0000${m.table}\u0000${m.mutation_id}`;
}

/**
 * One Attach stream to a node agent. Registering returns once the agent has accepted the
 * process; a dropped stream aborts every process (the agent has ended them on its side).
 */
export class WorkloadSession {
  private readonly stub: WorkloadStub;
  private readonly call: grpc.ClientDuplexStream<WorkloadMessage, AgentCommand__Output>;
  private readonly processes = new Map<string, RunningProcess>();
  private readonly pending = new Map<string, { resolve: (p: RunningProcess) => void; reject: (e: Error) => void }>();
  private readonly mutations = new Map<string, RunningMutation>();
  private readonly pendingMutations = new Map<string, { resolve: (m: RunningMutation) => void; reject: (e: Error) => void }>();
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

  /** Called once when the stream is gone; the error is undefined for a clean close. */
  onClose(listener: (err: Error | undefined) => void): void {
    this.closedListeners.add(listener);
  }

  get active(): number {
    return this.processes.size + this.mutations.size;
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
    }
  }

  private onClosed(err: Error | undefined): void {
    if (this.closedWith) return;
    this.closedWith = err ?? new Error('workload stream closed');
    for (const w of [...this.pending.values(), ...this.pendingMutations.values()]) w.reject(this.closedWith);
    this.pending.clear();
    this.pendingMutations.clear();
    for (const m of this.mutations.values()) m.abort({ kind: 'detached', soft: false });
    this.mutations.clear();
    for (const p of this.processes.values()) p.abort({ kind: 'detached', soft: false });
    this.processes.clear();
    for (const l of this.closedListeners) l(err);
  }
}
