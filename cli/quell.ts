#!/usr/bin/env node
import { enableCompileCache } from '../common/startup/compile-cache';

// The `quell` command (package.json bin). `quell client` is a whole process per statement, so
// its start is what an operator waits for: its code is one prebuilt file (cli/client-process.ts,
// bundled by scripts/bundle-cli.js), read through the code cache. One file spares Node the
// resolving, package.json scopes and wrapping of dozens of modules; QuellClient speaks gRPC on
// Node's own HTTP/2 (client/transport/), so no gRPC library is loaded either. Every other command
// runs cli/main.ts, which loads each command's compiled modules as they are.
if (process.argv[2] === 'client') {
  // before the bundle is loaded, so that its compiled code comes from the cache too; a file of
  // its own, which holds the bundle's code alone and never the compiled modules of the same
  // command run from cli/main.ts (read whole at every start, it stays small)
  enableCompileCache('client-bundle');
  void import('./client-process');
} else {
  void import('./main');
}
