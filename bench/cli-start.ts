import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { QUELL_MAIN } from '../common/daemon/child-processes';
import { tlsArgv } from '../cli/tls-args';
import type { TlsOptions } from '../common/tls';

/** One process run to its end: wall milliseconds from spawn to exit; rejects unless it exits 0. */
function runToExit(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code === 0) resolve(ms);
      else reject(new Error(`${args.slice(1, 3).join(' ')} exited ${code}: ${stderr.trim().split('\n').pop() ?? ''}`));
    });
  });
}

export interface CliStartSamples {
  /** `quell client -q SQL`, spawn → exit */
  readonly client: number[];
  /** `node -e 0`, spawn → exit: the floor of any Node command on this machine */
  readonly node: number[];
}

/**
 * `quell client -q` as a whole process, as an operator types it, against a running coordinator.
 * Warm-up runs first (they also fill the compile cache, as any earlier run on the machine
 * would); then each measured run alternates with an empty `node -e 0`, so that both see the
 * same machine.
 */
export async function cliStart(coordinator: string, tls: TlsOptions, sql: string, runs: number): Promise<CliStartSamples> {
  const client = [QUELL_MAIN, 'client', '--coordinator', coordinator, ...tlsArgv(tls), '-q', sql];
  for (let i = 0; i < 3; i++) await runToExit(client);
  const samples: CliStartSamples = { client: [], node: [] };
  for (let i = 0; i < runs; i++) {
    samples.client.push(await runToExit(client));
    samples.node.push(await runToExit(['-e', '0']));
  }
  return samples;
}
