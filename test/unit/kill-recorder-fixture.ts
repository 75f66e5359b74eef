import type { KillContext } from '../../node-agent/kill/kill-executor';
import type { KillLogEntry } from '../../node-agent/kill/kill-log';
import { KillLogError } from '../../node-agent/kill/kill-log';

/** A kill log in memory for executor tests: what was appended, and a switch that makes appends fail. */
export interface MemoryKillLog extends KillContext {
  readonly entries: KillLogEntry[];
  /** appends reject while set, as a full disk does */
  failing: boolean;
}

export function memoryKillLog(coordinator = 'spiffe://quell/coordinator'): MemoryKillLog {
  const log: MemoryKillLog = {
    entries: [],
    failing: false,
    coordinator,
    recorder: {
      append(entries) {
        if (log.failing) return Promise.reject(new KillLogError('kill log unwritable: ENOSPC: no space left on device, write (dir /kill-log)', 'ENOSPC'));
        log.entries.push(...entries);
        return Promise.resolve();
      },
    },
  };
  return log;
}
