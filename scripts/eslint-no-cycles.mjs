// An ESLint rule that fails on import cycles among quell's own modules (docs/architecture.md
// §Floors: "no import cycles"). ESLint sees one file at a time, so the rule reads the import
// graph of the whole tree once per run and reports each file that sits on a cycle, naming it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// not import.meta.dirname: that needs Node 20.11, and package.json allows any Node 20
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['errors', 'sql', 'proto', 'common', 'coordinator', 'node-agent', 'client', 'cli', 'bench'];
const SKIP = new Set(['generated', 'node_modules', 'dist']);
// `import … from './x'`, `export … from './x'`, `import './x'` (type-only imports count: a cycle of
// types still ties two files together)
const IMPORT = /\b(?:import|export)\b[^'";]*?['"](\.{1,2}\/[^'"]+)['"]/g;

function sourceFiles(dir, out) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function resolve(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [`${base}.ts`, path.join(base, 'index.ts'), base]) if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  return undefined;
}

/** Every file on a cycle, mapped to the files of its cycle (Tarjan's strongly connected components). */
function cycles() {
  const files = SOURCE_DIRS.flatMap((d) => (fs.existsSync(path.join(ROOT, d)) ? sourceFiles(path.join(ROOT, d), []) : []));
  const edges = new Map();
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    const to = new Set();
    for (const m of text.matchAll(IMPORT)) {
      const target = resolve(f, m[1]);
      if (target) to.add(target);
    }
    edges.set(f, to);
  }
  let index = 0;
  const idx = new Map(), low = new Map(), stack = [], onStack = new Set(), onCycle = new Map();
  const strong = (v) => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do { w = stack.pop(); onStack.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || edges.get(v)?.has(v)) for (const f of comp) onCycle.set(f, comp.map((c) => path.relative(ROOT, c)).sort());
    }
  };
  for (const f of files) if (!idx.has(f)) strong(f);
  return onCycle;
}

let found;
export default {
  rules: {
    'no-import-cycles': {
      meta: { type: 'problem', schema: [], messages: { cycle: 'this file is on an import cycle: {{files}} (docs/architecture.md §Floors)' } },
      create(context) {
        return {
          Program(node) {
            found ??= cycles();
            const files = found.get(path.resolve(context.filename));
            if (files) context.report({ node, messageId: 'cycle', data: { files: files.join(', ') } });
          },
        };
      },
    },
  },
};
