import type { DoorSession__Output } from '../../../proto/generated/quell/v1/DoorSession';
import type { StatementContext } from '../../context';
import { hasGrant } from '../../auth/users';
import { doorSessions, type SessionViewer } from '../../doors/door-sessions';
import { askOtherCoordinators, coordinatorName } from '../../cluster/other-coordinators';

/** A door session and the coordinator it is on. */
export interface CoordinatorSession {
  readonly coordinatorId: string;
  /** that coordinator's gRPC address */
  readonly address: string;
  readonly session: DoorSession__Output;
}

/**
 * The door sessions of every live coordinator, this one's first: the others are asked at once
 * (ListSessions, mutual TLS, PEER_LIST_DEADLINE_MS). A coordinator that does not answer in time
 * is named in `missing` (one line each), and the statement goes on without its sessions.
 */
export async function everyCoordinatorsSessions(ctx: StatementContext): Promise<{ sessions: CoordinatorSession[]; missing: string[] }> {
  const viewer: SessionViewer = { user: ctx.user.name, seeAll: hasGrant(ctx.user, 'PROCESS') || hasGrant(ctx.user, 'SUPER') };
  const own = ctx.statements ? doorSessions(ctx.sessions, ctx.statements, viewer) : [];
  const sessions: CoordinatorSession[] = own.map((session) => ({ coordinatorId: ctx.self?.id ?? '', address: ctx.self?.address ?? '', session }));
  const missing: string[] = [];
  const answers = await askOtherCoordinators(ctx.membership, ctx.self?.id, (record) => ctx.pool.coordinators.listSessions(record.address, { user: viewer.user, see_all: viewer.seeAll }, undefined, ctx.signal));
  for (const a of answers) {
    if ('failure' in a) missing.push(`${coordinatorName(a.record)} (${a.failure.kind}: ${a.failure.message})`);
    else sessions.push(...a.answer.sessions.map((session) => ({ coordinatorId: a.record.id, address: a.record.address, session })));
  }
  return { sessions, missing };
}
