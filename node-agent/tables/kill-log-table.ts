import type { EvalContext } from '../../sql/compile';
import type { KillLog, KillLogRow } from '../kill/kill-log';
import { killLogResolver } from './kill-log-columns';
import type { NodeIdentity } from '../presence/node-identity';
import { scanRows, type Readable } from './served-table';
import { tableSource } from './table-source';

/**
 * system.kill_log on this node: the log's files read entry by entry through the compiled
 * filter, so a log of any size streams. Who may read it is decided by the coordinator
 * (PROCESS or ALL); every entry is visible to such a reader.
 */
export function killLogTable(log: KillLog, node: NodeIdentity, ctx: EvalContext): Readable {
  const source = tableSource<KillLogRow>(killLogResolver(node), ctx);
  return { scan: (req, write) => scanRows(log.read(), source, req, write) };
}
