import { WorkloadSession, type CancelReason, type ConnectionKill, type RunningConnection } from '../../client/workload-client';
import type { TlsOptions } from '../../common/tls';
import { announce } from '../args';
import { SimRun } from './sim-run';
import { errorText } from '../../errors/error-text';

export interface ConnectionSimOptions {
  /** host:port (mutual TLS) or unix:/path (the agent's workload socket) */
  readonly agent: string;
  readonly tls: TlsOptions;
  readonly connections: number;
  readonly user: string;
  readonly host: string;
  readonly db: string;
  readonly inTransaction: boolean;
  readonly critical: boolean;
  readonly criticalMs: number;
  readonly statement: string;
}

/** What the client of an interrupted statement sees (MariaDB ER_QUERY_INTERRUPTED). */
const INTERRUPTED = { error_code: 1317, sqlstate: '70100', message: 'Query execution was interrupted' } as const;
/** What the client of a killed connection sees (ER_CONNECTION_KILLED). */
const CONNECTION_KILLED = 1927;
/** The statement a connection runs after its long one was interrupted: quick, in the same transaction. */
const NEXT_STATEMENT = 'SELECT 1';

/**
 * MariaDB client connections, as a server's processlist shows them. Each opens, BEGINs a
 * transaction (--in-transaction), and runs one long statement until killed:
 * - KILL QUERY interrupts the statement (`statement_error` 1317); the connection runs its next
 *   statement in the still-open transaction (`statement_ok`) and stays connected, idle;
 * - KILL [CONNECTION] ends it (`ended` killed, 1927), rolling back an open transaction;
 * - --critical: for --critical-ms after it starts, a SOFT kill waits for the section to end
 *   (`critical_left`); a HARD kill acts at once.
 * Every kill is printed when it arrives (`kill`). SIGTERM disconnects every connection (`closed`).
 */
export async function simulateConnections(o: ConnectionSimOptions): Promise<number> {
  const session = new WorkloadSession(o.agent, o.tls);
  const sim = new SimRun<RunningConnection>(session, (c) => ({ thread_id: c.threadId }));
  // a disconnect rolls an open transaction back as a kill does; only the kill is an error
  const finish = (c: RunningConnection, outcome: 'killed' | 'closed'): void => {
    const extra = outcome === 'killed' ? { error_code: CONNECTION_KILLED, rolled_back: c.current.in_transaction } : { rolled_back: c.current.in_transaction };
    if (sim.end(c, outcome, extra)) c.close();
  };

  for (let i = 1; i <= o.connections; i++) {
    let conn: RunningConnection;
    try {
      conn = await session.openConnection({ user: o.user, host: o.host, db: o.db });
    } catch (err) {
      announce({ event: 'rejected', error: errorText(err) });
      continue;
    }
    const c = conn;
    sim.add(c);
    c.onKill((k) => announce({ event: 'kill', thread_id: c.threadId, query_only: k.queryOnly, soft: k.soft, at: Date.now() }));
    c.signal.addEventListener('abort', () => {
      if ((c.signal.reason as CancelReason).kind === 'cancel') finish(c, 'killed');
    });
    if (o.inTransaction) {
      c.state({ info: 'BEGIN', state: 'Starting' });
      c.state({ info: '', state: '', in_transaction: true });
    }
    if (o.critical) enterCriticalSection(c, o.criticalMs);
    runLongStatement(c, o.statement);
    // announced once the agent runs the statement, so a kill sent on seeing it finds it running
    await c.whenStatementNamed();
    announce({ event: 'started', thread_id: c.threadId, user: o.user });
  }

  let examined = 0;
  return sim.run(
    500,
    () => {
      examined += 10_000;
      for (const c of sim.items()) if (c.current.info !== '') c.state({ examined_rows: examined, memory_used: 1 << 20 });
    },
    () => {
      for (const c of sim.items()) finish(c, 'closed');
    },
    o.connections,
  );
}

function enterCriticalSection(c: RunningConnection, ms: number): void {
  c.state({ critical: true });
  // unref: a sim whose connections all ended exits without waiting for the section's end
  setTimeout(() => {
    if (!c.open) return;
    announce({ event: 'critical_left', thread_id: c.threadId, at: Date.now() });
    // leaving the section lets the soft kills that waited for it act (RunningConnection)
    c.state({ critical: false });
  }, ms).unref();
}

/** Runs the statement until a KILL QUERY interrupts it; then the next one, and idles. */
function runLongStatement(c: RunningConnection, text: string): void {
  c.state({ info: text, state: /sleep\s*\(/i.test(text) ? 'User sleep' : 'Sending data', examined_rows: 0 });
  const signal = c.statementSignal;
  signal?.addEventListener('abort', () => {
    const kill = signal.reason as ConnectionKill | CancelReason;
    // a connection kill or a dropped stream is handled by the connection's signal
    if (!('queryOnly' in kill) || !kill.queryOnly) return;
    // only the statement is rolled back: the transaction stays open
    announce({ event: 'statement_error', thread_id: c.threadId, ...INTERRUPTED, in_transaction: c.current.in_transaction });
    c.state({ info: '', state: '' });
    c.state({ info: NEXT_STATEMENT, state: 'Sending data' });
    c.state({ info: '', state: '' });
    announce({ event: 'statement_ok', thread_id: c.threadId, info: NEXT_STATEMENT, in_transaction: c.current.in_transaction });
  });
}
