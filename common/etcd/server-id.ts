import type { Etcd3, PutBuilder } from 'etcd3';
import type { Logger } from '../daemon/logger';
import { parseServerIdKey, serverIdIncarnationKey, serverIdKey, SERVER_ID_INCARNATIONS_PREFIX, SERVER_IDS_PREFIX } from './etcd-layout';
import { MAX_SERVER_ID } from '../thread-id';
import { transaction, type Compare } from './etcd-txn';

/** A server id held in etcd with the incarnation it was taken with: the prefix of every id this agent makes. */
export interface ServerIdHold {
  readonly serverId: number;
  readonly incarnation: number;
}

/** Every server id is held by a live agent or coordinator: this one cannot make ids. */
export class NoFreeServerIdError extends Error {}

/** How many times the free list is re-read when other agents keep winning the ids on it. */
const LIST_ATTEMPTS = 5;
/** After a lost race, the next try picks among this many of the smallest free ids. */
const SPREAD = 8;

/** An incarnation counter as listed: its value and the mod revision a bump must compare with. */
interface Counter {
  readonly value: number;
  readonly modRevision: string;
}

/** A free server id as listed, with its counter: what a first claim tries. */
export interface ServerIdChoice {
  readonly serverId: number;
  readonly counter: Counter | undefined;
}

/** What takes a chosen id in a transaction: its conditions, its writes and the incarnation they write. */
export interface ServerIdTake {
  readonly compares: [Compare, Compare];
  readonly puts: PutBuilder[];
  readonly hold: ServerIdHold;
}

/** The value a coordinator's server-ids key holds: never a node id, whose alphabet has no '/'. */
export function coordinatorHolder(coordinatorId: string): string {
  return `coordinator/${coordinatorId}`;
}

/**
 * This agent's (or coordinator's) cluster-wide server id (common/thread-id.ts): agents and
 * coordinators take them from one space, so an id names one process whichever kind made it. It is held at
 * /quell/v1/server-ids/<id> under the agent's lease (the membership owns the lease: its first
 * join takes the id with firstChoice()/inTransaction()/adopt() in the join's one transaction,
 * or calls claim() when that failed, and every re-grant calls claim()), so it is free again when
 * the agent dies.
 *
 * The first claim takes the smallest free id with a create-if-absent transaction that also
 * bumps the id's persistent incarnation counter (compare-and-swap on its mod revision): an
 * agent that takes an id some earlier agent held never makes an id that one made.
 * After a lost lease, claim() re-takes the same id and keeps the incarnation, so the ids of the
 * connections already open still name this node. If another agent took the id in the gap,
 * this agent takes a new id with a new incarnation: no id is ever made twice, but KILL of a
 * connection opened before then routes to the other agent and finds nothing (logged as an error).
 */
export class ServerId {
  private current: ServerIdHold | undefined;
  private resolveReady: () => void = () => undefined;
  /** resolves once the first id is held: ids can be made */
  readonly ready = new Promise<void>((resolve) => (this.resolveReady = resolve));

  constructor(
    private readonly etcd: Etcd3,
    /** what the server-ids key holds: an agent's node id, or `coordinator/<id>` (coordinatorHolder()) */
    private readonly holder: string,
    private readonly log: Logger,
  ) {}

  /** The id held now; undefined before the first claim. A new object whenever the id or incarnation changes. */
  get held(): ServerIdHold | undefined {
    return this.current;
  }

  /** The server id (0 before the first claim), for alive records and Info. */
  get value(): number {
    return this.current?.serverId ?? 0;
  }

  /** Takes a server id under the lease; rejects on etcd errors (the caller retries) or NoFreeServerIdError. */
  async claim(leaseId: string): Promise<ServerIdHold> {
    const before = this.current;
    if (before) {
      const holder = await this.retake(before.serverId, leaseId);
      if (holder === undefined) return before;
      this.log.error(
        { server_id: before.serverId, holder },
        'SERVER ID LOST: another agent took this agent\'s server id while its lease was gone; taking a new one. ' +
          'KILL by id of connections opened before now reaches that agent and finds nothing',
      );
    }
    const hold = await this.takeSmallestFree(leaseId);
    this.adopt(hold);
    return hold;
  }

  /**
   * The smallest free id, listed without a lease: the agent's first join reads it while its
   * lease is granted, then takes it in the same transaction as everything else (inTransaction() and
   * adopt()). Undefined when none is free (claim() then says so).
   */
  async firstChoice(): Promise<ServerIdChoice | undefined> {
    const { free, counters } = await this.listFree();
    const id = free[0];
    return id === undefined ? undefined : { serverId: id, counter: counters.get(id) };
  }

  /**
   * The conditions and writes that take `choice` under the lease: the id's key is created if
   * absent and its incarnation counter bumped if it is still as listed.
   */
  inTransaction(choice: ServerIdChoice, leaseId: string): ServerIdTake {
    const key = serverIdKey(choice.serverId);
    const incKey = serverIdIncarnationKey(choice.serverId);
    const counter = choice.counter;
    const previous = counter && Number.isSafeInteger(counter.value) && counter.value > 0 ? counter.value : 0;
    const incarnation = previous + 1;
    return {
      // a missing key compares as mod revision 0
      compares: [
        [key, 'Create', '==', 0],
        [incKey, 'Mod', '==', counter?.modRevision ?? 0],
      ],
      puts: [this.etcd.put(key).value(this.holder).lease(leaseId), this.etcd.put(incKey).value(String(incarnation))],
      hold: { serverId: choice.serverId, incarnation },
    };
  }

  /** The first hold, taken by a transaction of the caller's built with inTransaction(). */
  adopt(hold: ServerIdHold): void {
    this.current = hold;
    this.log.info({ server_id: hold.serverId, incarnation: hold.incarnation }, 'server id taken');
    this.resolveReady();
  }

  /**
   * Takes `serverId` again under a new lease. Undefined when it is ours again; otherwise the
   * node id that holds it. A key still held under an older lease of this same node (etcd has
   * not expired it yet) is taken over.
   */
  private async retake(serverId: number, leaseId: string): Promise<string | undefined> {
    const key = serverIdKey(serverId);
    const created = await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(this.holder).lease(leaseId)).commit();
    if (created.succeeded) return undefined;
    const res = await this.etcd.get(key).exec();
    const kv = res.kvs[0];
    if (!kv) return this.retake(serverId, leaseId); // expired between the two calls
    const holder = kv.value.toString();
    if (holder !== this.holder) return holder;
    const moved = await this.etcd.if(key, 'Mod', '==', kv.mod_revision).then(this.etcd.put(key).value(this.holder).lease(leaseId)).commit();
    return moved.succeeded ? undefined : holder;
  }

  private async takeSmallestFree(leaseId: string): Promise<ServerIdHold> {
    for (let attempt = 0; attempt < LIST_ATTEMPTS; attempt++) {
      const { free, counters } = await this.listFree();
      if (free.length === 0) break;
      for (let lost = 0; free.length > 0; lost++) {
        // the smallest free id; once a race is lost, one of the next few at random, so that
        // agents starting together stop all trying the same id
        const [id] = free.splice(lost === 0 ? 0 : Math.floor(Math.random() * Math.min(free.length, SPREAD)), 1);
        if (id === undefined) break;
        const incarnation = await this.tryTake(id, leaseId, counters.get(id));
        if (incarnation !== undefined) return { serverId: id, incarnation };
      }
    }
    throw new NoFreeServerIdError(`no free server id: all ${MAX_SERVER_ID} are held by live agents (or lost too many races for them)`);
  }

  /** The free ids in ascending order, and every incarnation counter. */
  private async listFree(): Promise<{ free: number[]; counters: Map<number, Counter> }> {
    const [heldKeys, counterKvs] = await Promise.all([
      this.etcd.getAll().prefix(SERVER_IDS_PREFIX).keys(),
      this.etcd.getAll().prefix(SERVER_ID_INCARNATIONS_PREFIX).exec(),
    ]);
    const taken = new Set(heldKeys.map((k) => parseServerIdKey(k)));
    const counters = new Map<number, Counter>();
    for (const kv of counterKvs.kvs) {
      const id = parseServerIdKey(kv.key.toString(), SERVER_ID_INCARNATIONS_PREFIX);
      if (id !== undefined) counters.set(id, { value: Number(kv.value.toString()), modRevision: kv.mod_revision });
    }
    const free: number[] = [];
    for (let id = 1; id <= MAX_SERVER_ID; id++) if (!taken.has(id)) free.push(id);
    return { free, counters };
  }

  /** One transaction (inTransaction()): the new incarnation, or undefined when the key or the counter changed. */
  private async tryTake(serverId: number, leaseId: string, counter: Counter | undefined): Promise<number | undefined> {
    const t = this.inTransaction({ serverId, counter }, leaseId);
    const txn = await transaction(this.etcd, ...t.compares)
      .then(...t.puts)
      .commit();
    return txn.succeeded ? t.hold.incarnation : undefined;
  }
}
