import type { Etcd3 } from 'etcd3';
import type { Logger } from '../common/logger';
import type { KillIntent } from '../common/etcd-layout';
import { Sleeper } from '../common/backoff';
import { KillIntents } from './kill-intents';
import type { MutationTable } from './mutation-table';
import type { LiveEntry } from './live-table';
import type { MutationRow } from './rows';
import type { MutationHooks } from './workload-service';
import type { NodeIdentity } from './node-identity';
import type { Backend } from './backends/backend';
import { errorText } from '../errors/error-text';
import { entriesOf, type KillRecorder } from './kill-record';
import { MUTATION_ROWS } from './kill-subjects';
import type { RecordVerifier } from '../common/tls';

/** how often a backend agent looks for server mutations that a pending durable kill names */
const BACKEND_POLL_MS = 2_000;

export interface DurableKillsOptions {
  readonly etcd: Etcd3;
  readonly node: NodeIdentity;
  /** the mutations workloads registered with this agent */
  readonly mutations: MutationTable;
  /** a compiled filter over mutations for an intent's WHERE (the agent's filter cache) */
  readonly filterFor: (where: string) => (r: MutationRow) => boolean;
  /** the server this agent fronts: its mutations are polled, since nobody registers them */
  readonly backend?: Backend;
  /** the node's kill log: a durable kill is logged before it is carried out, like any other */
  readonly recorder: KillRecorder;
  readonly log: Logger;
  /** checks that a coordinator signed each intent; undefined with --insecure */
  readonly verifier?: RecordVerifier;
}

/**
 * Durable mutation kills on this node (KILL MUTATION for a node that was down): the pending
 * intents from etcd are applied to every matching mutation once, whether it was registered
 * before the intent (at registration), after it (when the intent arrives), or runs on a
 * fronted server (polled). Registrations wait for `ready`, so none slips past a pending kill.
 */
export class DurableKills implements MutationHooks {
  private readonly intents: KillIntents;
  private readonly poll = new Sleeper();
  private loaded: () => void = () => undefined;
  readonly ready = new Promise<void>((resolve) => (this.loaded = resolve));

  constructor(private readonly o: DurableKillsOptions) {
    this.intents = new KillIntents(o.etcd, o.node.nodeId, o.node.clusters, o.filterFor, o.log, (intent) => {
      // only the mutations its WHERE names, as at registration
      for (const rec of o.mutations.values()) if (this.intents.matches(intent, rec.row)) void this.apply(rec, [intent]);
      if (o.backend) void this.applyToBackend(o.backend);
    }, o.verifier);
  }

  /** Lists the pending intents (rejects when etcd cannot be read), then follows them. */
  async start(): Promise<void> {
    await this.intents.start();
    this.loaded();
    const backend = this.o.backend;
    if (backend) void this.pollBackend(backend);
  }

  async close(): Promise<void> {
    this.poll.close();
    await this.intents.close();
  }

  registered(rec: LiveEntry<MutationRow>): void {
    void this.apply(rec, this.intents.matching(rec.row));
  }

  /** One round at a time: a slow server delays the next round instead of overlapping it. */
  private async pollBackend(backend: Backend): Promise<void> {
    do await this.applyToBackend(backend);
    while (await this.poll.sleep(BACKEND_POLL_MS));
  }

  /** Kills a mutation for each durable kill that names it and has not killed it here before. */
  private async apply(rec: LiveEntry<MutationRow>, intents: readonly KillIntent[]): Promise<void> {
    for (const intent of intents) {
      if (this.o.mutations.get(rec.key) !== rec) return;
      try {
        if (!(await this.intents.claim(intent, rec.row))) continue;
      } catch (err) {
        this.o.log.warn({ kill_id: intent.id, err: errorText(err) }, 'could not record a durable kill; not applied');
        continue;
      }
      if (!(await this.logged(intent, rec.row))) return;
      this.o.log.info({ kill_id: intent.id, mutation_id: rec.row.mutation_id }, 'durable mutation kill applied');
      this.o.mutations.cancel(rec);
      return;
    }
  }

  /**
   * Appends the kill-log entry of a durable kill about to be carried out (mode ASYNC, as the
   * KILL MUTATION that queued it; its statement id is the queued kill's id). False, with a
   * warning, when the log cannot take it: then the kill is not carried out.
   */
  private async logged(intent: KillIntent, m: MutationRow): Promise<boolean> {
    const entry = entriesOf({
      statement_id: intent.id,
      user: intent.user,
      client: '',
      coordinator: '',
      target: 'MUTATION',
      mode: 'ASYNC',
      condition: intent.where,
      policy: '',
    })(MUTATION_ROWS.logged(m), 'KILL_STATUS_WAITING', `queued kill ${intent.id} applied when the node returned`);
    try {
      await this.o.recorder.append([entry]);
      return true;
    } catch (err) {
      this.o.log.warn({ kill_id: intent.id, mutation_id: m.mutation_id, err: errorText(err) }, 'durable mutation kill not carried out: it could not be logged');
      return false;
    }
  }

  /** Durable kills on a server: its matching mutations are killed once per intent, as registered ones are. */
  private async applyToBackend(backend: Backend): Promise<void> {
    if (this.intents.size === 0) return;
    let mutations;
    try {
      mutations = await backend.mutations();
    } catch {
      return; // the server is down: the next round tries again
    }
    for (const m of mutations) {
      for (const intent of this.intents.matching(m.row)) {
        try {
          if (!(await this.intents.claim(intent, m.row))) continue;
          if (!(await this.logged(intent, m.row))) break;
          const result = await m.kill();
          this.o.log.info({ kill_id: intent.id, mutation_id: m.row.mutation_id, status: result.status }, 'durable mutation kill applied to the server');
        } catch (err) {
          this.o.log.warn({ kill_id: intent.id, err: errorText(err) }, 'durable kill on the server failed');
        }
        break;
      }
    }
  }
}
