import { readdirSync, readFileSync } from 'node:fs';

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

/**
 * CPU time a process's threads have run so far, in milliseconds with nanosecond resolution: the
 * sum of the first field (time on a CPU, in ns) of /proc/<pid>/task/<tid>/schedstat. /proc/<pid>/stat
 * counts in 10 ms ticks, too coarse for the few milliseconds a short series uses. The threads of
 * quell's processes (main, libuv pool, V8 platform) live as long as the process, so no thread's time
 * leaves the sum between two readings. NaN when the process is gone or no thread can be read.
 */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return NaN;
  }
  let ns = 0;
  let read = 0;
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]);
      read++;
    } catch {
      // a thread that ended between the listing and the reading: its time is gone with it
    }
  }
  // no thread readable (a kernel without schedstat): no figure, rather than a zero one
  return read > 0 ? ns / 1e6 : NaN;
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
