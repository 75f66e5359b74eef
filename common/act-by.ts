/**
 * How far (ms, at least 1) a request is past its act-by time (`act_by_unix_ms`, wall clock) by
 * this process's clock, or undefined while it is not, or when it has none (0). Past it, the
 * sender has already reported the request as failed (timed out), unless this clock is ahead of
 * the sender's: an agent's kill and a coordinator's forwarded KILL then do nothing.
 */
export function msPastActBy(actByUnixMs: string | number, now = Date.now()): number | undefined {
  const actBy = Number(actByUnixMs);
  return actBy > 0 && now > actBy ? now - actBy : undefined;
}
