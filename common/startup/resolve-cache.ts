import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';

/**
 * Remembered module resolutions for a quell command: where `require(request)` from a directory
 * led last time. Node resolves each of the ~180 requires of `quell client` by probing files,
 * reading package.json scopes and realpaths, about a tenth of the client's start; a hit is one
 * existsSync.
 *
 * What resolves where changes only when the files do, so the remembered paths belong to one
 * build and one install: the file is keyed by the modification time of this installation's
 * entry script (every build writes it), of npm's record of the last install
 * (node_modules/.package-lock.json, written by every npm install), and by what else steers
 * resolution (NODE_PATH, Node's options). Without that install record (another package
 * manager) nothing is remembered. common/startup/compile-cache.ts turns it on with the code cache.
 */

interface ModuleInternals {
  _resolveFilename(request: string, parent: { filename?: string | null } | undefined, isMain: boolean, options?: unknown): string;
}

const M = Module as unknown as ModuleInternals;

function mtime(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** npm's record of the install that holds `dependency`, found by walking up to its node_modules. */
function installRecord(dependency: string): string | undefined {
  let dir: string;
  try {
    dir = path.dirname(require.resolve(dependency));
  } catch {
    return undefined;
  }
  for (;;) {
    if (path.basename(dir) === 'node_modules') return path.join(dir, '.package-lock.json');
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** What the remembered paths are valid for; undefined when it cannot be told (then nothing is remembered). */
export function resolutionIdentity(entryScript: string): string | undefined {
  const record = installRecord('@grpc/grpc-js');
  const installed = record && mtime(record);
  const built = mtime(entryScript);
  if (installed === undefined || built === undefined) return undefined;
  return JSON.stringify([built, installed, process.env.NODE_PATH ?? '', process.env.NODE_OPTIONS ?? '', process.execArgv]);
}

/** Remembers resolutions in `file` (JSON) for `identity`; written with the code cache. */
export function enableResolveCache(file: string, identity: string): { save: () => void } {
  let paths: Record<string, string> = {};
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { identity?: unknown; paths?: unknown };
    if (stored.identity === identity && typeof stored.paths === 'object' && stored.paths !== null) paths = stored.paths as Record<string, string>;
  } catch {
    // none yet, or unreadable: start over
  }
  let dirty = false;
  const original = M._resolveFilename;
  M._resolveFilename = function resolve(request, parent, isMain, options) {
    const from = parent?.filename;
    // require.resolve with its own paths, the main module and code without a file resolve as usual
    if (options !== undefined || isMain || !from) return original.call(this, request, parent, isMain, options);
    const key = `${path.dirname(from)}\0${request}`;
    const known = Object.prototype.hasOwnProperty.call(paths, key) ? paths[key] : undefined;
    if (known !== undefined && (!path.isAbsolute(known) || existsSync(known))) return known;
    const resolved = original.call(this, request, parent, isMain, options);
    paths[key] = resolved;
    dirty = true;
    return resolved;
  };
  return {
    save: () => {
      if (!dirty) return;
      dirty = false;
      try {
        mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify({ identity, paths }), { mode: 0o600 });
        renameSync(tmp, file);
      } catch {
        // nothing remembered this time
      }
    },
  };
}

/**
 * The running command's resolutions, remembered in `<base>.paths.json` for this build and
 * install: what cli/dispatch.ts gives common/startup/compile-cache.ts.
 */
export function rememberResolutions(base: string): { save: () => void } | undefined {
  const identity = require.main ? resolutionIdentity(require.main.filename) : undefined;
  return identity === undefined ? undefined : enableResolveCache(`${base}.paths.json`, identity);
}
