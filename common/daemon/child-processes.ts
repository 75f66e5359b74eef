import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { connectEtcd } from '../etcd/client';

/**
 * Starting quell's processes and a private etcd as children: used by `quell local`, the
 * integration tests and the benchmark, so all three run the same real parts the same way.
 */

/** A free loopback TCP port (bound and released; callers bind it right away). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
  });
}

export interface Child {
  readonly proc: ChildProcess;
  /** stdout JSON lines seen so far (sim events, ready lines) */
  readonly events: Record<string, unknown>[];
  /** resolves with the first event matching the predicate */
  waitFor(pred: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** stderr text, for failure messages */
  stderr(): string;
  /** stdout text (the JSON lines are also parsed into `events`) */
  stdout(): string;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

export function spawnChild(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Child {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
  const events: Record<string, unknown>[] = [];
  const waiters: { pred: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  let err = '';
  let out = '';
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  if (proc.stdout) {
    proc.stdout.on('data', (d: Buffer) => {
      if (out.length < 200_000) out += d.toString();
    });
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      let ev: Record<string, unknown>;
      try {
        ev = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      events.push(ev);
      for (const w of [...waiters]) {
        if (w.pred(ev)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(ev);
        }
      }
    });
  }
  const exited = new Promise<number | null>((resolve) => {
    proc.on('exit', (code) => resolve(code));
    // a binary that cannot start (ENOENT) never exits: report it as an exit
    proc.on('error', (e) => {
      err += `${e.message}\n`;
      resolve(-1);
    });
  });
  const child: Child = {
    proc,
    events,
    stderr: () => err,
    stdout: () => out,
    exited,
    waitFor(pred, timeoutMs = 15_000) {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${path.basename(command)} ${args.slice(0, 2).join(' ')}: timed out waiting for an event; stderr: ${err.slice(-2000)}`)), timeoutMs);
        const w = {
          pred,
          resolve: (e: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        waiters.push(w);
        void exited.then((code) => {
          if (waiters.includes(w)) {
            clearTimeout(timer);
            reject(new Error(`${path.basename(command)} ${args.slice(0, 2).join(' ')} exited (${code}) before the event; stderr: ${err.slice(-2000)}`));
          }
        });
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 5_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  return child;
}

/** The compiled CLI entry point, so children run exactly what `npx quell` runs. */
export const QUELL_MAIN = path.resolve(__dirname, '..', '..', 'cli', 'quell.js');

/** `main`: another build's dist/cli/quell.js (the mixed-version test runs the last release's). */
export function spawnQuell(args: string[], env: NodeJS.ProcessEnv = {}, main: string = QUELL_MAIN): Child {
  return spawnChild(process.execPath, [main, ...args], { env: { ...process.env, QUELL_LOG_FORMAT: 'json', ...env } });
}

export interface EtcdServer {
  readonly url: string;
  readonly child: Child;
  /** stops etcd and removes its data directory */
  stop(): Promise<void>;
  /** stops etcd but keeps its data: `restart()` brings the same etcd back (outage tests) */
  halt(): Promise<void>;
  /** starts it again on the same ports and data directory */
  restart(): Promise<EtcdServer>;
}

interface EtcdPlace {
  readonly dir: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** a cluster member's name and the whole `--initial-cluster` (a single etcd names only itself) */
  readonly name?: string;
  readonly initialCluster?: string;
  /** one more address etcd's clients may reach it on, same port (a network namespace's veth side) */
  readonly alsoListenOn?: string;
}

/** PEM files for a TLS etcd: its server pair and CA; with `client`, client certificates are required too. */
export interface EtcdServerTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** turns on --client-cert-auth; start-up readiness is probed with this client pair */
  readonly client?: { readonly cert: string; readonly key: string };
}

/** An etcd from PATH on free loopback ports in a fresh temporary directory; https:// when given TLS files. */
export async function startEtcd(opts: { binary?: string; tls?: EtcdServerTls; alsoListenOn?: string } = {}): Promise<EtcdServer> {
  const binary = opts.binary ?? process.env.QUELL_ETCD_BIN ?? 'etcd';
  const place = { dir: mkdtempSync(path.join(os.tmpdir(), 'quell-etcd-')), clientPort: await freePort(), peerPort: await freePort(), alsoListenOn: opts.alsoListenOn };
  return runEtcd(binary, place, opts.tls);
}

/** A multi-member etcd: every member's client URL (what `--etcd` takes, comma-joined) and each member. */
export interface EtcdCluster {
  readonly urls: readonly string[];
  /** the member now running at index i (restart replaces it) */
  member(i: number): EtcdServer;
  /** stops member i, keeping its data */
  halt(i: number): Promise<void>;
  /** brings halted members back on their ports and data; together, since one alone has no quorum to be ready in */
  restart(...indexes: number[]): Promise<void>;
  /** stops every member and removes their data directories */
  stop(): Promise<void>;
}

/**
 * A real `members`-member etcd cluster on free loopback ports, each member with its own data
 * directory: members can be halted and restarted one by one, so tests lose and regain quorum.
 */
export async function startEtcdCluster(opts: { members?: number; binary?: string } = {}): Promise<EtcdCluster> {
  const binary = opts.binary ?? process.env.QUELL_ETCD_BIN ?? 'etcd';
  const places: EtcdPlace[] = [];
  for (let i = 0; i < (opts.members ?? 3); i++) {
    places.push({ dir: mkdtempSync(path.join(os.tmpdir(), 'quell-etcd-')), clientPort: await freePort(), peerPort: await freePort(), name: `m${i}` });
  }
  const initialCluster = places.map((p) => `${p.name ?? ''}=http://127.0.0.1:${p.peerPort}`).join(',');
  // members wait for each other's votes: start them together, each ready once there is a quorum
  const settled = await Promise.allSettled(places.map((p) => runEtcd(binary, { ...p, initialCluster }, undefined)));
  const members = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  // a member that failed to start has removed its own directory already
  const stop = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.stop()));
  };
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const member = (i: number): EtcdServer => {
    const m = members[i];
    if (!m) throw new Error(`no etcd member ${i}`);
    return m;
  };
  return {
    urls: members.map((m) => m.url),
    member,
    halt: (i) => member(i).halt(),
    async restart(...indexes) {
      const back = await Promise.all(indexes.map((i) => member(i).restart()));
      indexes.forEach((i, k) => {
        members[i] = back[k] ?? member(i);
      });
    },
    stop,
  };
}

async function runEtcd(binary: string, place: EtcdPlace, tls: EtcdServerTls | undefined): Promise<EtcdServer> {
  const { dir, clientPort, peerPort } = place;
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const name = place.name ?? 'quell';
  const tlsArgs = tls ? ['--cert-file', tls.cert, '--key-file', tls.key, '--trusted-ca-file', tls.ca, ...(tls.client ? ['--client-cert-auth'] : [])] : [];
  const child = spawnChild(binary, [
    '--name', name,
    '--data-dir', dir,
    '--listen-client-urls', place.alsoListenOn ? `${url},${url.replace('127.0.0.1', place.alsoListenOn)}` : url,
    '--advertise-client-urls', url,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', place.initialCluster ?? `${name}=${peer}`,
    '--log-level', 'error',
    ...tlsArgs,
  ], { env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? '' : process.arch } });
  let failedToStart = false;
  void child.exited.then((code) => {
    failedToStart = code === -1;
  });
  const halt = async (): Promise<void> => {
    await child.stop('SIGTERM', 3_000);
  };
  const stop = async (): Promise<void> => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  const client = connectEtcd({ endpoints: [url], callTimeoutMs: 1_000, ca: tls?.ca, cert: tls?.client?.cert, key: tls?.client?.key });
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.proc.exitCode !== null || failedToStart) {
        throw new Error(`etcd (${binary}) did not start: ${child.stderr().slice(-1000).trim()} — install etcd (Debian: apt-get install etcd-server)`);
      }
      try {
        await client.get('/quell/v1/ping').string();
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`etcd did not become ready at ${url}: ${String(err)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  } finally {
    client.close();
  }
  return { url, child, stop, halt, restart: () => runEtcd(binary, place, tls) };
}
