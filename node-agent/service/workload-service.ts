import type * as grpc from '@grpc/grpc-js';
import { quellProto } from '../../proto/load';
import type { AttachResponse } from '../../proto/generated/quell/v1/AttachResponse';
import type { AttachRequest__Output } from '../../proto/generated/quell/v1/AttachRequest';
import type { QueryInfo__Output } from '../../proto/generated/quell/v1/QueryInfo';
import type { MutationInfo__Output } from '../../proto/generated/quell/v1/MutationInfo';
import type { Logger } from '../../common/daemon/logger';
import { DuplicateEntryError, type CancelTarget, type LiveEntry, type Owner } from '../tables/live-table';
import type { ProcessTable } from '../tables/process-table';
import type { MutationTable } from '../tables/mutation-table';
import { mutationKey, type MutationRow, type ProcessStart } from '../tables/rows';
import type { ConnectionSession, WorkloadConnections } from './workload-connections';
import { errorText } from '../../errors/error-text';
import type { PeerPolicy } from '../../common/tls/peer-policy';
import { toServiceError } from '../../common/grpc/rpc-status';
import { unixNow } from '../../sql/compile';

type AttachCall = grpc.ServerDuplexStream<AttachRequest__Output, AttachResponse>;

/** One attached workload: owns what it registered; a dropped stream ends it all. */
class WorkloadSession implements Owner, ConnectionSession {
  private open = true;

  constructor(
    readonly sessionId: number,
    private readonly call: AttachCall,
  ) {}

  get attached(): boolean {
    return this.open;
  }

  cancel(target: CancelTarget, soft: boolean): void {
    switch (target.kind) {
      case 'query': {
        const by = { reason: target.by?.reason ?? '', killed_by: target.by?.user ?? '', statement_id: target.by?.statement_id ?? '', policy: target.by?.policy ?? '' };
        if (target.terminate) this.send({ terminate: { query_id: target.query_id, ...by, escalate_after_ms: target.terminate.afterMs } });
        else this.send({ cancel: { query_id: target.query_id, soft, ...by } });
        return;
      }
      case 'mutation':
        this.send({ kill_mutation: { database: target.database, table: target.table, mutation_id: target.mutation_id } });
        return;
      case 'connection':
        this.send({
          kill_connection: {
            thread_id: String(target.thread_id),
            query_only: target.query_only,
            soft,
            query_id: target.query_id ? String(target.query_id) : '',
          },
        });
        return;
    }
  }

  send(cmd: AttachResponse): void {
    if (this.open) this.call.write(cmd);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.call.end();
  }
}

/** A registered query as the start of its system.processes row (defaults as ClickHouse shows them). */
function processStart(q: QueryInfo__Output): ProcessStart {
  return {
    query_id: q.query_id,
    user: q.user || 'default',
    query: q.query,
    initial_query_id: q.initial_query_id,
    initial_user: q.initial_user,
    address: q.address || '::ffff:127.0.0.1',
    port: q.port,
    client_hostname: q.client_hostname,
    client_name: q.client_name,
    current_database: q.current_database || 'default',
    query_kind: q.query_kind || 'Select',
    uncancellable: q.uncancellable,
    thread_id: 0,
  };
}

/** Hooks the agent gives the workload service for mutations (durable kills). */
export interface MutationHooks {
  /** resolves once pending durable kills are loaded: registrations wait for it */
  readonly ready: Promise<void>;
  /** a mutation was registered: apply any durable kill that matches it */
  registered(entry: LiveEntry<MutationRow>): void;
}

/** The Workload service: workloads attach, register queries, mutations and connections, receive cancels. */
export class WorkloadService {
  private nextSession = 1;
  private readonly sessions = new Set<WorkloadSession>();

  constructor(
    private readonly processes: ProcessTable,
    private readonly mutations: MutationTable,
    private readonly hooks: MutationHooks,
    private readonly connections: WorkloadConnections,
    private readonly log: Logger,
  ) {}

  /** `peers` decides who may attach: workload certificates on TLS, anyone on the workload socket. */
  addToServer(server: grpc.Server, peers: PeerPolicy): void {
    server.addService(quellProto().workload.quell.v1.WorkloadService.service, {
      Attach: (call: AttachCall) => {
        const refused = peers.refusal(call, ['workload'], 'Attach');
        if (!refused) {
          this.attach(call);
          return;
        }
        this.log.warn({ peer: call.getPeer(), err: refused.message }, 'attach refused');
        call.emit('error', toServiceError(refused));
      },
    });
  }

  /** Ends every attached stream (agent shutdown); what they registered ends with them. */
  closeAll(): void {
    for (const s of [...this.sessions]) this.detach(s, 'agent stopping');
  }

  private attach(call: AttachCall): void {
    const session = new WorkloadSession(this.nextSession++, call);
    this.sessions.add(session);
    this.log.debug({ session: session.sessionId, peer: call.getPeer() }, 'workload attached');
    call.on('data', (msg: AttachRequest__Output) => {
      // one bad message must not take the agent (and every other workload) down
      try {
        this.onMessage(session, msg);
      } catch (err) {
        this.log.warn({ session: session.sessionId, err: errorText(err) }, 'workload message refused');
      }
    });
    call.on('end', () => this.detach(session, 'stream ended'));
    call.on('error', () => this.detach(session, 'stream failed'));
    call.on('cancelled', () => this.detach(session, 'stream cancelled'));
  }

  private detach(session: WorkloadSession, reason: string): void {
    if (!this.sessions.delete(session)) return;
    const ended = this.processes.endAllOf(session) + this.mutations.endAllOf(session) + this.connections.endAllOf(session);
    session.close();
    this.log.debug({ session: session.sessionId, reason, ended }, 'workload detached');
  }

  private onMessage(session: WorkloadSession, msg: AttachRequest__Output): void {
    switch (msg.kind) {
      case 'register':
        if (msg.register) this.registerQuery(session, msg.register);
        return;
      case 'progress': {
        const p = msg.progress;
        if (!p) return;
        this.processes.progress(p.query_id, session, {
          read_rows: Number(p.read_rows),
          read_bytes: Number(p.read_bytes),
          total_rows_approx: Number(p.total_rows_approx),
          written_rows: Number(p.written_rows),
          written_bytes: Number(p.written_bytes),
          memory_usage: Number(p.memory_usage),
        });
        return;
      }
      case 'end':
        if (msg.end) this.processes.end(msg.end.query_id, session);
        return;
      case 'register_mutation':
        if (msg.register_mutation) {
          this.registerMutation(session, msg.register_mutation).catch((err: unknown) => {
            this.log.warn({ session: session.sessionId, err: errorText(err) }, 'mutation registration failed');
          });
        }
        return;
      case 'mutation_progress': {
        const p = msg.mutation_progress;
        if (!p?.mutation) return;
        this.mutations.progress(mutationKey(p.mutation), session, {
          parts_done: Number(p.parts_done),
          parts_to_do: Number(p.parts_to_do),
          latest_failed_part: p.latest_failed_part,
          latest_fail_reason: p.latest_fail_reason,
        });
        return;
      }
      case 'end_mutation': {
        const m = msg.end_mutation?.mutation;
        if (m) this.mutations.remove(mutationKey(m), session);
        return;
      }
      case 'open_connection':
        if (msg.open_connection) void this.connections.open(session, msg.open_connection);
        return;
      case 'connection_state':
        if (msg.connection_state) this.connections.state(session, msg.connection_state);
        return;
      case 'close_connection':
        if (msg.close_connection) this.connections.close(session, msg.close_connection.thread_id);
        return;
      default:
        return;
    }
  }

  private registerQuery(session: WorkloadSession, reg: QueryInfo__Output): void {
    if (!reg.query_id) {
      session.send({ rejected: { query_id: '', reason: 'query_id is required' } });
      return;
    }
    try {
      this.processes.register(processStart(reg), session, Math.max(0, Number(reg.memory_usage)));
      session.send({ registered: { query_id: reg.query_id } });
    } catch (err) {
      if (!(err instanceof DuplicateEntryError)) throw err;
      session.send({ rejected: { query_id: reg.query_id, reason: err.message } });
    }
  }

  private async registerMutation(session: WorkloadSession, m: MutationInfo__Output): Promise<void> {
    const ref = { database: m.database, table: m.table, mutation_id: m.mutation_id };
    if (!m.database || !m.table || !m.mutation_id) {
      session.send({ mutation_rejected: { mutation: ref, reason: 'database, table and mutation_id are required' } });
      return;
    }
    // pending durable kills must be known before a mutation they name can start
    await this.hooks.ready;
    let entry: LiveEntry<MutationRow>;
    try {
      entry = this.mutations.register(
        { ...ref, command: m.command, create_time: Number(m.create_time) || unixNow(), parts_to_do: Number(m.parts_to_do) },
        session,
      );
    } catch (err) {
      if (!(err instanceof DuplicateEntryError)) throw err;
      session.send({ mutation_rejected: { mutation: ref, reason: err.message } });
      return;
    }
    session.send({ mutation_registered: ref });
    this.hooks.registered(entry);
  }
}
