import type { QueryInfo } from '../proto/generated/quell/v1/QueryInfo';
import type { Outcome } from '../proto/generated/quell/v1/Outcome';
import type { CancelReason, SessionChannel } from './session-channel';

export type QueryRegistration = Omit<QueryInfo, 'query_id'> & { readonly query_id: string };

export interface ProgressReport {
  readonly read_rows?: number;
  readonly read_bytes?: number;
  readonly total_rows_approx?: number;
  readonly written_rows?: number;
  readonly written_bytes?: number;
  readonly memory_usage?: number;
}

/**
 * A process registered with the agent. Its cancellation is an AbortSignal, `signal`; a kill that
 * escalates (escalate_after) sends a second, harder one, `terminateSignal` (reason kind
 * `terminate`), which a process that finishes its work after a cancel must still obey at once.
 * Both abort when the stream goes away.
 */
export class RunningProcess {
  private readonly controller = new AbortController();
  private readonly terminateController = new AbortController();
  private ended = false;

  constructor(
    readonly queryId: string,
    private readonly session: SessionChannel,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Aborted by the kill's escalation (a Terminate), or when the stream goes away. */
  get terminateSignal(): AbortSignal {
    return this.terminateController.signal;
  }

  progress(p: ProgressReport): void {
    if (this.ended) return;
    const n = (v: number | undefined): string => String(Math.max(0, Math.trunc(v ?? 0)));
    this.session.send({
      progress: {
        query_id: this.queryId,
        read_rows: n(p.read_rows),
        read_bytes: n(p.read_bytes),
        total_rows_approx: n(p.total_rows_approx),
        written_rows: n(p.written_rows),
        written_bytes: n(p.written_bytes),
        memory_usage: String(Math.trunc(p.memory_usage ?? 0)),
      },
    });
  }

  /** Ends the process; after a cancel, 'cancelled' is the acknowledgement the agent waits for. */
  end(outcome: 'finished' | 'cancelled' | 'failed'): void {
    if (this.ended) return;
    this.ended = true;
    const wire: Record<typeof outcome, Outcome> = { finished: 'OUTCOME_FINISHED', cancelled: 'OUTCOME_CANCELLED', failed: 'OUTCOME_FAILED' };
    this.session.send({ end: { query_id: this.queryId, outcome: wire[outcome] } });
    this.session.forget(this.queryId);
  }

  /** @internal */
  abort(reason: CancelReason): void {
    // a terminate whose cancel never came is a cancel too
    if (!this.controller.signal.aborted) this.controller.abort(reason);
    if (reason.kind !== 'cancel' && !this.terminateController.signal.aborted) this.terminateController.abort(reason);
  }
}
