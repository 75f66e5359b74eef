import * as crypto from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';

/**
 * A V8 code cache for the CommonJS modules a quell command loads (Node 20 has no
 * module.enableCompileCache). Compiling grpc-js, etcd3, pino and quell is about a fifth of a
 * command's start; with the cache, V8 reads the compiled code instead. It pays for `quell client`
 * (each run is a whole process) and for an agent's join.
 *
 * One file per command and installation under $QUELL_COMPILE_CACHE (default
 * $XDG_CACHE_HOME/quell or ~/.cache/quell; `off` disables it). Entries are keyed by file name
 * and the SHA-1 of the source: V8 itself checks only the source's length. The file is written
 * only when a module had no usable entry: a second after the command started (so the functions
 * its start-up ran are in it) and again at exit if more were compiled since. It is never
 * required: any failure to read or write it leaves modules compiled as usual.
 *
 * Beside it, the command's module resolutions may be remembered (common/startup/resolve-cache.ts).
 */

interface CjsModule {
  exports: unknown;
  require(id: string): unknown;
}

interface ModuleInternals {
  wrap(source: string): string;
  _resolveFilename(request: string, parent: CjsModule, isMain: boolean, options?: { paths?: string[] }): string;
  _resolveLookupPaths(request: string, parent: CjsModule): string[] | null;
  _extensions: NodeJS.RequireExtensions;
  _cache: NodeJS.Dict<NodeJS.Module>;
  prototype: { _compile(this: CjsModule, content: string, filename: string, format?: string): unknown };
}

const M = Module as unknown as ModuleInternals;
const MAX_FILE_BYTES = 64 * 1024 * 1024;
/**
 * Files of checkouts, builds and Node versions no longer in use go after this long unwritten;
 * one still in use that goes too is written again by its next run.
 */
const STALE_MS = 30 * 24 * 3600 * 1000;

interface Entry {
  readonly hash: string;
  readonly data: Buffer;
}

const stats = { hits: 0, misses: 0 };

/** How many modules were compiled from the cache and without it in this process (tests, tuning). */
export function compileCacheStats(): { hits: number; misses: number } {
  return { ...stats };
}

function cacheDir(): string | undefined {
  const setting = process.env.QUELL_COMPILE_CACHE;
  if (setting === 'off' || setting === '0') return undefined;
  // the debugger and source-mapped stack traces need Node's own compile path
  if (process.sourceMapsEnabled || process.execArgv.some((a) => a.startsWith('--inspect'))) return undefined;
  if (setting) return setting;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'quell');
}

// crypto.hash (Node 20.12+) hashes a whole source several times faster than a Hash object at start-up
function sha1(text: string): string {
  return typeof crypto.hash === 'function' ? crypto.hash('sha1', text, 'hex') : crypto.createHash('sha1').update(text).digest('hex');
}

// [u32 name length][name][u32 hash length][hash][u32 data length][data]…
function readEntries(file: string): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    return entries;
  }
  let at = 0;
  const field = (): Buffer => {
    const n = buf.readUInt32LE(at);
    const out = buf.subarray(at + 4, at + 4 + n);
    at += 4 + n;
    return out;
  };
  try {
    while (at < buf.length) {
      const name = field().toString();
      const hash = field().toString();
      entries.set(name, { hash, data: field() });
    }
  } catch {
    return new Map(); // a torn or foreign file: start over
  }
  return entries;
}

function writeEntries(file: string, entries: Map<string, Entry>): void {
  const parts: Buffer[] = [];
  let size = 0;
  const field = (b: Buffer): void => {
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.length);
    parts.push(n, b);
    size += 4 + b.length;
  };
  for (const [name, e] of entries) {
    field(Buffer.from(name));
    field(Buffer.from(e.hash));
    field(e.data);
  }
  if (size > MAX_FILE_BYTES) return;
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // written whole, then renamed: a process reading it meanwhile sees the old file or the new one
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.concat(parts), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // no cache this time
    return;
  }
  prune(path.dirname(file));
}

/** Removes this cache's files nobody wrote for STALE_MS, and temporary files a killed writer left. */
function prune(dir: string): void {
  const now = Date.now();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const tmp = name.endsWith('.tmp');
    if (!tmp && !name.endsWith('.bin') && !name.endsWith('.paths.json')) continue;
    const file = path.join(dir, name);
    try {
      if (now - statSync(file).mtimeMs > (tmp ? 3_600_000 : STALE_MS)) rmSync(file, { force: true });
    } catch {
      // another process removed it first
    }
  }
}

function makeRequire(mod: CjsModule): NodeJS.Require {
  const req = ((id: string) => mod.require(id)) as NodeJS.Require;
  const resolve = ((request: string, options?: { paths?: string[] }) => M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => M._resolveLookupPaths(request, mod);
  req.resolve = resolve;
  req.main = require.main;
  req.extensions = M._extensions;
  req.cache = M._cache;
  return req;
}

let enabled = false;

export interface CompileCacheOptions {
  /**
   * Also remember the command's module resolutions, in a file beside the code's named from
   * `base` (common/startup/resolve-cache.ts: rememberResolutions). A bundle has too little to resolve
   * for it to pay.
   */
  readonly resolutions?: (base: string) => { save(): void } | undefined;
}

/** Compiles every CommonJS module loaded from now on through the cache file of `command`. */
export function enableCompileCache(command: string, options: CompileCacheOptions = {}): void {
  const dir = cacheDir();
  if (enabled || !dir) return;
  enabled = true;
  // one file per installation, Node build and V8 flags (V8 refuses code cached under other
  // flags): two checkouts, Node versions or NODE_OPTIONS never evict each other's entries
  const runtime = [__dirname, process.version, process.arch, process.execArgv.join(' '), process.env.NODE_OPTIONS ?? ''];
  const key = sha1(runtime.join('\0')).slice(0, 16);
  const base = path.join(dir, `${command.replace(/[^\w-]/g, '_')}-${key}`);
  const file = `${base}.bin`;
  const stored = readEntries(file);
  const resolutions = options.resolutions?.(base);
  const compiled = new Map<string, { hash: string; script: vm.Script }>();
  // a module compiled without a usable entry since the file was last written
  let dirty = false;
  const original = M.prototype._compile;

  M.prototype._compile = function compile(this: CjsModule, content: string, filename: string, format?: string): unknown {
    // ES modules, and dynamic import() (which a vm.Script cannot serve without an experimental flag), keep Node's path
    if ((format !== undefined && format !== 'commonjs') || content.includes('import(')) return original.call(this, content, filename, format);
    const hash = sha1(content);
    const entry = stored.get(filename);
    const cachedData = entry?.hash === hash ? entry.data : undefined;
    let script: vm.Script;
    try {
      // a #! line becomes a comment of the same length: line and column numbers stay as they are
      const source = content.startsWith('#!') ? `//${content.slice(2)}` : content;
      script = new vm.Script(M.wrap(source), { filename, cachedData });
    } catch {
      return original.call(this, content, filename, format); // Node reports the syntax error its own way
    }
    if (cachedData && !script.cachedDataRejected) stats.hits++;
    else {
      stats.misses++;
      dirty = true;
    }
    compiled.set(filename, { hash, script });
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(this.exports, this.exports, makeRequire(this), this, filename, path.dirname(filename));
  };

  // entries of modules this run did not load stay: an agent with a backend loads more than one without
  const save = (): void => {
    resolutions?.save();
    if (!dirty) return;
    dirty = false;
    for (const [name, c] of compiled) stored.set(name, { hash: c.hash, data: c.script.createCachedData() });
    writeEntries(file, stored);
  };
  setTimeout(save, 1_000).unref();
  process.once('exit', save);
}
