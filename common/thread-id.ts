/**
 * Cluster-wide MariaDB thread ids and query ids (like TiDB's global kill): the owning agent
 * is computed from the id itself, so `KILL <id>` goes straight to one node.
 *
 *   id = server_id · 2^40 + incarnation · 2^24 + counter
 *
 * - server_id (13 bits, 1..8191): unique among live agents, held in etcd under the agent's
 *   lease at /quell/v1/server-ids/<server_id>;
 * - incarnation (16 bits): bumped in etcd (/quell/v1/server-id-incarnations/<server_id>) each
 *   time a server id is taken, so an agent that restarts with the same server id never hands
 *   out an id an earlier holder used;
 * - counter (24 bits): per agent, from 1.
 * Every id stays below 2^53, so it is exact in JSON and in JavaScript numbers.
 *
 * A coordinator's door session (a MySQL connection to the coordinator itself) has an id in
 * MariaDB's 32-bit range, because the handshake carries it in 32 bits and the `mariadb`
 * client's Ctrl-C sends `KILL QUERY <that id>` (TiDB keeps its ids in 32 bits for the same reason):
 *
 *   id = 2^31 (the coordinator bit) + server_id · 2^18 + (incarnation mod 4) · 2^16 + counter
 *
 * - the coordinator bit (bit 31) says "a coordinator's session"; agent ids are ≥ 2^40;
 * - server_id (13 bits): the coordinator's, from the same space and etcd keys as the agents'
 *   (common/etcd/server-id.ts), so one id names one process whichever kind it is;
 * - incarnation (2 bits): the low bits of the server id's incarnation, so a coordinator that
 *   takes a server id another one held moments ago does not make that one's ids;
 * - counter (16 bits): per coordinator, from 1; it wraps past the ids still in use.
 * Ids below 2^31 + 2^18 and between 2^32 and 2^40 are nobody's. idOwner() reads either kind.
 */
export const SERVER_ID_BITS = 13;
export const INCARNATION_BITS = 16;
export const COUNTER_BITS = 24;
export const MAX_SERVER_ID = 2 ** SERVER_ID_BITS - 1;

/** Throws unless `serverId` is one a server may hold (1 … MAX_SERVER_ID). */
function checkServerId(serverId: number): void {
  if (!Number.isInteger(serverId) || serverId < 1 || serverId > MAX_SERVER_ID) throw new RangeError(`server id ${serverId} out of range`);
}
const LOCAL = 2 ** (INCARNATION_BITS + COUNTER_BITS);
const COUNTER = 2 ** COUNTER_BITS;
const INCARNATIONS = 2 ** INCARNATION_BITS;

export function makeId(serverId: number, incarnation: number, counter: number): number {
  checkServerId(serverId);
  if (counter < 1 || counter >= COUNTER) throw new RangeError(`id counter ${counter} exhausted`);
  return serverId * LOCAL + (incarnation % INCARNATIONS) * COUNTER + counter;
}

/** The server id an id was made by; 0 for ids no agent makes (0, negatives, fractions, ≥ 2^53). */
export function serverIdOf(id: number): number {
  if (!Number.isSafeInteger(id) || id < LOCAL) return 0;
  return Math.floor(id / LOCAL);
}

const LOCAL_PART = LOCAL;

/**
 * Ids of connections on a database server an agent fronts: the server's own thread id (or
 * query id) below the agent's server id, `server_id · 2^40 + server_local_id`. The server's
 * ids are stable across agent restarts, so no incarnation is needed; they must stay below 2^40.
 */
export function makeMappedId(serverId: number, serverLocalId: number): number {
  if (!Number.isInteger(serverLocalId) || serverLocalId < 1 || serverLocalId >= LOCAL_PART) throw new RangeError(`server-local id ${serverLocalId} out of range`);
  return makeId(serverId, 0, 1) - 1 + serverLocalId;
}

/** The server-local part of a mapped id (see makeMappedId). */
export function localPartOf(id: number): number {
  return id % LOCAL_PART;
}

/** Bit 31: set in every coordinator session id (and in no agent id, which are all ≥ 2^40). */
export const COORDINATOR_BIT = 2 ** 31;
export const SESSION_INCARNATION_BITS = 2;
export const SESSION_COUNTER_BITS = 16;
const SESSION_COUNTER = 2 ** SESSION_COUNTER_BITS;
const SESSION_LOCAL = 2 ** (SESSION_INCARNATION_BITS + SESSION_COUNTER_BITS);
const SESSION_INCARNATIONS = 2 ** SESSION_INCARNATION_BITS;
/** The largest id a coordinator session can have: 2^32 - 1. */
export const MAX_SESSION_ID = COORDINATOR_BIT + (MAX_SERVER_ID + 1) * SESSION_LOCAL - 1;
/** How many sessions one coordinator can have open at once: the counter's values. */
export const SESSION_COUNTER_LIMIT = SESSION_COUNTER - 1;

/** A coordinator session's id (see the layout above); counter 1..2^16 - 1. */
export function makeSessionId(serverId: number, incarnation: number, counter: number): number {
  checkServerId(serverId);
  if (!Number.isInteger(counter) || counter < 1 || counter >= SESSION_COUNTER) throw new RangeError(`session counter ${counter} out of range`);
  return COORDINATOR_BIT + serverId * SESSION_LOCAL + (incarnation % SESSION_INCARNATIONS) * SESSION_COUNTER + counter;
}

/** Who made an id: an agent (a connection or query it serves) or a coordinator (a door session), and its server id. */
export interface IdOwner {
  readonly kind: 'agent' | 'coordinator';
  readonly serverId: number;
}

/** Whose an id is, from the id alone; undefined for ids nobody makes. */
export function idOwner(id: number): IdOwner | undefined {
  if (!Number.isSafeInteger(id) || id < 1) return undefined;
  const agent = serverIdOf(id);
  if (agent > 0) return { kind: 'agent', serverId: agent };
  if (id < COORDINATOR_BIT || id > MAX_SESSION_ID) return undefined;
  const serverId = Math.floor((id - COORDINATOR_BIT) / SESSION_LOCAL);
  return serverId > 0 ? { kind: 'coordinator', serverId } : undefined;
}

/**
 * A statement's query_id when its client named none: `c<server_id>-<uuid>`, the coordinator's
 * server id first (as its sessions' ids carry it), so `KILL QUERY WHERE query_id = …` can tell
 * which coordinator ran it even after that one left. A client-chosen query_id carries nothing.
 */
export function makeQueryId(serverId: number, uuid: string): string {
  checkServerId(serverId);
  return `c${serverId}-${uuid}`;
}

const QUERY_ID = /^c(\d{1,4})-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The server id of the coordinator that made a query_id (makeQueryId); undefined for any other text. */
export function queryIdServerId(queryId: string): number | undefined {
  const digits = QUERY_ID.exec(queryId)?.[1];
  const serverId = digits === undefined ? 0 : Number(digits);
  return serverId >= 1 && serverId <= MAX_SERVER_ID ? serverId : undefined;
}
