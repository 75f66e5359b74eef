import type { CancelReason, SessionChannel } from './session-channel';

export interface MutationRegistration {
  readonly database: string;
  readonly table: string;
  readonly mutation_id: string;
  readonly command: string;
  /** unix seconds; now when omitted */
  readonly create_time?: number;
  readonly parts_to_do: number;
}

/** A mutation registered with the agent. A kill aborts its signal; parts already done stay done. */
export class RunningMutation {
  private readonly controller = new AbortController();
  private ended = false;

  constructor(
    readonly ref: { readonly database: string; readonly table: string; readonly mutation_id: string },
    private readonly session: SessionChannel,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  progress(partsDone: number, partsToDo: number, failure?: { part: string; reason: string }): void {
    if (this.ended) return;
    this.session.send({
      mutation_progress: {
        mutation: this.ref,
        parts_done: String(partsDone),
        parts_to_do: String(partsToDo),
        latest_failed_part: failure?.part ?? '',
        latest_fail_reason: failure?.reason ?? '',
      },
    });
  }

  /** Ends the mutation: done, failed, or killed (the acknowledgement of a kill). */
  end(outcome: 'done' | 'failed' | 'killed', partsDone: number): void {
    if (this.ended) return;
    this.ended = true;
    const wire = { done: 'MUTATION_OUTCOME_DONE', failed: 'MUTATION_OUTCOME_FAILED', killed: 'MUTATION_OUTCOME_KILLED' } as const;
    this.session.send({ end_mutation: { mutation: this.ref, outcome: wire[outcome], parts_done: String(partsDone) } });
    this.session.forgetMutation(this.ref);
  }

  /** @internal */
  abort(reason: CancelReason): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }
}

export function mutationKey(m: { database: string; table: string; mutation_id: string }): string {
  return `${m.database}\u0000${m.table}\u0000${m.mutation_id}`;
}
