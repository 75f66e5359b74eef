import type { Logger } from '../../common/daemon/logger';
import {
  ROOT,
  parseAliveKey,
  parseCoordinatorKey,
  type CoordinatorRecord,
  parseKillAppliedKey,
  parseKillIntentKey,
  type KillIntent,
  parseMemberKey,
  parsePolicyKey,
  policyKey,
  splitAddress,
  type AliveRecord,
  type MemberRecord,
} from '../../common/etcd/etcd-layout';
import { ListWatch, type ListWatchState, type WatchSource } from '../../common/etcd/list-watch';
import { Backoff } from '../../common/etcd/backoff';
import { isUnreadable, parsePolicyRecord, type PolicyRecord } from '../../common/etcd/kill-policy-record';
import { compareValues } from '../../sql/sort';

/** A member node of a cluster as the coordinator sees it right now. */
export interface MemberNode {
  readonly cluster: string;
  readonly nodeId: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** holds a live lease */
  readonly active: boolean;
  /** the prefix of its thread ids (common/thread-id.ts), when it is live */
  readonly serverId?: number;
}

interface Snapshot {
  members: Map<string, Map<string, MemberRecord>>;
  alive: Map<string, AliveRecord>;
  /** durable mutation kills and how many times each was applied */
  intents: Map<string, KillIntent>;
  applied: Map<string, number>;
  /** kill policies by their key */
  policies: Map<string, PolicyRecord>;
  /** live coordinators by id (coordinator/cluster/registration.ts) */
  coordinators: Map<string, CoordinatorRecord>;
}

/** How many departed coordinators a view remembers. */
const DEPARTED_KEPT = 256;

function emptySnapshot(): Snapshot {
  return { members: new Map(), alive: new Map(), intents: new Map(), applied: new Map(), policies: new Map(), coordinators: new Map() };
}

function parseJson<T>(raw: string): T | undefined {
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}

/**
 * Cluster membership from etcd: a list-watch of everything under /quell/v1/ (common/etcd/list-watch.ts).
 * Statements read the in-memory view only; etcd is never read per statement.
 */
export class ClusterMembership {
  private state: Snapshot = emptySnapshot();
  private readonly view: ListWatch;
  private readonly listeners = new Set<() => void>();
  /** nodes(cluster) as of the current view; emptied on every change */
  private readonly nodesByCluster = new Map<string, readonly MemberNode[]>();
  /** coordinators seen leaving, by server id, so that a KILL of one's session can name it; the latest DEPARTED_KEPT */
  private readonly departed = new Map<number, CoordinatorRecord>();

  /** `source`: etcd (common/etcd/list-watch.ts etcdWatchSource); `backoff`: between re-lists after a broken watch */
  constructor(
    source: WatchSource,
    private readonly log: Logger,
    backoff = new Backoff(),
  ) {
    this.view = new ListWatch(
      source,
      ROOT,
      {
        reset: (kvs) => {
          const next = emptySnapshot();
          for (const kv of kvs) this.apply(next, kv.key, kv.value);
          // a coordinator that left while the view was not watching (an etcd outage) left all the same
          for (const [id, was] of this.state.coordinators) if (next.coordinators.get(id)?.server_id !== was.server_id) this.rememberDeparted(was);
          this.state = next;
          this.emit();
          this.log.info({ revision: this.listedRevision, clusters: this.clusters().length, alive: next.alive.size }, 'membership listed');
        },
        // keys the view does not hold (kill-log heads, node owners, server ids), which agents
        // write as they work, change nothing: the listeners, each a pass over every node, are
        // not told (at 100 agents publishing heads, that was a pass per statement)
        put: (key, value) => {
          if (this.apply(this.state, key, value)) this.emit();
        },
        remove: (key) => {
          if (this.remove(this.state, key)) this.emit();
        },
      },
      log,
      backoff,
    );
  }

  /** revision of the last list, for tests and logs */
  get listedRevision(): number {
    return this.view.listedRevision;
  }

  async start(): Promise<void> {
    await this.view.start();
  }

  /** `watching` while the view follows etcd; anything else means etcd is out of reach (or not listed yet). */
  get viewState(): ListWatchState {
    return this.view.state;
  }

  onViewState(listener: (state: ListWatchState) => void): void {
    this.view.onState(listener);
  }

  async close(): Promise<void> {
    await this.view.close();
  }

  /** Called after every change of the view, that is of a key it holds (new channels are opened from here). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  clusters(): string[] {
    return [...this.state.members.keys()].sort();
  }

  hasCluster(cluster: string): boolean {
    return (this.state.members.get(cluster)?.size ?? 0) > 0;
  }

  /**
   * Members of a cluster, ordered by node id, each with its current address and liveness. Built
   * once per change of the view, not per statement: a statement to 1,000 agents asks for them.
   */
  nodes(cluster: string): readonly MemberNode[] {
    let nodes = this.nodesByCluster.get(cluster);
    if (!nodes) this.nodesByCluster.set(cluster, (nodes = Object.freeze(this.buildNodes(cluster))));
    return nodes;
  }

  private buildNodes(cluster: string): MemberNode[] {
    const members = this.state.members.get(cluster);
    if (!members) return [];
    const out: MemberNode[] = [];
    for (const [nodeId, rec] of members) {
      const alive = this.state.alive.get(nodeId);
      const address = alive?.address ?? rec.address;
      const { host, port } = splitAddress(address);
      out.push({ cluster, nodeId, address, host, port, active: alive !== undefined, serverId: alive?.server_id });
    }
    return out.sort((a, b) => compareValues(a.nodeId, b.nodeId));
  }

  /** Pending durable mutation kills with their application counts. */
  killQueue(): { intent: KillIntent; applied: number }[] {
    return [...this.state.intents.values()].map((intent) => ({ intent, applied: this.state.applied.get(intent.id) ?? 0 }));
  }

  /** The kill policies of every cluster, ordered by cluster and name. */
  killPolicies(): PolicyRecord[] {
    return [...this.state.policies.values()].sort((a, b) => compareValues(a.cluster, b.cluster) || compareValues(a.name, b.name));
  }

  hasPolicy(cluster: string, name: string): boolean {
    return this.state.policies.has(policyKey(cluster, name));
  }

  /** The live coordinators (this one too, once registered), ordered by id. */
  coordinators(): CoordinatorRecord[] {
    return [...this.state.coordinators.values()].sort((a, b) => compareValues(a.id, b.id));
  }

  /** The last coordinator seen leaving that held this server id (this coordinator's view since it started), if none holds it now. */
  departedCoordinator(serverId: number): CoordinatorRecord | undefined {
    return [...this.state.coordinators.values()].some((c) => c.server_id === serverId) ? undefined : this.departed.get(serverId);
  }

  /** Every live agent, whatever its clusters. */
  liveNodes(): AliveRecord[] {
    return [...this.state.alive.values()];
  }

  /** Takes one key into the snapshot; false when the view does not hold such keys. */
  private apply(s: Snapshot, key: string, value: string): boolean {
    const member = parseMemberKey(key);
    if (member) {
      const rec = parseJson<MemberRecord>(value);
      if (!rec) return true;
      let byNode = s.members.get(member.cluster);
      if (!byNode) s.members.set(member.cluster, (byNode = new Map()));
      byNode.set(member.nodeId, { ...rec, cluster: member.cluster, node_id: member.nodeId });
      return true;
    }
    const nodeId = parseAliveKey(key);
    if (nodeId) {
      const rec = parseJson<AliveRecord>(value);
      // an agent nobody can dial is not live: a bad address must not break the channel pool
      if (rec && typeof rec.address === 'string' && splitAddress(rec.address).port > 0) s.alive.set(nodeId, { ...rec, node_id: nodeId });
      else this.log.warn({ node_id: nodeId }, 'ignoring an alive record without a usable address');
      return true;
    }
    const coordinatorId = parseCoordinatorKey(key);
    if (coordinatorId) {
      const rec = parseJson<CoordinatorRecord>(value);
      if (rec && typeof rec === 'object') s.coordinators.set(coordinatorId, { ...rec, id: coordinatorId });
      return true;
    }
    const killId = parseKillIntentKey(key);
    if (killId) {
      const rec = parseJson<KillIntent>(value);
      if (rec) s.intents.set(killId, rec);
      return true;
    }
    const appliedTo = parseKillAppliedKey(key);
    if (appliedTo) {
      s.applied.set(appliedTo, (s.applied.get(appliedTo) ?? 0) + 1);
      return true;
    }
    const policy = parsePolicyKey(key);
    if (!policy) return false;
    const rec = parsePolicyRecord(policy, value);
    // the agents skip it too: it is not shown as if it ran
    if (isUnreadable(rec)) {
      s.policies.delete(key);
      this.log.warn({ cluster: policy.cluster, policy: policy.name, reason: rec.unreadable }, 'ignoring an unreadable kill policy record');
    } else s.policies.set(key, rec);
    return true;
  }

  /** Removes one key from the snapshot; false when the view does not hold such keys. */
  private remove(s: Snapshot, key: string): boolean {
    const member = parseMemberKey(key);
    if (member) {
      const byNode = s.members.get(member.cluster);
      byNode?.delete(member.nodeId);
      if (byNode?.size === 0) s.members.delete(member.cluster);
      return true;
    }
    const nodeId = parseAliveKey(key);
    if (nodeId) {
      s.alive.delete(nodeId);
      return true;
    }
    const coordinatorId = parseCoordinatorKey(key);
    if (coordinatorId) {
      const gone = s.coordinators.get(coordinatorId);
      if (gone) this.rememberDeparted(gone);
      s.coordinators.delete(coordinatorId);
      return true;
    }
    const killId = parseKillIntentKey(key);
    if (killId) {
      s.intents.delete(killId);
      s.applied.delete(killId);
      return true;
    }
    return s.policies.delete(key);
  }

  /** A coordinator seen leaving, the latest DEPARTED_KEPT by server id. */
  private rememberDeparted(gone: CoordinatorRecord): void {
    if (typeof gone.server_id !== 'number' || gone.server_id <= 0) return;
    this.departed.delete(gone.server_id);
    this.departed.set(gone.server_id, gone);
    if (this.departed.size > DEPARTED_KEPT) this.departed.delete(this.departed.keys().next().value as number);
  }

  private emit(): void {
    this.nodesByCluster.clear();
    for (const l of this.listeners) l();
  }
}

