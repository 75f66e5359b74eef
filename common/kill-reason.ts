/**
 * A kill's reason (the kill_reason setting, a policy's REASON): the bound and the characters the
 * coordinator refuses in it (coordinator/statements/settings.ts), and which the agents' notes to
 * database servers also turn into spaces (node-agent/backends/kill-note.ts), whatever a record says.
 */

/** The longest reason (characters). */
export const KILL_REASON_MAX = 1024;

/** Control characters and the line and paragraph separators: a reason is one line of text. */
export const REASON_CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Why `v` cannot be a kill's reason (too long, or not one line of text); undefined when it can. */
export function reasonProblem(v: string): string | undefined {
  const length = [...v].length;
  if (length > KILL_REASON_MAX) return `${length} characters, at most ${KILL_REASON_MAX}`;
  if (v.search(REASON_CONTROL_CHARACTERS) >= 0) return 'one line of text without control characters';
  return undefined;
}
