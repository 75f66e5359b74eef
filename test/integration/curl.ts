import { execFile } from 'node:child_process';

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** The real curl; the reply's last status line, its headers (lower-cased) and body. */
export function curl(ca: string, args: string[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-i', '--cacert', ca, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl ${args.join(' ')}: ${stderr || err.message}`));
      let rest = stdout;
      for (;;) {
        const end = rest.indexOf('\r\n\r\n');
        const head = rest.slice(0, end).split('\r\n');
        const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(head[0] ?? '')?.[1]);
        rest = rest.slice(end + 4);
        if (status === 100) continue;
        const headers: Record<string, string> = {};
        for (const line of head.slice(1)) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
        return resolve({ status, headers, body: rest });
      }
    });
  });
}

