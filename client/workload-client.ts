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

/**
 * One Attach stream to a node agent. Registering returns once the agent has accepted the
 * process; a dropped stream aborts every process (the agent has ended them on its side).
 */
export class WorkloadSession {
  private readonly stub: WorkloadStub;
  private readonly call: grpc.ClientDuplexStream<WorkloadMessage, AgentCommand__Output>;
  private readonly processes = new Map<string, RunningProcess>();
  private readonly pending = new Map<string, { resolve: (p: RunningProcess) => void; reject: (e: Error) => void }>();
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

  /** Called once when the stream is gone; the error is undefined for a clean close. */
  onClose(listener: (err: Error | undefined) => void): void {
    this.closedListeners.add(listener);
  }

  get active(): number {
    return this.processes.size;
  }

  /** @internal */
  send(msg: WorkloadMessage): void {
    if (!this.closedWith) this.call.write(msg);
  }

  /** @internal */
  forget(queryId: string): void {
    this.processes.delete(queryId);
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
    }
  }

  private onClosed(err: Error | undefined): void {
    if (this.closedWith) return;
    this.closedWith = err ?? new Error('workload stream closed');
    for (const w of this.pending.values()) w.reject(this.closedWith);
    this.pending.clear();
    for (const p of this.processes.values()) p.abort({ kind: 'detached', soft: false });
    this.processes.clear();
    for (const l of this.closedListeners) l(err);
  }
}
