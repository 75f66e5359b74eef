import type { SqlValue } from '../../../sql/types';
import type { StatementContext } from '../../context';
import { splitAddress, type CoordinatorRecord } from '../../../common/etcd/etcd-layout';
import { queryIdServerId } from '../../../common/thread-id';
import { askOtherCoordinators, peerKillFailure } from '../../cluster/other-coordinators';
import { PEER_KILL_DEADLINE_MS } from '../../cluster/coordinator-peers';
import type { StatementKillRequest, StatementKillRow } from '../running-statements';
import { renderProcessStatus } from '../../../common/kill-status';
import type { KilledStatement__Output } from '../../../proto/generated/quell/v1/KilledStatement';
import type { NodeStatus, OutsideFailure, OutsideOutcome } from './kill-merge';


/** The statuses a coordinator's door statement can have. */
const DOOR_STATUSES = ['KILL_STATUS_FINISHED', 'KILL_STATUS_WAITING', 'KILL_STATUS_UNKNOWN_STATUS'] as const;

export interface DoorKillOptions {
  readonly test: boolean;
  /** SYNC: how long each coordinator waits for its statements to end (0: ASYNC) */
  readonly waitMs: number;
  /** the KILL QUERY grant */
  readonly mayKillOthers: boolean;
  readonly reason: string;
}

/**
 * `KILL QUERY WHERE query_id = …` for statements running on the coordinators' doors (HTTP,
 * gRPC, MySQL): this coordinator's at once, the others' by KillStatement (mutual TLS, the
 * killer's rights, SYNC's wait plus PEER_KILL_DEADLINE_MS). A query_id this coordinator made
 * names its coordinator's server id: only that one is asked. A client-chosen one may be
 * anywhere: every live coordinator is. Each killed statement is a row whose node_id is its
 * coordinator's id; a coordinator that could not be asked is a row of its failure's kind
 * (node_unreachable, node_timeout, node_error), the owner
 * of a query_id that has left a `node_inactive` one: nothing is silently missing. Those
 * coordinators are the outcome's failures, which throw mode fails the statement for.
 */
export async function killDoorStatements(queryIds: readonly string[], ctx: StatementContext, o: DoorKillOptions): Promise<OutsideOutcome> {
  const req: StatementKillRequest = { queryIds, user: ctx.user.name, mayKillOthers: o.mayKillOthers, reason: o.reason, test: o.test, waitMs: o.waitMs, killerQueryId: ctx.statementId };
  const owners = new Set(queryIds.map(queryIdServerId));
  // a client-chosen id (no server id) may be on any coordinator
  const anywhere = owners.has(undefined);
  const asked = (record: CoordinatorRecord): boolean => anywhere || owners.has(record.server_id);
  const live = ctx.membership.coordinators();
  const selfRecord = live.find((c) => c.id === ctx.self?.id);
  const own = ctx.statements && (!selfRecord || asked(selfRecord)) ? ctx.statements : undefined;
  const wire = { query_ids: [...queryIds], user: req.user, may_kill_others: req.mayKillOthers, reason: req.reason, test: req.test, wait_ms: req.waitMs, killer_query_id: req.killerQueryId };
  // this coordinator's and the others' at once: a SYNC wait here does not delay the others' kills
  const [found, answers] = await Promise.all([
    own ? own.kill(req) : Promise.resolve([]),
    askOtherCoordinators(ctx.membership, ctx.self?.id, (record) =>
      asked(record) ? ctx.pool.coordinators.killStatement(record.address, wire, o.waitMs + PEER_KILL_DEADLINE_MS, ctx.signal) : Promise.resolve(undefined),
    ),
  ]);
  const out = new DoorRows();
  let hosts = own ? 1 : 0;
  out.add({ id: ctx.self?.id ?? '', address: ctx.self?.address ?? '' }, found);
  for (const a of answers) {
    if ('failure' in a || a.answer) hosts++;
    if ('failure' in a) out.coordinator(a.record, a.failure.kind, peerKillFailure(a.record, a.failure));
    else if (a.answer?.error) out.coordinator(a.record, 'node_error', a.answer.error.message);
    else if (a.answer) out.peer(a.record, a.answer.statements);
  }
  for (const serverId of owners) {
    if (serverId === undefined || live.some((c) => c.server_id === serverId)) continue;
    const gone = ctx.membership.departedCoordinator(serverId);
    const who = gone ? `coordinator '${gone.id}' (server id ${serverId})` : `the coordinator with server id ${serverId}`;
    hosts++;
    out.coordinator({ id: gone?.id ?? `server id ${serverId}`, address: gone?.address ?? '' }, 'node_inactive', `${who}, which made the query_id, is not live (no registry record): its statements ended with it`);
  }
  return { rows: out.rows, plan: out.plan, failures: out.failures, hosts };
}

/** The KILL QUERY rows of the coordinators' answers, and the plan they add up to. */
class DoorRows {
  readonly rows: SqlValue[][] = [];
  readonly plan = { eligible: 0, skipped: 0, skipped_owner: '', skipped_id: '', planned: [] };
  readonly failures: OutsideFailure[] = [];

  /** Statements one coordinator found: a row each, or a skip for ACCESS_DENIED. */
  add(record: Pick<CoordinatorRecord, 'id' | 'address'>, found: readonly StatementKillRow[]): void {
    const { host, port } = splitAddress(record.address);
    for (const s of found) {
      if (s.status === 'denied') {
        this.plan.skipped++;
        this.plan.skipped_owner ||= s.user;
        this.plan.skipped_id ||= s.queryId;
        continue;
      }
      this.plan.eligible++;
      this.rows.push([renderProcessStatus(s.status), s.queryId, s.user, s.query, host, port, record.id, '']);
    }
  }

  /** Another coordinator's answer; a status this one does not expect is not guessed at: its row says the outcome is unknown. */
  peer(record: CoordinatorRecord, statements: readonly KilledStatement__Output[]): void {
    const known: StatementKillRow[] = [];
    for (const s of statements) {
      const status = s.denied ? 'denied' : DOOR_STATUSES.find((k) => k === s.status);
      if (status) known.push({ queryId: s.query_id, user: s.user, query: s.query, status });
      else this.coordinator(record, 'node_error', `the coordinator sent kill status '${s.status}' for statement ${s.query_id}, which this one does not expect: its outcome is unknown`);
    }
    this.add(record, known);
  }

  /** A coordinator's own row: its status and why, the statement's columns blank. */
  coordinator(record: Pick<CoordinatorRecord, 'id' | 'address'>, status: NodeStatus, error: string): void {
    const { host, port } = record.address ? splitAddress(record.address) : { host: '', port: 0 };
    this.rows.push([status, '', '', '', host, port, record.id, error]);
    this.failures.push({ id: record.id, status });
  }
}
