import type { AttachResponse } from '../../proto/generated/quell/v1/AttachResponse';
import type { ConnectionInfo__Output } from '../../proto/generated/quell/v1/ConnectionInfo';
import type { ConnectionState__Output } from '../../proto/generated/quell/v1/ConnectionState';
import type { Logger } from '../../common/daemon/logger';
import type { Owner } from '../tables/live-table';
import type { ConnectionTable } from '../tables/connection-table';
import { errorText } from '../../errors/error-text';

/** The workload session a connection message came on: owns what it opened, receives replies. */
export interface ConnectionSession extends Owner {
  send(cmd: AttachResponse): void;
  /** false once its stream is gone: what it opens after that would never be closed */
  readonly attached: boolean;
}

/** Non-negative integer from a wire int64 (decimal text); junk reads 0. */
function count(v: string): number {
  const n = Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * The connection messages of the Workload service: open (the agent names the thread), state
 * reports (a new statement gets its QUERY_ID, told back to the workload), close.
 */
export class WorkloadConnections {
  constructor(
    private readonly table: ConnectionTable,
    /** resolves once the agent holds a server id: thread ids cannot be made before */
    private readonly ready: Promise<void>,
    private readonly log: Logger,
  ) {}

  async open(session: ConnectionSession, info: ConnectionInfo__Output): Promise<void> {
    await this.ready;
    if (!session.attached) return;
    try {
      const entry = this.table.open({ user: info.user || 'default', host: info.host || 'localhost', db: info.db }, session);
      session.send({ connection_opened: { client_ref: info.client_ref, thread_id: entry.key } });
    } catch (err) {
      const reason = errorText(err);
      this.log.warn({ session: session.sessionId, reason }, 'connection refused');
      session.send({ connection_rejected: { client_ref: info.client_ref, reason } });
    }
  }

  state(session: ConnectionSession, s: ConnectionState__Output): void {
    let started: number | undefined;
    try {
      started = this.table.update(s.thread_id, session, {
        info: s.info,
        state: s.state,
        examined_rows: count(s.examined_rows),
        memory_used: count(s.memory_used),
      });
    } catch (err) {
      // only a query id sequence with every id in use gets here
      this.log.error({ thread_id: s.thread_id, err: errorText(err) }, 'statement not recorded');
      return;
    }
    if (started !== undefined) session.send({ query_started: { thread_id: s.thread_id, query_id: String(started) } });
  }

  close(session: ConnectionSession, threadId: string): void {
    this.table.close(threadId, session);
  }

  /** The session's stream is gone: its connections are gone too. */
  endAllOf(session: ConnectionSession): number {
    return this.table.endAllOf(session);
  }
}
