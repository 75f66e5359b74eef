import type { OrderItem } from '../../../sql/ast';
import { chError } from '../../../errors/quell-error';
import type { PlannedProcess__Output } from '../../../proto/generated/quell/v1/PlannedProcess';
import { decodeValue } from '../../../proto/codec';
import { compareRows } from '../../../sql/sort';
import type { SqlValue } from '../../../sql/types';
import type { MemberNode } from '../../cluster/membership';

/** The most processes one ranked kill may choose: its plans stay small, and a bigger cull is a plain KILL … WHERE. */
export const MAX_RANKED_LIMIT = 1000;

/**
 * A ranked kill's LIMIT, checked before anything is sent: ORDER BY needs one (without it every
 * match is killed, and an order would choose nothing), and it lies in 1..MAX_RANKED_LIMIT.
 * Undefined: not a ranked kill.
 */
export function rankedLimit(orderBy: readonly OrderItem[], limit: number | undefined): number | undefined {
  if (limit === undefined) {
    if (orderBy.length === 0) return undefined;
    throw chError('BAD_ARGUMENTS', 'ORDER BY in KILL needs LIMIT n: the order decides which n matches are killed (leave both out to kill every match)');
  }
  if (limit < 1 || limit > MAX_RANKED_LIMIT) {
    throw chError('BAD_ARGUMENTS', `LIMIT ${limit} is out of range: a ranked KILL chooses 1 to ${MAX_RANKED_LIMIT} processes`);
  }
  return limit;
}

/** One node's phase-one answer: its first matches, in its own order (its keys, then the oldest first). */
export interface NodePlan {
  readonly node: MemberNode;
  readonly planned: readonly PlannedProcess__Output[];
}

/** What phase two sends one node: the processes of its plan that were chosen. */
export interface NodePicks {
  readonly node: MemberNode;
  readonly picks: PlannedProcess__Output[];
}

/**
 * The cluster-wide choice: the first `limit` of all plans by the ORDER BY keys (ClickHouse's
 * order: sql/sort.ts), ties going to the node id that sorts first and then to each node's own
 * order. Nodes with nothing chosen are left out.
 */
export function choose(plans: readonly NodePlan[], desc: readonly boolean[], limit: number): NodePicks[] {
  const keys = desc.map((d, index) => ({ index, desc: d }));
  const all: { node: MemberNode; p: PlannedProcess__Output; values: SqlValue[] }[] = [];
  for (const plan of [...plans].sort((a, b) => (a.node.nodeId < b.node.nodeId ? -1 : a.node.nodeId > b.node.nodeId ? 1 : 0))) {
    for (const p of plan.planned) all.push({ node: plan.node, p, values: p.order_by.map(decodeValue) });
  }
  // Array.prototype.sort is stable: ties keep node, then plan, order
  all.sort((a, b) => compareRows(a.values, b.values, keys));
  const byNode = new Map<string, NodePicks>();
  for (const x of all.slice(0, limit)) {
    const at = byNode.get(x.node.nodeId) ?? { node: x.node, picks: [] };
    at.picks.push(x.p);
    byNode.set(x.node.nodeId, at);
  }
  return [...byNode.values()];
}
