import { chError, type QuellError } from '../../../errors/quell-error';
import type { NodeFailureKind } from '../../../common/grpc/rpc-status';
import type { KillResponse__Output } from '../../../proto/generated/quell/v1/KillResponse';
import type { SqlValue } from '../../../sql/types';
import type { FanoutEvent } from '../../cluster/fanout';
import type { KillTargetSpec } from './kill-targets';
import { PlanTally } from './kill-plan';
import type { KillPlan__Output } from '../../../proto/generated/quell/v1/KillPlan';
import { knownProcessStatus } from '../../../common/kill-status';
import type { MemberNode } from '../../cluster/membership';
import { nodeFailuresError } from '../node-failures';
import { skewReason, type ClockReader } from '../../cluster/clock-offsets';

export type NodeStatus = NodeFailureKind | 'node_inactive';

/** A node that did not take a kill, and why. */
export interface MissedNode {
  readonly node: MemberNode;
  readonly status: NodeStatus;
  readonly error: string;
}

export interface KillMergeOptions {
  readonly target: KillTargetSpec;
  /** every member the kill went to; each active one must send its plan (or fail) before rows are released */
  readonly nodes: readonly MemberNode[];
  /** who runs the kill, for ACCESS_DENIED's message */
  readonly user: string;
  /** a node that missed the kill is kept for a durable kill instead of getting its row now */
  readonly queueMissed: boolean;
  /** distributed_ddl_output_mode = 'throw': a failed node fails the statement after its rows */
  readonly throwOnNodeFailure: boolean;
  /** agents' measured clock offsets: a row refused past its deadline by a clock that is ahead names the skew */
  readonly clocks?: ClockReader;
  /** escalate_after was set: each row ends with `escalated` (1 once the process got its hard kill) */
  readonly escalation?: boolean;
  /** a plan also comes from outside the nodes (the coordinators' door statements: settleOutside), and counts as theirs do */
  readonly outside?: boolean;
}

/** The key of the outside plan among the nodes' (no node id has a space). */
const OUTSIDE = 'door statements';

export const INACTIVE_MESSAGE = 'node has no live lease in etcd (stopped, crashed or partitioned)';

type Row = SqlValue[];

/** A host outside the nodes (another coordinator) that did not answer, as throw mode names it: `id (status)`. */
export interface OutsideFailure {
  readonly id: string;
  readonly status: NodeStatus;
}

/**
 * What the coordinators' doors made of a KILL QUERY by query_id (the plan from outside the
 * nodes): KILL QUERY result rows, a plan as the agents send one, and the coordinators it
 * concerned (`hosts`) and those that failed.
 */
export interface OutsideOutcome {
  readonly plan: KillPlan__Output;
  readonly rows: readonly Row[];
  readonly failures: readonly OutsideFailure[];
  readonly hosts: number;
}

/**
 * The coordinator's side of one kill, without I/O: fan-out events in, result rows out. Rows are
 * held until every active node has sent its plan (or failed), so that a kill nobody may
 * perform fails with ACCESS_DENIED before any row is shown; after that they pass straight
 * through. The outside plan (`outside`) is waited for too only while the nodes' plans leave
 * ACCESS_DENIED possible (nothing eligible). Each method returns the rows to send now.
 */
export class KillMerge {
  private readonly plans = new PlanTally();
  /** active nodes whose plan (or failure) is still outstanding */
  private readonly unplanned: Set<string>;
  private readonly held: Row[] = [];
  private released = false;
  private readonly failures: string[] = [];
  private timedOut = 0;
  /** coordinators the outside plan concerned: hosts beside the nodes in throw mode's count */
  private outsideHosts = 0;
  private readonly toQueue: MissedNode[] = [];
  private produced = 0;

  constructor(private readonly opts: KillMergeOptions) {
    this.unplanned = new Set(opts.nodes.filter((n) => n.active).map((n) => n.nodeId));
    if (opts.outside) this.unplanned.add(OUTSIDE);
  }

  /** Takes one fan-out event. Throws ACCESS_DENIED when the last plan leaves nothing the user may kill. */
  push(ev: FanoutEvent<KillResponse__Output>): Row[] {
    const out: Row[] = [];
    this.takeEvent(ev, out);
    return out;
  }

  /** Takes a batch of fan-out events in order: the rows of all of them, as push() would give them one by one. */
  pushAll(events: readonly FanoutEvent<KillResponse__Output>[]): Row[] {
    const out: Row[] = [];
    for (const ev of events) this.takeEvent(ev, out);
    return out;
  }

  private takeEvent(ev: FanoutEvent<KillResponse__Output>, out: Row[]): void {
    const node = ev.node;
    switch (ev.kind) {
      case 'message': {
        const { plan, process } = ev.message;
        if (plan) {
          this.plans.add(plan);
          this.planSettled(node.nodeId, out);
        } else if (process) {
          const status = knownProcessStatus(process.status);
          if (status === undefined) {
            // no status, or one this coordinator does not know: the process's outcome is unknown,
            // so its row is the node's node_error (and counts as a failed node), never a guess
            this.failedNode(node);
            const error = `the agent sent ${process.status === 'KILL_STATUS_UNSPECIFIED' ? 'no kill status (KILL_STATUS_UNSPECIFIED)' : `kill status ${String(process.status)}, which this coordinator does not know`} for this process: its outcome is unknown`;
            this.emit(['node_error', ...this.opts.target.cells(process), node.host, node.port, node.nodeId, process.error ? `${error}; ${process.error}` : error, ...this.escalatedCell(process.escalated)], out);
            break;
          }
          const row = [status, ...this.opts.target.cells(process), node.host, node.port, node.nodeId, this.errorOf(node, process), ...this.escalatedCell(process.escalated)];
          this.emit(row, out);
        }
        break;
      }
      case 'done':
        this.planSettled(node.nodeId, out);
        break;
      case 'inactive':
        this.nodeMissed({ node, status: 'node_inactive', error: INACTIVE_MESSAGE }, out);
        break;
      case 'failed':
        if (ev.failure.kind === 'node_timeout') this.timedOut++;
        this.nodeMissed({ node, status: ev.failure.kind, error: ev.failure.message }, out);
        this.planSettled(node.nodeId, out);
        break;
    }
  }

  /** A row's error, with the clock skew that explains a refusal past its deadline. */
  private errorOf(node: MemberNode, process: NonNullable<KillResponse__Output['process']>): string {
    const pastMs = Number(process.past_deadline_ms);
    const skew = pastMs > 0 ? skewReason(this.opts.clocks?.offset(node.nodeId), pastMs) : undefined;
    return skew ? `${process.error}; ${skew}` : process.error;
  }

  /**
   * The plan from outside the nodes (the coordinators' door statements, for a kill by query_id),
   * with its rows, whenever it comes: it counts toward ACCESS_DENIED as the nodes' do, and its
   * rows are held as theirs are (until released; once the nodes' plans made something eligible
   * they are not waiting for it). Its failed coordinators fail the statement in throw mode as
   * failed nodes do. Returns the rows to send now; throws ACCESS_DENIED as push() does.
   */
  settleOutside({ plan, rows, failures, hosts }: OutsideOutcome): Row[] {
    const out: Row[] = [];
    this.plans.add(plan);
    this.outsideHosts += hosts;
    for (const f of failures) {
      if (f.status === 'node_timeout') this.timedOut++;
      this.failures.push(`${f.id} (${f.status})`);
    }
    for (const r of rows) this.emit(r, out);
    this.planSettled(OUTSIDE, out);
    return out;
  }

  /** Every event is in: rows still held go out (a cluster with no active node sends no plan to wait for). */
  end(): Row[] {
    const out: Row[] = [];
    if (!this.released) this.release(out);
    return out;
  }

  /** The nodes a durable kill must be queued for (empty unless `queueMissed`). */
  get missed(): readonly MissedNode[] {
    return this.toQueue;
  }

  /** Rows for the missed nodes once their durable kill is stored. */
  queued(killId: string, expiresAt: Date): Row[] {
    const until = expiresAt.toISOString();
    return this.take(this.toQueue.map((m) => this.nodeRow(m.node, 'queued', `${m.status}: queued as kill ${killId}, applied when the node returns (until ${until})`)));
  }

  /** Rows for the missed nodes when their durable kill could not be stored. */
  notQueued(why: string): Row[] {
    return this.take(this.toQueue.map((m) => this.nodeRow(m.node, m.status, `${m.error}; the kill could not be queued: ${why}`)));
  }

  /** Rows produced so far, held ones included. */
  get rows(): number {
    return this.produced;
  }

  /** After the rows: the error that fails the statement in throw mode, if a node failed. */
  failureError(): QuellError | undefined {
    if (!this.opts.throwOnNodeFailure || this.failures.length === 0) return undefined;
    return nodeFailuresError(this.opts.target.statement, this.failures, this.opts.nodes.length + this.outsideHosts, this.timedOut);
  }

  private planSettled(key: string, out: Row[]): void {
    this.unplanned.delete(key);
    if (this.released) return;
    if (this.unplanned.size === 1 && this.unplanned.has(OUTSIDE) && this.plans.eligible > 0) {
      // every node planned and something is eligible: no outside plan can make this ACCESS_DENIED,
      // so the nodes' rows do not wait for the other coordinators (up to their deadline)
      this.release(out);
      return;
    }
    if (this.unplanned.size > 0) return;
    if (this.plans.denied) {
      throw chError('ACCESS_DENIED', `User ${this.opts.user} attempts to kill ${this.opts.target.name} created by ${this.plans.skippedOwner}`);
    }
    this.release(out);
  }

  /** A node that answered with a row whose outcome is unknown fails the statement in throw mode, once. */
  private failedNode(node: MemberNode): void {
    const entry = `${node.nodeId} (node_error)`;
    if (!this.failures.includes(entry)) this.failures.push(entry);
  }

  private nodeMissed(m: MissedNode, out: Row[]): void {
    this.failures.push(`${m.node.nodeId} (${m.status})`);
    if (this.opts.queueMissed) this.toQueue.push(m);
    else this.emit(this.nodeRow(m.node, m.status, m.error), out);
  }

  private emit(row: Row, out: Row[]): void {
    this.produced++;
    if (this.released) out.push(row);
    else this.held.push(row);
  }

  private release(out: Row[]): void {
    this.released = true;
    out.push(...this.held.splice(0));
  }

  private take(rows: Row[]): Row[] {
    this.produced += rows.length;
    return rows;
  }

  /** A node's own row: its status and why, with the target's columns blank. */
  private nodeRow(node: MemberNode, status: string, error: string): Row {
    const blanks = this.opts.target.result.length - 5;
    return [status, ...new Array<string>(blanks).fill(''), node.host, node.port, node.nodeId, error, ...this.escalatedCell(false)];
  }

  /** The `escalated` cell, when the statement has the column. */
  private escalatedCell(escalated: boolean): Row {
    return this.opts.escalation ? [escalated ? 1 : 0] : [];
  }
}
