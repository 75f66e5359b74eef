import { messages, services } from '../proto/generated/codec';
import type { GeneratedCodec } from '../proto/service-definition';
import type { AttachResponse__Output } from '../proto/generated/quell/v1/AttachResponse';
import type { AttachRequest } from '../proto/generated/quell/v1/AttachRequest';
import type { SessionChannel } from './session-channel';
import type { TlsOptions } from '../common/tls/options';
import { KEEPALIVE } from '../common/grpc/keepalive';
import { chError } from '../errors/quell-error';
import { ClientTls } from './transport/client-tls';
import { methodOf, type GrpcCall } from './transport/grpc-call';
import { H2Connection, targetOf } from './transport/h2-connection';
import { RunningProcess, type QueryRegistration } from './running-process';
import { RunningMutation, mutationKey, type MutationRegistration } from './running-mutation';
import { RunningConnection, type ConnectionOpening } from './running-connection';
import { unixNow } from '../sql/compile';

export type { CancelReason } from './session-channel';
export { RunningProcess, type QueryRegistration, type ProgressReport } from './running-process';
export { RunningMutation, type MutationRegistration } from './running-mutation';
export { RunningConnection, type ConnectionKill, type ConnectionOpening, type ConnectionStateReport } from './running-connection';

const ATTACH = methodOf<AttachRequest, AttachResponse__Output>({ messages, services } as unknown as GeneratedCodec, 'quell.v1.WorkloadService', 'Attach');

/**
 * One Attach stream to a node agent. Registering (or opening a connection) returns once the
 * agent has accepted it; a dropped stream aborts every process, mutation and connection (the
 * agent has ended them on its side).
 */
export class WorkloadSession implements SessionChannel {
  private readonly connection: H2Connection;
  private readonly call: GrpcCall<AttachRequest, AttachResponse__Output>;
  private readonly processes = new Map<string, RunningProcess>();
  private readonly pending = new Map<string, { resolve: (p: RunningProcess) => void; reject: (e: Error) => void }>();
  private readonly mutations = new Map<string, RunningMutation>();
  private readonly pendingMutations = new Map<string, { resolve: (m: RunningMutation) => void; reject: (e: Error) => void }>();
  private readonly connections = new Map<string, RunningConnection>();
  private readonly pendingConnections = new Map<string, { resolve: (c: RunningConnection) => void; reject: (e: Error) => void }>();
  private nextConnectionRef = 1;
  private closedWith: Error | undefined;
  private readonly closedListeners = new Set<(err: Error | undefined) => void>();

  private readonly security: ClientTls;

  /**
   * `agentAddress` is host:port (mutual TLS with a `spiffe://quell/workload` certificate in
   * `tls`) or `unix:/path` for the agent's workload socket (no certificate needed).
   */
  constructor(
    readonly agentAddress: string,
    tls: TlsOptions = {},
  ) {
    this.security = ClientTls.from(agentAddress.startsWith('unix:') ? { ...tls, insecure: true, ca: undefined, cert: undefined, key: undefined } : tls);
    this.security.check(agentAddress);
    const target = targetOf(agentAddress);
    if (!target) throw chError('BAD_ARGUMENTS', `agent address '${agentAddress}' is not host:port, [IPv6]:port or unix:/path`);
    // the call is made at once: its messages wait in HTTP/2 until the connection is up, and a
    // connection that fails fails the call (the session then ends)
    this.connection = new H2Connection(target, this.security.securing('agent'), KEEPALIVE);
    this.call = this.connection.call(ATTACH);
    this.call.on('data', (cmd: AttachResponse__Output) => this.onCommand(cmd));
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
          create_time: String(reg.create_time ?? unixNow()),
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
  send(msg: AttachRequest): void {
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
    this.connection.drain();
    this.security.close();
  }

  private onCommand(cmd: AttachResponse__Output): void {
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
      this.processes.get(cmd.cancel.query_id)?.abort({
        kind: 'cancel',
        soft: cmd.cancel.soft,
        reason: cmd.cancel.reason,
        killedBy: cmd.cancel.killed_by,
        statementId: cmd.cancel.statement_id,
        policy: cmd.cancel.policy,
      });
    } else if (cmd.terminate) {
      const t = cmd.terminate;
      this.processes.get(t.query_id)?.abort({ kind: 'terminate', soft: false, reason: t.reason, killedBy: t.killed_by, statementId: t.statement_id, policy: t.policy, escalateAfterMs: t.escalate_after_ms });
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

  private onConnectionCommand(cmd: AttachResponse__Output): void {
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
