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
