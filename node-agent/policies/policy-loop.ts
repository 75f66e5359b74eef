import { randomUUID } from 'node:crypto';
import type { Logger } from '../../common/daemon/logger';
import { Sleeper } from '../../common/etcd/backoff';
import type { PolicyAction, PolicyRecord } from '../../common/etcd/kill-policy-record';
import { renderProcessStatus } from '../../common/kill-status';
import { errorText } from '../../errors/error-text';
import { QuellError } from '../../errors/quell-error';
import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { KillTarget__Output as KillTarget } from '../../proto/generated/quell/v1/KillTarget';
import type { KillSink } from '../kill/kill-executor';
import { entryMaker, NO_PROCESS, POLICY_DISABLED_STATUS, type KillRecorder } from '../kill/kill-record';
import { PolicyRun } from './policy-run';
import type { Served } from '../tables/served-table';

/** This node's tables a policy can act on: the ones KILL statements act on. */
export interface PolicyTables {
  readonly processes: Served;
  readonly mutations: Served;
  readonly connections: Served;
}

export interface PolicyLoopDeps {
  readonly nodeId: string;
  readonly tables: PolicyTables;
  readonly recorder: KillRecorder;
  readonly log: Logger;
}

const TARGETS: Record<PolicyAction, { target: KillTarget; table: keyof PolicyTables }> = {
  'KILL QUERY': { target: 'KILL_TARGET_QUERY', table: 'processes' },
  'KILL CONNECTION': { target: 'KILL_TARGET_CONNECTION', table: 'connections' },
  'KILL MUTATION': { target: 'KILL_TARGET_MUTATION', table: 'mutations' },
};

/**
 * How long a run with ESCALATE AFTER waits, after the escalation, for its victims to end: their
 * final status is in the kill log, and a run takes this long only when a victim outlives even
 * its hard kill.
 */
export const POLICY_AFTER_ESCALATION_MS = 5_000;

/** The longest a run with ESCALATE AFTER waits for its victims (0: a run does not wait). */
function runWaitMs(rec: PolicyRecord): number {
  return rec.dry_run || rec.escalate_after_s <= 0 ? 0 : rec.escalate_after_s * 1000 + POLICY_AFTER_ESCALATION_MS;
}

/**
 * The Kill request a run makes: the policy's WHERE and REASON, with the creator's name and
 * stored rights, ASYNC (TEST for DRY RUN). With ESCALATE AFTER it is SYNC: the run's wait is what
 * sees a victim outlive its cancel, for at most ESCALATE AFTER plus POLICY_AFTER_ESCALATION_MS
 * (PolicyLoop lets that wait go on beside the next runs).
 */
export function policyRequest(rec: PolicyRecord, statementId: string): KillRequest__Output {
  const waitMs = runWaitMs(rec);
  return {
    target: TARGETS[rec.action].target,
    where: rec.condition,
    mode: rec.dry_run ? 'KILL_MODE_TEST' : waitMs > 0 ? 'KILL_MODE_SYNC' : 'KILL_MODE_ASYNC',
    soft: false,
    user: rec.creator,
    may_kill_others: rec.may_kill_others,
    sync_timeout_ms: waitMs,
    statement_id: statementId,
    query_only: false,
    // no client and no coordinator sent it: the policy column names what did
    client: '',
    condition: '',
    act_by_unix_ms: '0',
    reason: rec.reason,
    plan: false,
    order_by: rec.order_by ? [...rec.order_by] : [],
    picks: [],
    picked: false,
    limit: 0,
    escalate_after_ms: waitMs > 0 ? rec.escalate_after_s * 1000 : 0,
  };
}

/**
 * One kill policy on this node: every `every_s` seconds, one run through the kill path a KILL
 * statement takes (Served.kill → executeKill), so that rights, the kill log and the backends
 * behave exactly as they do for a statement. Runs do not overlap (a slow server delays the next
 * one), except for the wait of a run with ESCALATE AFTER: once its cancels are out, it waits for
 * its victims beside the next runs, so a victim that ignores its cancel does not keep the policy
 * from the processes that match after it; the victims it waits for are its own until it ends
 * (PolicyRun.turn). A run that fails for a reason that may pass (a backend server down) is tried
 * again at the next interval; any other failure stops the policy on this node, with a kill-log
 * entry.
 */
export class PolicyLoop {
  private readonly sleeper = new Sleeper();
  private readonly run: PolicyRun;
  private readonly done: Promise<void>;
  /**
   * runs not ended yet (the one in progress, and those waiting for their victims), each with the
   * controller close() aborts: a waiting run stops waiting, its timers cleared
   */
  private readonly runs = new Map<Promise<void>, AbortController>();
  /** runs started so far */
  private started = 0;
  /** the latest run that failed for a reason that may pass, while no run started after it has succeeded (0: none): one warning per streak */
  private failedRun = 0;
  private disabled = false;

  constructor(
    readonly rec: PolicyRecord,
    /** the record as stored: a re-list that finds it unchanged keeps this loop */
    readonly raw: string,
    private readonly deps: PolicyLoopDeps,
    /** the previous loop of this policy, closing: the first run waits until its runs ended */
    after?: Promise<void>,
  ) {
    this.run = new PolicyRun(rec.name, rec.limit);
    this.done = this.loop(after);
  }

  /** Stops the loop; resolves once every run has ended (their entries are on disk). */
  async close(): Promise<void> {
    this.sleeper.close();
    for (const stop of this.runs.values()) stop.abort();
    await this.done;
    await Promise.all(this.runs.keys());
  }

  private async loop(after: Promise<void> | undefined): Promise<void> {
    await after;
    while (await this.sleeper.sleep(this.rec.every_s * 1000)) {
      let reached = (): void => undefined;
      const waiting = new Promise<void>((resolve) => (reached = resolve));
      // no await from the sleep to here: close() cannot come between, and it aborts every run it finds
      const stop = new AbortController();
      const run: Promise<void> = this.once(reached, stop.signal).then(
        (ok) => {
          this.runs.delete(run);
          // a run that disabled the policy ends the loop: no run starts after it
          if (!ok) this.sleeper.close();
        },
        (err: unknown) => {
          this.runs.delete(run);
          this.deps.log.error({ err: errorText(err) }, 'kill policy run failed');
        },
      );
      this.runs.set(run, stop);
      // the next interval starts once this run ended, or once it only waits for its victims
      await Promise.race([run, waiting]);
    }
  }

  /**
   * One run; false when the policy disabled itself on this node. `onWaiting` is called if the
   * run's cancels are out and it waits for its victims to end (ESCALATE AFTER), which `stop` ends.
   */
  async once(onWaiting?: () => void, stop?: AbortSignal): Promise<boolean> {
    const { rec, deps } = this;
    if (this.disabled) return false;
    const seq = ++this.started;
    const req = policyRequest(rec, randomUUID());
    const statuses: Record<string, number> = {};
    const sink: KillSink = {
      write: (msg) => {
        const status = msg.process?.status;
        // the executor writes statuses by name
        if (typeof status !== 'string') return;
        const s = renderProcessStatus(status);
        statuses[s] = (statuses[s] ?? 0) + 1;
      },
      closed: false,
      signal: stop,
      waiting: onWaiting,
    };
    const turn = this.run.turn();
    try {
      await deps.tables[TARGETS[rec.action].table].kill(req, sink, { recorder: deps.recorder, coordinator: '', policy: turn });
    } catch (err) {
      if (err instanceof QuellError && err.retryable) {
        if (this.failedRun === 0) deps.log.warn({ err: errorText(err) }, 'kill policy run failed; tried again at each interval');
        this.failedRun = Math.max(this.failedRun, seq);
        return true;
      }
      await this.disable(req, err);
      return false;
    } finally {
      turn.end();
    }
    // a run that started before the failure (one that waited for its victims) says nothing of now
    if (this.failedRun > 0 && seq > this.failedRun) {
      deps.log.info('kill policy runs again');
      this.failedRun = 0;
    }
    if (Object.keys(statuses).length > 0) deps.log.info({ statement_id: req.statement_id, statuses, dry_run: rec.dry_run }, 'kill policy acted');
    return true;
  }

  /** Stops the policy here and says so in the kill log; the node's other policies go on. */
  private async disable(req: KillRequest__Output, err: unknown): Promise<void> {
    if (this.disabled) return;
    this.disabled = true;
    const why = `kill policy ${this.rec.name} stopped on node ${this.deps.nodeId}: ${errorText(err)}`;
    this.deps.log.error({ err: errorText(err) }, 'kill policy failed and is disabled on this node until it is created again');
    const entry = entryMaker(req, '', Date.now, this.rec.name);
    try {
      await this.deps.recorder.append([entry(NO_PROCESS, POLICY_DISABLED_STATUS, why)]);
    } catch (logErr) {
      this.deps.log.warn({ err: errorText(logErr) }, 'could not log that the kill policy was disabled');
    }
  }
}
