import { runMain } from './dispatch';

// A `quell client` process, and nothing else: the entry that scripts/bundle-cli.js makes into
// one file, dist/cli/client-process.js (over tsc's output of it). cli/quell.ts runs it.
void runMain({ client: async () => (await import('./commands/client')).runClient });
