import type { KillPlan__Output } from '../../../proto/generated/quell/v1/KillPlan';

/**
 * The nodes' plans summed: what the user may kill across the cluster, and the first process
 * skipped for lack of rights (named by the denial).
 */
export class PlanTally {
  eligible = 0;
  skipped = 0;
  skippedOwner = '';
  skippedId = '';

  add(plan: KillPlan__Output): void {
    this.eligible += plan.eligible;
    this.skipped += plan.skipped;
    this.skippedOwner ||= plan.skipped_owner;
    this.skippedId ||= plan.skipped_id;
  }

  /** nothing may be killed, and that is for lack of rights rather than for lack of matches */
  get denied(): boolean {
    return this.eligible === 0 && this.skipped > 0;
  }
}
