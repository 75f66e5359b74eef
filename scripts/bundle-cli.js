#!/usr/bin/env node
'use strict';
// Bundles `quell client` (cli/client-process.ts, with protobufjs) into one file,
// dist/cli/client-process.js, over tsc's output of the same entry, which works the same but
// loads many modules. Run by `npm run build` after tsc; cli/quell.ts explains why.
const esbuild = require('esbuild');
const { readFileSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'dist', 'cli', 'client-process.js');
// Packages inlined: the codec's runtime. The packages it pulls in are inlined with it; any
// other package stays a require of node_modules, as without the bundle.
const INLINE = new Set(['protobufjs']);
// Modules of quell that stay the compiled ones in dist/ (a require from dist/cli/):
// - the code cache, already on when the bundle loads (cli/quell.ts): one instance, not a copy;
// - QuellError, which the code cache's module and the bundle both raise: `instanceof` must see one class.
// QuellClient is in the bundle with its transport (client/transport/: Node's own HTTP/2), so
// that no gRPC library is loaded.
const SHARED = new Map(
  ['common/startup/compile-cache', 'errors/quell-error'].map((m) => [path.join(ROOT, `${m}.ts`), `../${m}`]),
);

function packageName(spec) {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const boundaries = {
  name: 'quell-bundle-boundaries',
  setup(build) {
    build.onResolve({ filter: /^\./ }, (args) => {
      const shared = SHARED.get(path.resolve(args.resolveDir, `${args.path}.ts`));
      return shared === undefined ? undefined : { path: shared, external: true };
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
    // (common/startup/compile-cache.ts then compiles the whole file without the cache)
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
