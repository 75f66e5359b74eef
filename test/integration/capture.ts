import { execFile, spawn } from 'node:child_process';

/**
 * Packet captures on loopback with tshark, for tests that check what crosses the wire. tshark
 * must be installed (`.ci/run` installs it) and allowed to capture (CI runs as root): a
 * missing or failing tshark fails the test, so a capture test never passes by not capturing.
 */

const START_TIMEOUT_MS = 20_000;

/** Captures TCP traffic to and from `ports` on `lo` into `file` (pcap) while `traffic` runs. */
export async function captureLoopback(file: string, ports: readonly number[], traffic: () => Promise<void>): Promise<void> {
  const filter = ports.map((p) => `tcp port ${p}`).join(' or ');
  const tshark = spawn('tshark', ['-i', 'lo', '-f', filter, '-F', 'pcap', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve, reject) => {
    tshark.on('error', (err) => reject(new Error(`cannot run tshark (install it: apt-get install tshark; .ci/run does): ${err.message}`)));
    tshark.on('close', (code) => resolve(code));
  });
  tshark.stderr.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tshark did not start capturing within ${START_TIMEOUT_MS} ms: ${stderr}`)), START_TIMEOUT_MS);
    tshark.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      // dumpcap says so once the interface is open and the filter is set
      if (stderr.includes('Capturing on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    exited.then(
      (code) => {
        clearTimeout(timer);
        reject(new Error(`tshark exited (${code}) before capturing: ${stderr.trim()}`));
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
  try {
    await traffic();
    // let dumpcap take the last packets from the kernel before it is told to stop
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    tshark.kill('SIGINT');
  }
  const code = await exited;
  if (code !== 0) throw new Error(`tshark exited ${code}: ${stderr.trim()}`);
}

/** `tshark -r file …args`: its stdout. */
export function readCapture(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('tshark', ['-r', file, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tshark -r ${file} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}
