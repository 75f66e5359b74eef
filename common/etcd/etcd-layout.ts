/**
 * The etcd key layout (docs/etcd-layout.md). Both sides import it; nobody else builds keys.
 *   /quell/v1/members/<cluster>/<node_id>  persistent membership (MemberRecord)
 *   /quell/v1/alive/<node_id>              liveness under the agent's lease (AliveRecord)
 *   /quell/v1/node-owner/<node_id>         the one live agent of a node id, taken create-if-absent
 *                                          under its lease before it goes live (NodeOwnerRecord)
 *   /quell/v1/coordinators/<coordinator_id>  a live coordinator, taken create-if-absent under
 *                                          its lease (CoordinatorRecord)
 *   /quell/v1/server-ids/<server_id>       held under the agent's (or coordinator's) lease: the
 *                                          node id, or `coordinator/<id>`, as value
 *   /quell/v1/server-id-incarnations/<server_id>   persistent counter (common/thread-id.ts)
 *   /quell/v1/mutation-kills/<kill_id>     a durable mutation kill for nodes that were down
 *                                          (KillIntent), under a lease of mutation_kill_ttl
 *   /quell/v1/mutation-kills-applied/<kill_id>/<node_id>/<mutation>
 *                                          one application, under the same lease, so that it
 *                                          happens once
 *   /quell/v1/policies/<cluster>/<name>    a kill policy (common/etcd/kill-policy-record.ts), persistent
 *                                          until DROP KILL POLICY
 *   /quell/v1/kill-log-heads/<node_id>     the head of the node's kill log hash chain (KillLogHeadRecord),
 *                                          written by its agent, persistent
 * Kill policies and mutation kills are signed by a coordinator (common/etcd/signed-records.ts); who
 * may write what is etcdWrites below, as the README's etcd roles grant it.
 */
import type { RecordSignature } from '../tls/record-signature';

export const ROOT = '/quell/v1/';
export const MEMBERS_PREFIX = `${ROOT}members/`;
export const ALIVE_PREFIX = `${ROOT}alive/`;
export const KILL_INTENTS_PREFIX = `${ROOT}mutation-kills/`;
export const SERVER_IDS_PREFIX = `${ROOT}server-ids/`;
export const SERVER_ID_INCARNATIONS_PREFIX = `${ROOT}server-id-incarnations/`;
export const KILL_APPLIED_PREFIX = `${ROOT}mutation-kills-applied/`;
export const NODE_OWNER_PREFIX = `${ROOT}node-owner/`;
export const POLICIES_PREFIX = `${ROOT}policies/`;
export const KILL_LOG_HEADS_PREFIX = `${ROOT}kill-log-heads/`;
export const COORDINATORS_PREFIX = `${ROOT}coordinators/`;

export const DEFAULT_LEASE_TTL_SECONDS = 5;

export interface MemberRecord {
  readonly cluster: string;
  readonly node_id: string;
  /** last advertised host:port, so that a dead member can still be named with its address */
  readonly address: string;
  readonly joined_at: string;
}

export interface AliveRecord {
  readonly node_id: string;
  readonly address: string;
  readonly clusters: readonly string[];
  readonly started_at: string;
  readonly pid: number;
  /** cluster-wide server id: the prefix of this agent's thread ids (common/thread-id.ts) */
  readonly server_id?: number;
}

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** Whether a name may be a key segment: cluster names, node ids and policy names keep to a safe alphabet. */
export function isKeySegment(value: string): boolean {
  return NAME.test(value);
}

/** The rule isKeySegment checks, for messages. */
export const KEY_SEGMENT_RULE = 'use 1-128 characters from [A-Za-z0-9_.-]';

export function assertKeySegment(kind: 'cluster' | 'node id' | 'coordinator id', value: string): void {
  if (!isKeySegment(value)) {
    throw new Error(`invalid ${kind} '${value}': ${KEY_SEGMENT_RULE}`);
  }
}

export function memberKey(cluster: string, nodeId: string): string {
  return `${MEMBERS_PREFIX}${cluster}/${nodeId}`;
}

export function aliveKey(nodeId: string): string {
  return `${ALIVE_PREFIX}${nodeId}`;
}

/** Who holds a node id: the agent process that may serve it. */
export interface NodeOwnerRecord {
  readonly node_id: string;
  readonly address: string;
  readonly pid: number;
  readonly started_at: string;
  /** random per agent process: tells this agent's own older lease from another agent */
  readonly instance: string;
}

export function nodeOwnerKey(nodeId: string): string {
  return `${NODE_OWNER_PREFIX}${nodeId}`;
}

/**
 * A live coordinator (coordinator/cluster/registration.ts): the one process that holds its id, with what
 * system.coordinators shows of it. Its server id prefixes its door sessions' ids (common/thread-id.ts).
 */
export interface CoordinatorRecord {
  readonly id: string;
  /** the gRPC address clients dial */
  readonly address: string;
  /** the MySQL door's and the HTTP door's addresses, '' when closed */
  readonly mysql_address: string;
  readonly http_address: string;
  readonly version: string;
  readonly started_at: string;
  readonly pid: number;
  readonly instance: string;
  /** 0 until one is held */
  readonly server_id: number;
  /** statements running on it, as last published (at most every few seconds) */
  readonly statements_running: number;
}

export function coordinatorKey(coordinatorId: string): string {
  return `${COORDINATORS_PREFIX}${coordinatorId}`;
}

export function parseCoordinatorKey(key: string): string | undefined {
  if (!key.startsWith(COORDINATORS_PREFIX)) return undefined;
  const id = key.slice(COORDINATORS_PREFIX.length);
  return id && !id.includes('/') ? id : undefined;
}

export function serverIdKey(serverId: number): string {
  return `${SERVER_IDS_PREFIX}${serverId}`;
}

export function serverIdIncarnationKey(serverId: number): string {
  return `${SERVER_ID_INCARNATIONS_PREFIX}${serverId}`;
}

/** The server id a server-ids key (or, with its prefix, an incarnations key) names; undefined for foreign keys. */
export function parseServerIdKey(key: string, prefix = SERVER_IDS_PREFIX): number | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  return /^[1-9]\d{0,5}$/.test(rest) ? Number(rest) : undefined;
}

/** Parses a members key into its cluster and node id; undefined for foreign keys. */
export function parseMemberKey(key: string): { cluster: string; nodeId: string } | undefined {
  if (!key.startsWith(MEMBERS_PREFIX)) return undefined;
  const rest = key.slice(MEMBERS_PREFIX.length).split('/');
  if (rest.length !== 2 || !rest[0] || !rest[1]) return undefined;
  return { cluster: rest[0], nodeId: rest[1] };
}

export function parseAliveKey(key: string): string | undefined {
  if (!key.startsWith(ALIVE_PREFIX)) return undefined;
  const id = key.slice(ALIVE_PREFIX.length);
  return id && !id.includes('/') ? id : undefined;
}

/** host:port → parts; accepts [v6]:port. */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  if (!m?.[1] || !m[2]) return { host: address, port: 0 };
  return { host: m[1], port: Number(m[2]) };
}

/** A KILL MUTATION kept for member nodes that could not be reached when it ran. */
export interface KillIntent {
  readonly id: string;
  readonly cluster: string;
  /** canonical WHERE text over system.mutations */
  readonly where: string;
  readonly user: string;
  /**
   * when the KILL ran (unix seconds): as ClickHouse's queued kill runs once against what existed
   * then, a mutation created later is never touched by it
   */
  readonly created_at: number;
  readonly expires_at: number;
  /** the nodes that missed the kill and must apply it when they return */
  readonly nodes: readonly string[];
  /** etcd lease (decimal) that expires the intent and its application records */
  readonly lease: string;
  /** the coordinator's signature over the rest (common/tls/record-signature.ts); agents ignore an intent without a good one */
  readonly signature?: RecordSignature;
}

export function killIntentKey(id: string): string {
  return `${KILL_INTENTS_PREFIX}${id}`;
}

export function parseKillIntentKey(key: string): string | undefined {
  if (!key.startsWith(KILL_INTENTS_PREFIX)) return undefined;
  const id = key.slice(KILL_INTENTS_PREFIX.length);
  return id && !id.includes('/') ? id : undefined;
}

export function killAppliedKey(killId: string, nodeId: string, mutation: { database: string; table: string; mutation_id: string }): string {
  const m = [mutation.database, mutation.table, mutation.mutation_id].map(encodeURIComponent).join('.');
  return `${KILL_APPLIED_PREFIX}${killId}/${nodeId}/${m}`;
}

/** The kill id of an application record. */
export function parseKillAppliedKey(key: string): string | undefined {
  if (!key.startsWith(KILL_APPLIED_PREFIX)) return undefined;
  return key.slice(KILL_APPLIED_PREFIX.length).split('/')[0] || undefined;
}

export function policyKey(cluster: string, name: string): string {
  return `${POLICIES_PREFIX}${cluster}/${name}`;
}

/** The cluster and name of a policy key; undefined for foreign keys. */
export function parsePolicyKey(key: string): { cluster: string; name: string } | undefined {
  if (!key.startsWith(POLICIES_PREFIX)) return undefined;
  const rest = key.slice(POLICIES_PREFIX.length).split('/');
  if (rest.length !== 2 || !rest[0] || !rest[1]) return undefined;
  return { cluster: rest[0], name: rest[1] };
}

/**
 * Where a node's kill log hash chain stood when its agent last published it (docs/statement-path.md
 * §The kill log): the last synced entry's seq and SHA-256. A log read later must reach it unchanged.
 */
export interface KillLogHeadRecord {
  readonly node_id: string;
  readonly seq: number;
  /** lowercase hex */
  readonly hash: string;
  /** ISO time of the publication */
  readonly published_at: string;
}

export function killLogHeadKey(nodeId: string): string {
  return `${KILL_LOG_HEADS_PREFIX}${nodeId}`;
}

/**
 * What each daemon writes in etcd, as etcd's role permissions grant it (README §etcd roles):
 * `keys` are single keys, `prefixes` whole key ranges. Everything else under ROOT is read-only to
 * it. An agent's own keys name its node id, so each node's etcd user can be held to its own.
 */
export interface EtcdWrites {
  readonly keys: readonly string[];
  readonly prefixes: readonly string[];
}

/** Shared by every agent: server ids are picked from a shared space; applications of queued kills are per kill. */
export const AGENT_SHARED_WRITES: EtcdWrites = {
  keys: [],
  prefixes: [SERVER_IDS_PREFIX, SERVER_ID_INCARNATIONS_PREFIX, KILL_APPLIED_PREFIX],
};

/** One agent's own keys: its liveness, its node-owner hold, its kill log's head, and its membership of each of its clusters. */
export function agentOwnWrites(nodeId: string, clusters: readonly string[]): EtcdWrites {
  return { keys: [aliveKey(nodeId), nodeOwnerKey(nodeId), killLogHeadKey(nodeId), ...clusters.map((c) => memberKey(c, nodeId))], prefixes: [] };
}

/**
 * A coordinator writes what a statement stores (queued mutation kills and kill policies, both
 * signed), its registration (coordinators/<id>), and a server id from the space agents share.
 */
export const COORDINATOR_WRITES: EtcdWrites = {
  keys: [],
  prefixes: [KILL_INTENTS_PREFIX, POLICIES_PREFIX, COORDINATORS_PREFIX, SERVER_IDS_PREFIX, SERVER_ID_INCARNATIONS_PREFIX],
};
