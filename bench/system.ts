import { readFileSync } from 'node:fs';

/** Resident set size of a process in MiB, from /proc/<pid>/status (VmRSS); NaN when unreadable. */
export function rssMiB(pid: number | undefined, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const kB = statusNumber(pid, new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm'));
  return kB / 1024;
}

/** The number `line` captures in /proc/<pid>/status; NaN when the process or the line is not there. */
function statusNumber(pid: number | undefined, line: RegExp): number {
  if (pid === undefined) return NaN;
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return NaN;
  }
  const m = line.exec(status);
  return m?.[1] ? Number(m[1]) : NaN;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** CPU time (user + system) a process has used so far, in milliseconds, from /proc/<pid>/stat. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return NaN;
  }
  // fields after the parenthesised command name; utime and stime are fields 14 and 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * How many times a process's main thread has blocked so far (voluntary_ctxt_switches of
 * /proc/<pid>/status, which counts the thread-group leader alone): each is a wait in epoll with
 * nothing to do, so the difference over a segment counts the event loop's wake-ups. NaN when
 * unreadable.
 */
export function mainThreadWaits(pid: number | undefined): number {
  return statusNumber(pid, /^voluntary_ctxt_switches:\s+(\d+)$/m);
}

/** USER_HZ: 100 on every Linux the benchmark runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
