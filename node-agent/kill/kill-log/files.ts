import { open, readdir, rename, unlink } from 'node:fs/promises';
import * as path from 'node:path';

/** The file appends go to; rotated files are kill_log.1.jsonl (newest) … kill_log.<keep>.jsonl. */
export const CURRENT_FILE = 'kill_log.jsonl';
const ROTATED = /^kill_log\.([1-9][0-9]*)\.jsonl$/;

export function rotatedFile(n: number): string {
  return `kill_log.${n}.jsonl`;
}

/** The rotated files present in `dir`, oldest first (a gap left by a failed rotation is fine). */
export async function rotatedFiles(dir: string): Promise<string[]> {
  const numbered: { n: number; name: string }[] = [];
  for (const name of await readdir(dir)) {
    const m = ROTATED.exec(name);
    if (m) numbered.push({ n: Number(m[1]), name });
  }
  return numbered.sort((a, b) => b.n - a.n).map((f) => path.join(dir, f.name));
}

function ignoreMissing(err: unknown): void {
  if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
}

/**
 * Shifts the rotated files up by one (the oldest beyond `keep` is removed) and renames the
 * current file to kill_log.1.jsonl. A failure stops the shift where it is: every file is still
 * under some name the reader lists, so nothing already synced is lost.
 */
export async function shiftFiles(dir: string, keep: number): Promise<void> {
  const present = new Set((await rotatedFiles(dir)).map((f) => path.basename(f)));
  for (const name of present) {
    const n = Number(ROTATED.exec(name)?.[1]);
    if (n >= keep) await unlink(path.join(dir, name)).catch(ignoreMissing);
  }
  for (let n = keep - 1; n >= 1; n--) {
    if (present.has(rotatedFile(n))) await rename(path.join(dir, rotatedFile(n)), path.join(dir, rotatedFile(n + 1))).catch(ignoreMissing);
  }
  await rename(path.join(dir, CURRENT_FILE), path.join(dir, rotatedFile(1))).catch(ignoreMissing);
}

/**
 * Makes a create or rename in `dir` durable (the entries of a file nobody can find are lost).
 * File systems that cannot sync a directory (EINVAL) order their metadata themselves.
 */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EINVAL') throw err;
  } finally {
    await fh.close();
  }
}
