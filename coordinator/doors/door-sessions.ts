import type { DoorSession__Output } from '../../proto/generated/quell/v1/DoorSession';
import type { RunningStatements } from '../statements/running-statements';
import type { SessionRegistry } from './sessions';

/** Who asks: without PROCESS (or SUPER) a user sees only its own sessions, as in MariaDB. */
export interface SessionViewer {
  readonly user: string;
  readonly seeAll: boolean;
}

/**
 * This coordinator's door sessions as ListSessions sends them (and as it reads its own): each
 * MySQL connection, with the query_id of the statement it runs, then each statement running on
 * the HTTP or gRPC door (connection id 0: those doors have no sessions).
 */
export function doorSessions(sessions: SessionRegistry | undefined, statements: RunningStatements, viewer: SessionViewer): DoorSession__Output[] {
  const visible = (user: string): boolean => viewer.seeAll || user === viewer.user;
  const now = Date.now();
  const out: DoorSession__Output[] = [];
  const running = statements.list();
  // one pass, not a search per busy session: each MySQL session's statement (the oldest, as list() sorts)
  const onSession = new Map<number, string>();
  for (const st of running) if (st.sessionId !== undefined && !onSession.has(st.sessionId)) onSession.set(st.sessionId, st.queryId);
  for (const s of sessions?.list() ?? []) {
    if (!visible(s.user)) continue;
    const p = s.process();
    out.push({
      id: p.id,
      door: 'mysql',
      user: p.user,
      host: p.host,
      db: p.db ?? '',
      command: p.command,
      time_ms: String(p.timeMs),
      info: p.info ?? '',
      query_id: p.command === 'Query' ? (onSession.get(p.id) ?? '') : '',
    });
  }
  for (const st of running) {
    if (st.sessionId !== undefined || !visible(st.user)) continue;
    out.push({ id: 0, door: st.door, user: st.user, host: st.address, db: '', command: 'Query', time_ms: String(now - st.startedAt), info: st.sql, query_id: st.queryId });
  }
  return out;
}
