import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Printed by the pane's shell when the program ends, so a test can read its exit status off the screen. */
const EXIT_MARK = /\[exited (\d+)\]/;

/**
 * A program in a real terminal: a detached tmux session of a fixed size on a private tmux
 * server (its own socket in a temporary directory), driven with send-keys and read with capture-pane. tmux must be
 * installed (.ci/run installs it); a missing tmux fails the test.
 */
export class TmuxPane {
  private constructor(
    private readonly dir: string,
    private readonly target: string,
  ) {}

  private get socket(): string {
    return path.join(this.dir, 'tmux.sock');
  }

  /** Starts `argv` in a width × height terminal. After it exits, the pane shows `[exited N]` and stays. */
  static async start(argv: readonly string[], width: number, height: number, env: Record<string, string> = {}): Promise<TmuxPane> {
    const pane = new TmuxPane(mkdtempSync(path.join(os.tmpdir(), 'quell-tmux-')), 'top');
    const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    // sh runs the program and then keeps the pane open, so its last screen and status can be read
    const script = '"$@"; echo "[exited $?]"; exec sleep 600';
    try {
      await pane.tmux(['new-session', '-d', '-s', 'top', '-x', String(width), '-y', String(height), ...envArgs, 'sh', '-c', script, 'sh', ...argv]);
    } catch (err) {
      await pane.close();
      throw err;
    }
    return pane;
  }

  private async tmux(args: string[]): Promise<string> {
    try {
      const { stdout } = await run('tmux', ['-S', this.socket, '-f', '/dev/null', ...args], { timeout: 10_000 });
      return stdout;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('tmux is not installed: the terminal tests need it (.ci/run installs it with apt)');
      throw err;
    }
  }

  /** Named keys as tmux spells them: 'Enter', 'Escape', 'Down', 'C-u', or a single character. */
  async keys(...names: string[]): Promise<void> {
    await this.tmux(['send-keys', '-t', this.target, ...names]);
  }

  /** Text typed as it is (no key-name lookup). */
  async type(text: string): Promise<void> {
    await this.tmux(['send-keys', '-t', this.target, '-l', text]);
  }

  async resize(width: number, height: number): Promise<void> {
    await this.tmux(['resize-window', '-t', this.target, '-x', String(width), '-y', String(height)]);
  }

  /** The visible screen, one string per line (trailing spaces removed). */
  async screen(): Promise<string[]> {
    const text = await this.tmux(['capture-pane', '-p', '-t', this.target]);
    return text.replace(/\n$/, '').split('\n').map((l) => l.trimEnd());
  }

  /** Polls the screen until `pred` holds; after `timeoutMs`, fails showing what was on it. */
  async waitFor(what: string, pred: (lines: string[]) => boolean, timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let lines: string[] = [];
    for (;;) {
      lines = await this.screen();
      if (pred(lines)) return lines;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the screen:\n${lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits for the program to end; its exit status. */
  async exitStatus(timeoutMs = 10_000): Promise<number> {
    const lines = await this.waitFor('the program to exit', (l) => l.some((x) => EXIT_MARK.test(x)), timeoutMs);
    const m = lines.map((x) => EXIT_MARK.exec(x)).find((x) => x !== null);
    return Number(m?.[1]);
  }

  /** Ends the session and its server, with whatever still runs in it. */
  async close(): Promise<void> {
    await this.tmux(['kill-server']).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
