#!/usr/bin/env node
'use strict';
// Bundles `quell client` (cli/client-process.ts, with grpc-js and protobufjs) into one file,
// dist/cli/client-process.js, over tsc's output of the same entry, which works the same but
// loads ~130 modules. Run by `npm run build` after tsc; cli/quell.ts explains why.
const esbuild = require('esbuild');
const { readFileSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'dist', 'cli', 'client-process.js');
// Packages inlined: the gRPC stack the client talks with. The packages these pull in are
// inlined with them; any other package stays a require of node_modules, as without the bundle.
const INLINE = new Set(['@grpc/grpc-js', 'protobufjs']);
const COMPILE_CACHE = path.join(ROOT, 'common', 'compile-cache.ts');

function packageName(spec) {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const boundaries = {
  name: 'quell-bundle-boundaries',
  setup(build) {
    // the code cache is already on when the bundle loads (cli/quell.ts): it stays the one
    // module instance, dist/common/compile-cache.js, rather than a second copy in the bundle
    build.onResolve({ filter: /compile-cache$/ }, (args) => {
      if (path.resolve(args.resolveDir, `${args.path}.ts`) !== COMPILE_CACHE) return undefined;
      return { path: '../common/compile-cache', external: true };
    });
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return undefined;
      const fromPackage = args.importer.split(path.sep).includes('node_modules');
      if (fromPackage || INLINE.has(packageName(args.path))) return undefined;
      return { path: args.path, external: true };
    });
  },
};

async function main() {
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ['cli/client-process.ts'],
    outfile: OUT,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: true,
    // import() of an external would stay import(), which a cached vm.Script cannot run
    // (common/compile-cache.ts then compiles the whole file without the cache)
    supported: { 'dynamic-import': false },
    plugins: [boundaries],
    logLevel: 'warning',
  });
  if (readFileSync(OUT, 'utf8').includes('import(')) throw new Error(`${OUT} holds an import(): the code cache would skip it`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
