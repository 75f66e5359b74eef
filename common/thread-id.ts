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
 */
export const SERVER_ID_BITS = 13;
export const INCARNATION_BITS = 16;
export const COUNTER_BITS = 24;
export const MAX_SERVER_ID = 2 ** SERVER_ID_BITS - 1;
const LOCAL = 2 ** (INCARNATION_BITS + COUNTER_BITS);
const COUNTER = 2 ** COUNTER_BITS;
const INCARNATIONS = 2 ** INCARNATION_BITS;

export function makeId(serverId: number, incarnation: number, counter: number): number {
  if (!Number.isInteger(serverId) || serverId < 1 || serverId > MAX_SERVER_ID) throw new RangeError(`server id ${serverId} out of range`);
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
