import type * as grpc from '@grpc/grpc-js';
import { quellProto } from '../proto/load';
import type { AgentCommand } from '../proto/generated/quell/v1/AgentCommand';
import type { WorkloadMessage__Output } from '../proto/generated/quell/v1/WorkloadMessage';
import type { QueryInfo__Output } from '../proto/generated/quell/v1/QueryInfo';
import type { Logger } from '../common/logger';
import { DuplicateProcessError, type ProcessOwner, type ProcessTable, type QueryRegistration } from './process-table';

type AttachCall = grpc.ServerDuplexStream<WorkloadMessage__Output, AgentCommand>;

/** One attached workload: owns the processes it registered; a dropped stream ends them all. */
class WorkloadSession implements ProcessOwner {
  private open = true;

  constructor(
    readonly sessionId: number,
    private readonly call: AttachCall,
  ) {}

  cancel(queryId: string, soft: boolean): void {
    this.send({ cancel: { query_id: queryId, soft } });
  }

  send(cmd: AgentCommand): void {
    if (this.open) this.call.write(cmd);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.call.end();
  }
}

function toRegistration(q: QueryInfo__Output): QueryRegistration {
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

/** The Workload service: workloads attach, register processes, and receive cancels. */
export class WorkloadService {
  private nextSession = 1;
  private readonly sessions = new Set<WorkloadSession>();

  constructor(
    private readonly table: ProcessTable,
    private readonly log: Logger,
  ) {}

  addToServer(server: grpc.Server): void {
    server.addService(quellProto().workload.quell.v1.Workload.service, {
      Attach: (call: AttachCall) => this.attach(call),
    });
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Ends every attached stream (agent shutdown); their processes end with them. */
  closeAll(): void {
    for (const s of [...this.sessions]) this.detach(s, 'agent stopping');
  }

  private attach(call: AttachCall): void {
    const session = new WorkloadSession(this.nextSession++, call);
    this.sessions.add(session);
    this.log.debug({ session: session.sessionId, peer: call.getPeer() }, 'workload attached');
    call.on('data', (msg: WorkloadMessage__Output) => this.onMessage(session, msg));
    call.on('end', () => this.detach(session, 'stream ended'));
    call.on('error', () => this.detach(session, 'stream failed'));
    call.on('cancelled', () => this.detach(session, 'stream cancelled'));
  }

  private detach(session: WorkloadSession, reason: string): void {
    if (!this.sessions.delete(session)) return;
    const ended = this.table.endAllOf(session);
    session.close();
    this.log.debug({ session: session.sessionId, reason, ended }, 'workload detached');
  }

  private onMessage(session: WorkloadSession, msg: WorkloadMessage__Output): void {
    switch (msg.kind) {
      case 'register': {
        const reg = msg.register;
        if (!reg?.query_id) {
          session.send({ rejected: { query_id: reg?.query_id ?? '', reason: 'query_id is required' } });
          return;
        }
        try {
          this.table.register(toRegistration(reg), session);
          session.send({ registered: { query_id: reg.query_id } });
        } catch (err) {
          if (!(err instanceof DuplicateProcessError)) throw err;
          session.send({ rejected: { query_id: reg.query_id, reason: err.message } });
        }
        return;
      }
      case 'progress': {
        const p = msg.progress;
        if (!p) return;
        this.table.progress(p.query_id, session, {
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
        if (msg.end) this.table.end(msg.end.query_id, session);
        return;
      default:
        return;
    }
  }
}
