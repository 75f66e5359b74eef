import type { FileHandle } from 'node:fs/promises';

const CHUNK = 64 * 1024;

/**
 * The lines of a file up to byte `limit`, each without its '\n'. A last line with no '\n' (a
 * write torn by a crash) is yielded too; the caller decides whether it is an entry.
 */
export async function* fileLines(fh: FileHandle, limit = Infinity): AsyncGenerator<string> {
  const chunk = Buffer.alloc(CHUNK);
  let pos = 0;
  let carry: Buffer[] = [];
  while (pos < limit) {
    const { bytesRead } = await fh.read(chunk, 0, Math.min(CHUNK, limit - pos), pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    const data = chunk.subarray(0, bytesRead);
    let start = 0;
    for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
      carry.push(data.subarray(start, nl));
      const line = Buffer.concat(carry).toString('utf8');
      carry = [];
      start = nl + 1;
      yield line;
    }
    // copied: the chunk buffer is reused by the next read
    if (start < bytesRead) carry.push(Buffer.from(data.subarray(start)));
  }
  if (carry.length > 0) yield Buffer.concat(carry).toString('utf8');
}

/**
 * The complete lines of a file's first `size` bytes, last first, each without its '\n'. What
 * follows the last '\n' (a torn write) is not a line here. For finding the newest entry quickly.
 */
export async function* linesBackward(fh: FileHandle, size: number): AsyncGenerator<string> {
  let pos = size;
  // bytes before the earliest '\n' seen so far: the end of a line whose start is further back
  let head: Buffer = Buffer.alloc(0);
  let pastTorn = false;
  while (pos > 0) {
    const n = Math.min(CHUNK, pos);
    pos -= n;
    const chunk = Buffer.alloc(n);
    const { bytesRead } = await fh.read(chunk, 0, n, pos);
    if (bytesRead < n) return; // the file shrank under us: nothing reliable to say
    const data = head.length > 0 ? Buffer.concat([chunk, head]) : chunk;
    let end = data.length;
    while (end > 0) {
      const nl = data.lastIndexOf(10, end - 1);
      if (nl === -1) break;
      if (pastTorn) yield data.subarray(nl + 1, end).toString('utf8');
      pastTorn = true;
      end = nl;
    }
    head = data.subarray(0, end);
  }
  if (pastTorn && head.length > 0) yield head.toString('utf8');
}
