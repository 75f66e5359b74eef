import { spawn } from 'node:child_process';
import type { LifecycleState } from './lifecycle';
import { componentLogger } from './logger';

/**
 * systemd's notify protocol (sd_notify(3)) for `Type=notify` units: `READY=1` once a daemon
 * serves, `STOPPING=1` when its drain starts, `RELOADING=1` … `READY=1` around a reload. Only
 * when `NOTIFY_SOCKET` is set (systemd sets it for the unit's processes); otherwise nothing.
 *
 * The protocol is one datagram on a Unix socket, and Node has no Unix datagram sockets; the npm
 * packages that send one (sd-notify, unix-dgram) are native addons. So the message is sent by
 * systemd's own `systemd-notify`, which is wherever systemd is. It waits until the manager has
 * read the message (its BARRIER=1, unless --no-block), so the manager can still tell which unit
 * the short-lived sender belonged to. The sender is not the daemon's main PID: the units set
 * `NotifyAccess=all` (deploy/systemd/), and each message names the daemon as `MAINPID`.
 * Messages go out one at a time, in the order they were asked for.
 */

type Spawn = (command: string, args: readonly string[], env: NodeJS.ProcessEnv) => Promise<void>;

function runSystemdNotify(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`systemd-notify ${args.join(' ')}: ${stderr.trim() || `exit ${code ?? signal}`}`));
    });
  });
}

export class SystemdNotifier {
  private queue: Promise<void> = Promise.resolve();
  private warned = false;

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly onError: (err: Error) => void = (err) => componentLogger('systemd').warn({ err }, 'systemd notification not sent'),
    private readonly run: Spawn = runSystemdNotify,
  ) {}

  /** Whether the process runs under a service manager that listens (NOTIFY_SOCKET is set). */
  get enabled(): boolean {
    return Boolean(this.env.NOTIFY_SOCKET);
  }

  /**
   * Sends `KEY=VALUE` assignments as one message (MAINPID is added); resolves when the manager
   * has it, or at once when there is none. A failure is reported once, never thrown: a daemon
   * serves whether or not its manager heard it.
   */
  notify(assignments: readonly string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const command = this.env.QUELL_SYSTEMD_NOTIFY || 'systemd-notify';
    const args = [`MAINPID=${process.pid}`, ...assignments];
    this.queue = this.queue.then(() =>
      this.run(command, args, this.env).catch((err: unknown) => {
        if (this.warned) return;
        this.warned = true;
        this.onError(err instanceof Error ? err : new Error(String(err)));
      }),
    );
    return this.queue;
  }

  ready(status?: string): Promise<void> {
    return this.notify(['READY=1', ...(status ? [`STATUS=${status}`] : [])]);
  }

  stopping(): Promise<void> {
    return this.notify(['STOPPING=1']);
  }

  /** Before a reload (SIGHUP); `ready()` after it. MONOTONIC_USEC is what Type=notify-reload asks for. */
  reloading(): Promise<void> {
    return this.notify(['RELOADING=1', `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`]);
  }

  /** A lifecycle listener (common/daemon/lifecycle.ts): `running` is READY=1, `draining` is STOPPING=1. */
  followLifecycle(): (state: LifecycleState) => void {
    return (state) => {
      if (state === 'running') void this.ready();
      else if (state === 'draining') void this.stopping();
    };
  }
}

let shared: SystemdNotifier | undefined;

/** The process's notifier: one queue, so that its messages arrive in the order they were sent. */
export function systemdNotifier(): SystemdNotifier {
  shared ??= new SystemdNotifier();
  return shared;
}
