import { errorText } from '../../errors/error-text';
import { killLogRefusal } from './kill-log';

/** What a hard kill's send came to: as a cancel's (sent; nothing left to stop; refused, and why). */
export type HardKillOutcome = boolean | { readonly cantCancel: string };

/**
 * A process's hard kill, for a kill that escalates (escalate_after, docs/escalation.md): `send`
 * it, or there is `none` for its kind, and why (ClickHouse, mutations).
 */
export type HardKill = { readonly send: () => HardKillOutcome | Promise<HardKillOutcome> } | { readonly none: string };

/** One SYNC wait's part in an escalation: what is still waited for, and what its rows will say. */
export interface EscalatingWait<C> {
  readonly afterMs: number;
  /** ends when the wait does (deadline, coordinator gone): no timer and no send after it */
  readonly stop: AbortSignal;
  /** still waited for */
  running(c: C): boolean;
  /** the row of a process with no harder kill: cant_cancel now, with why */
  cantCancel(c: C, error: string): void;
  /** logs the escalation step before it is sent, as every kill is logged first */
  logStep(c: C, error: string): Promise<void>;
  /** processes whose hard kill went out: their rows say escalated */
  readonly escalated: Set<C>;
  /** why an escalation did not happen or failed, for the row */
  readonly notes: Map<C, string>;
}

/**
 * Escalates `c` if it is still running `afterMs` after its cancel: no harder kill makes its row
 * cant_cancel; otherwise the step is logged, then the hard kill sent. A process that ends, or a
 * wait that stops, first clears the timer, and nothing is sent.
 */
export async function escalateWhenDue<C>(c: C, gone: Promise<unknown>, hardKill: HardKill | undefined, wait: EscalatingWait<C>): Promise<void> {
  if (!(await dueAfter(wait.afterMs, gone, wait.stop)) || !wait.running(c)) return;
  const after = `still running ${wait.afterMs / 1000} s after its cancel`;
  const hard = hardKill ?? { none: 'there is no harder kill for it' };
  if ('none' in hard) {
    wait.cantCancel(c, `${after}, and ${hard.none}`);
    return;
  }
  try {
    await wait.logStep(c, after);
  } catch (err) {
    wait.notes.set(c, `${after}, not escalated: ${killLogRefusal(err)}`);
    return;
  }
  if (wait.stop.aborted) {
    // the wait ended while the step was being logged: nothing is sent after it
    wait.notes.set(c, `${after}, not escalated: the wait ended first`);
    return;
  }
  // it ended while the step was being logged: its row already went out, unescalated, and nothing is sent
  if (!wait.running(c)) return;
  // counted from here, not before the log: a row says escalated only for a hard kill that went out
  wait.escalated.add(c);
  let outcome: HardKillOutcome;
  try {
    outcome = await hard.send();
  } catch (err) {
    outcome = { cantCancel: errorText(err) };
  }
  // no hard kill went out: nothing was left to stop, or it failed
  if (outcome !== true) wait.escalated.delete(c);
  if (typeof outcome === 'object') wait.notes.set(c, `${after}; its hard kill failed: ${outcome.cantCancel}`);
}

/**
 * Resolves true once `ms` have passed while the process runs on; false as soon as it is `gone`
 * or the wait `stop`s. Its timer and listener never outlive the first of the three.
 */
export function dueAfter(ms: number, gone: Promise<unknown>, stop: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (stop.aborted) {
      resolve(false);
      return;
    }
    const finish = (due: boolean): void => {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      resolve(due);
    };
    const onStop = (): void => finish(false);
    const timer = setTimeout(() => finish(true), ms);
    stop.addEventListener('abort', onStop, { once: true });
    void gone.then(() => finish(false));
  });
}
