import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Child } from '../../../common/daemon/child-processes';

// scratch dirs still in use, with their server: removed even if a test process exits without destroy()
const live = new Map<string, { child: Child | undefined; signal: NodeJS.Signals }>();
process.once('exit', () => {
  for (const [dir, entry] of live) {
    entry.child?.proc.kill(entry.signal);
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * The temporary directory of one private database server, tied to the server process: whatever
 * happens to the test, the process is killed and the directory removed when the test process exits.
 */
export class ScratchDir {
  readonly dir: string;

  constructor(
    prefix: string,
    /** what stops the server at once when the test process exits */
    private readonly exitSignal: NodeJS.Signals = 'SIGKILL',
  ) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    live.set(this.dir, { child: undefined, signal: exitSignal });
  }

  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** the server process now running in this directory */
  adopt(child: Child): void {
    live.set(this.dir, { child, signal: this.exitSignal });
  }

  /** the server is stopped: remove the directory */
  remove(): void {
    live.delete(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
