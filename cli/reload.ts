import type { Logger } from '../common/daemon/logger';
import { systemdNotifier } from '../common/daemon/systemd-notify';
import { errorText } from '../errors/error-text';
import { changedKeys, resolveConfig, type Config } from './config';
import type { FlagTable } from './flags';

export interface ReloadOptions<O extends FlagTable> {
  readonly command: string;
  readonly table: O;
  readonly argv: string[];
  /** the configuration the daemon started with */
  readonly running: Config<O>;
  readonly log: Logger;
  /**
   * Applies what can change without a restart from the configuration read again; returns the
   * keys it took (beside the table's `reloads` ones). Throws, one line, to keep what runs.
   */
  readonly apply: (next: Config<O>) => Promise<readonly string[]>;
}

/**
 * A daemon's SIGHUP (cli/args.ts untilSignal): the configuration is read again in its layers
 * (the --config file, secret files; the flags and the environment are the process's own), what
 * can change is applied, and a key that changed but needs a restart is named in a warning.
 * Anything that does not read or parse keeps the running configuration whole, with one log line
 * naming the file and the problem. Under systemd: RELOADING=1 before, READY=1 after.
 */
export function reloader<O extends FlagTable>(o: ReloadOptions<O>): () => Promise<void> {
  const notifier = systemdNotifier();
  return async () => {
    await notifier.reloading();
    try {
      const next = resolveConfig(o.command, o.table, o.argv);
      for (const w of next.warnings) o.log.warn(w);
      const applied = new Set(await o.apply(next));
      const restart = changedKeys(o.running, next).filter((k) => !o.table[k]?.reloads && !applied.has(k));
      if (restart.length > 0) o.log.warn({ keys: restart }, `changed, but take effect at the next restart: ${restart.join(', ')}`);
      o.log.info({ reloaded: [...applied] }, 'configuration reloaded (SIGHUP)');
    } catch (err) {
      o.log.error(`reload failed, the running configuration stays: ${errorText(err)}`);
    } finally {
      await notifier.ready();
    }
  };
}
