import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../common/daemon/logger';
import type { KillIntent } from '../../common/etcd/etcd-layout';
import { Backoff } from '../../common/etcd/backoff';
import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import { KillIntents } from './kill-intents';
import type { MutationRow } from '../tables/rows';
import type { MutationHooks } from '../service/workload-service';
import type { NodeIdentity } from '../presence/node-identity';
import { errorText } from '../../errors/error-text';
import type { KillRecorder } from '../kill/kill-record';
import type { KillLogEntry } from '../kill/kill-log';
import type { KillSink, QueuedKill } from '../kill/kill-executor';
import type { Candidate } from '../kill/row-rules';
import type { Served } from '../tables/served-table';
import type { RecordVerifier } from '../../common/tls';

/** how often a backend agent looks for server mutations that a pending durable kill names */
export const BACKEND_POLL_MS = 2_000;

export interface DurableKillsOptions {
  readonly etcd: Etcd3;
  readonly node: NodeIdentity;
  /** this node's system.mutations, killed through the path a KILL MUTATION takes (served-table.ts) */
  readonly mutations: Served;
  /** a compiled filter over mutations for an intent's WHERE (the agent's filter cache) */
  readonly filterFor: (where: string) => (r: MutationRow) => boolean;
  /**
   * set when nobody registers the mutations (a fronted server's): they are looked for this
   * often while an intent is pending; otherwise registrations and new intents start a round
   */
  readonly pollMs?: number;
  /** the node's kill log: a durable kill is logged before it is carried out, like any other */
  readonly recorder: KillRecorder;
  /**
   * the kill log's entries, read once at start by a polling agent: a queued kill it logged
   * before it stopped, and never recorded, may have been carried out
   */
  readonly history?: () => AsyncIterable<KillLogEntry>;
  readonly log: Logger;
  /** checks that a coordinator signed each intent; undefined with --insecure */
  readonly verifier?: RecordVerifier;
}

/** The Kill request a queued kill runs as: ASYNC, its id as the statement id, its WHERE and user. */
export function intentRequest(intent: KillIntent): KillRequest__Output {
  return {
    target: 'KILL_TARGET_MUTATION',
    where: intent.where,
    mode: 'KILL_MODE_ASYNC',
    soft: false,
    user: intent.user,
    // the coordinator checked the grant when it queued the kill; mutations have no owner
    may_kill_others: true,
    sync_timeout_ms: 0,
    statement_id: intent.id,
    query_only: false,
    client: '',
    condition: '',
    act_by_unix_ms: '0',
    reason: '',
    plan: false,
    order_by: [],
    picks: [],
    picked: false,
    limit: 0,
    escalate_after_ms: 0,
  };
}

/** The mutations one intent has been applied to here, as appliedKey names them. */
interface Progress {
  /** recorded in etcd (read once, then kept as this agent records more) */
  readonly recorded: Set<string>;
  /** carried out, not recorded yet (etcd refused the write): recorded again, never killed again */
  readonly unrecorded: Map<string, MutationRow>;
}

/** A mutation a queued kill was logged for before the agent stopped (kill log: mutation_id, query). */
interface Logged {
  readonly row: Pick<MutationRow, 'database' | 'table' | 'mutation_id'>;
  /** as MUTATION_ROWS.logged writes it */
  readonly query: string;
}

/**
 * The mutation of a queued kill's kill-log entry, from its query `ALTER TABLE db.table command`
 * (names with a dot in them are not told apart: such a mutation is looked for under the wrong
 * name, and the worst outcome is a second, harmless, KILL MUTATION).
 */
function loggedMutation(e: KillLogEntry): Logged | undefined {
  const m = /^ALTER TABLE ([^.]*)\.(\S*) /.exec(e.query);
  if (!m || e.mutation_id === '') return undefined;
  return { row: { database: m[1] ?? '', table: m[2] ?? '', mutation_id: e.mutation_id }, query: e.query };
}

const NO_SINK: KillSink = { write: () => undefined, closed: false };

/**
 * Durable mutation kills on this node (KILL MUTATION for a node that was down): the pending
 * intents from etcd are applied to every matching mutation once, whether it was registered
 * before the intent, after it, or runs on a fronted server (polled). Registrations wait for
 * `ready`, so none slips past a pending kill.
 *
 * Each application goes the way of any kill (Served.kill → executeKill): logged, then cancelled,
 * and only then recorded as applied in etcd. A mutation whose kill could not be logged (a full
 * disk) or whose cancel failed (a server that went away) is not recorded: the intent stays
 * pending for it and the next round tries again, after common/etcd/backoff.ts's delay. Rounds run one
 * at a time, so no mutation is cancelled twice by concurrent rounds; the record keeps it so
 * across restarts. An agent that dies between a cancel and its record finds on return that the
 * mutation is gone (the workload ended it, the server dropped it: nothing to cancel) or still
 * running (the cancel never reached it): then it is cancelled, which is what the intent asks; a
 * server takes a second KILL MUTATION of a mutation it is killing as a no-op. A polling agent
 * also reads the kill log at start, and records a kill it logged for a mutation the server no
 * longer lists, so that the applied count includes it (a workload's killed mutation never
 * registers again: it is not counted, and its kill-log entry shows the kill).
 */
export class DurableKills implements MutationHooks {
  private readonly intents: KillIntents;
  private readonly progress = new Map<string, Progress>();
  private readonly backoff = new Backoff();
  /** intents whose WHERE does not compile here, warned about once */
  private readonly unusable = new Set<string>();
  private loaded: () => void = () => undefined;
  readonly ready = new Promise<void>((resolve) => (this.loaded = resolve));
  private running: Promise<void> | undefined;
  /** something changed during a round: run another */
  private again = false;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** a round failed and nothing has succeeded since: one warning per streak */
  private failing = false;
  /**
   * by intent id: mutations its kill was logged for before this agent started, neither recorded
   * nor seen since; a polling agent records those its server no longer lists (nothing left to stop)
   */
  private readonly inDoubt = new Map<string, Logged[]>();

  constructor(private readonly o: DurableKillsOptions) {
    this.intents = new KillIntents(o.etcd, o.node.nodeId, o.node.clusters, o.filterFor, o.log, () => this.poke(), o.verifier);
  }

  /** Lists the pending intents (rejects when etcd cannot be read), then follows them. */
  async start(): Promise<void> {
    await this.intents.start();
    this.loaded();
    // every failure inside is caught and retried; this is a last resort that keeps the daemon up
    this.running = this.loop().catch((err: unknown) => this.o.log.error({ err: errorText(err) }, 'durable mutation kills stopped'));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.poke();
    await this.running;
    await this.intents.close();
  }

  registered(): void {
    this.poke();
  }

  /** Starts a round now, or right after the one running. */
  private poke(): void {
    this.again = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Rounds until closed: at once when poked, after a backoff when one failed, at the poll interval while polling. */
  private async loop(): Promise<void> {
    await this.readHistory();
    while (!this.closed) {
      this.again = false;
      const ok = await this.round();
      if (ok) this.backoff.reset();
      await this.pause(!ok ? this.backoff.next() : this.o.pollMs !== undefined && this.intents.size > 0 ? this.o.pollMs : undefined);
    }
  }

  /** Waits `ms` (forever when undefined) or until poked or closed. */
  private pause(ms: number | undefined): Promise<void> {
    if (this.again || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
      if (ms !== undefined)
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.wake = undefined;
          resolve();
        }, ms);
    });
  }

  /**
   * A polling agent that starts with pending intents reads its kill log for their entries: an
   * agent that died between a cancel and its record left only the entry. The mutation is then
   * killed again if the server still lists it, and recorded as applied if it does not.
   */
  private async readHistory(): Promise<void> {
    const history = this.o.history;
    if (this.o.pollMs === undefined || !history || this.intents.size === 0) return;
    const ids = new Set(this.intents.all().map((i) => i.id));
    try {
      for await (const e of history()) {
        if (!ids.has(e.statement_id) || e.target !== 'MUTATION' || e.kill_status !== 'waiting') continue;
        const logged = loggedMutation(e);
        if (!logged) continue;
        const list = this.inDoubt.get(e.statement_id) ?? [];
        if (!list.some((l) => l.query === logged.query && l.row.mutation_id === logged.row.mutation_id)) list.push(logged);
        this.inDoubt.set(e.statement_id, list);
      }
    } catch (err) {
      this.o.log.warn({ err: errorText(err) }, 'could not read the kill log for queued kills logged before the agent stopped');
    }
  }

  /** Applies every pending intent once to what this node runs now; false when something must be tried again. */
  private async round(): Promise<boolean> {
    const intents = this.intents.all();
    const ids = new Set(intents.map((i) => i.id));
    for (const id of this.progress.keys()) if (!ids.has(id)) this.progress.delete(id);
    let ok = true;
    for (const intent of intents) {
      if (this.closed) break;
      try {
        ok = (await this.applyIntent(intent)) && ok;
      } catch (err) {
        ok = false;
        this.warn({ kill_id: intent.id, err: errorText(err) }, 'durable mutation kill not applied; tried again');
      }
    }
    if (ok && this.failing) this.o.log.info('durable mutation kills apply again');
    this.failing = !ok;
    return ok;
  }

  /** One intent: its earlier kills recorded, then one kill of what it names and has not killed here. */
  private async applyIntent(intent: KillIntent): Promise<boolean> {
    if (intent.expires_at <= Date.now() / 1000 || !this.compiles(intent)) return true;
    let p = this.progress.get(intent.id);
    if (!p) {
      p = { recorded: await this.intents.applied(intent), unrecorded: new Map() };
      this.progress.set(intent.id, p);
    }
    let ok = await this.recordAll(intent, p);
    const taken = new Map<Candidate<unknown>, string>();
    const done: MutationRow[] = [];
    const listed = new Set<string>();
    const queued: QueuedKill = {
      takes: (c) => {
        const row = c.row as MutationRow;
        listed.add(this.intents.appliedKey(intent, row));
        if (!this.intents.matches(intent, row)) return false;
        const key = this.intents.appliedKey(intent, row);
        if (p.recorded.has(key) || p.unrecorded.has(key)) return false;
        taken.set(c, key);
        return true;
      },
      carriedOut: (c) => {
        const key = taken.get(c);
        if (key === undefined) return;
        p.unrecorded.set(key, c.row as MutationRow);
        done.push(c.row as MutationRow);
      },
    };
    await this.o.mutations.kill(intentRequest(intent), NO_SINK, { recorder: this.o.recorder, coordinator: '', queued });
    this.settleDoubts(intent, p, listed);
    for (const m of done) this.o.log.info({ kill_id: intent.id, mutation_id: m.mutation_id, database: m.database, table: m.table }, 'durable mutation kill applied');
    if (done.length < taken.size) {
      ok = false;
      this.warn({ kill_id: intent.id, not_carried_out: taken.size - done.length }, 'durable mutation kill not carried out (not logged, or the cancel failed); tried again');
    }
    return (await this.recordAll(intent, p)) && ok;
  }

  /**
   * After a round over the server's whole listing: a mutation logged before the agent started
   * that the server still lists was taken this round like any other; one it no longer lists is
   * gone (the kill took, or it ended), so the intent is done with it and it is recorded.
   */
  private settleDoubts(intent: KillIntent, p: Progress, listed: ReadonlySet<string>): void {
    const doubts = this.inDoubt.get(intent.id);
    if (!doubts) return;
    this.inDoubt.delete(intent.id);
    for (const d of doubts) {
      const key = this.intents.appliedKey(intent, d.row as MutationRow);
      if (listed.has(key) || p.recorded.has(key) || p.unrecorded.has(key)) continue;
      this.o.log.info({ kill_id: intent.id, mutation_id: d.row.mutation_id }, 'durable mutation kill logged before the agent stopped, and the mutation is gone: recorded as applied');
      p.unrecorded.set(key, d.row as MutationRow);
    }
  }

  /** Records the kills carried out and not recorded yet; false when etcd refused one. */
  private async recordAll(intent: KillIntent, p: Progress): Promise<boolean> {
    for (const [key, row] of [...p.unrecorded]) {
      try {
        await this.intents.record(intent, row);
      } catch (err) {
        this.warn({ kill_id: intent.id, mutation_id: row.mutation_id, err: errorText(err) }, 'could not record a durable kill as applied; tried again');
        return false;
      }
      p.unrecorded.delete(key);
      p.recorded.add(key);
    }
    return true;
  }

  /** A warning, once per streak of failing rounds: retries every second must not flood the log. */
  private warn(fields: Record<string, unknown>, msg: string): void {
    if (!this.failing) this.o.log.warn(fields, msg);
  }

  private compiles(intent: KillIntent): boolean {
    try {
      this.o.filterFor(intent.where);
      return true;
    } catch (err) {
      if (!this.unusable.has(intent.id)) this.o.log.warn({ kill_id: intent.id, err: errorText(err) }, 'kill intent does not compile; ignored');
      this.unusable.add(intent.id);
      return false;
    }
  }
}
