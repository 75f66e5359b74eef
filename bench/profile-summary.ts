import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, or `npm run bench -- --profile DIR`):
 * self time by function and by module, as shares of all samples, plus the total time
 * (self and callees) of the heaviest functions.
 *
 *   node dist/bench/profile-summary.js FILE_OR_DIR… [--top N]
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

export interface Share {
  readonly name: string;
  readonly ms: number;
  readonly share: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly selfByLayer: Share[];
  readonly selfByFunction: Share[];
  readonly selfByModule: Share[];
  readonly totalByFunction: Share[];
}

/** `node_modules/@grpc/grpc-js/…` → `@grpc/grpc-js`, project files relative, node internals as `node:…`. */
export function moduleOf(url: string): string {
  if (!url) return '(native/V8)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = u.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? u);
  }
  if (u.startsWith('node:')) return u;
  const dist = u.lastIndexOf('/dist/');
  if (dist >= 0) return u.slice(dist + '/dist/'.length);
  return path.basename(u);
}

const TRANSPORT = /^(@grpc\/|protobufjs|@protobufjs\/|long$|node:internal\/(http2|streams|stream_base_commons|buffer|event_target|abort_controller|per_context\/domexception|process\/task_queues|util|timers)|node:(events|buffer|async_hooks|net|http2|timers|stream))/;

/** Coarse layers: quell's own code, the gRPC/HTTP2/stream machinery under it, logging, GC, the rest. */
export function layerOf(module: string): string {
  if (module === '(garbage collector)') return 'garbage collector';
  if (module === '(program)' || module === '(native/V8)') return 'native (V8, libuv, nghttp2, syscalls)';
  if (module === 'pino' || module.startsWith('pino') || module === 'sonic-boom' || module === 'thread-stream') return 'logging (pino)';
  if (TRANSPORT.test(module)) return 'transport (grpc-js, protobufjs, node http2/streams/events)';
  if (/^(sql|coordinator|node-agent|common|proto|client|cli|bench)\//.test(module)) return `quell ${module.split('/')[0] ?? ''}/`;
  if (module.startsWith('node:internal/modules') || module.startsWith('node:internal/bootstrap')) return 'module loading';
  return 'other';
}

function functionLabel(n: ProfileNode): string {
  const f = n.callFrame;
  const name = f.functionName || '(anonymous)';
  if (!f.url) return name;
  return `${name} ${moduleOf(f.url)}:${f.lineNumber + 1}`;
}

function ranked(map: Map<string, number>, total: number, top: number): Share[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, ms]) => ({ name, ms, share: total > 0 ? ms / total : 0 }));
}

export function summarise(profiles: readonly CpuProfile[], top = 25): ProfileSummary {
  const selfFn = new Map<string, number>();
  const selfMod = new Map<string, number>();
  const selfLayer = new Map<string, number>();
  const totalFn = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  for (const p of profiles) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const samples = p.samples ?? [];
    const deltas = p.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      const node = byId.get(samples[i] as number);
      // the delta before sample i+1 is the time spent in sample i
      const ms = (deltas[i + 1] ?? 0) / 1000;
      if (!node) continue;
      const fn = node.callFrame.functionName;
      if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)') {
        if (fn === '(idle)') {
          idleMs += ms;
          continue;
        }
      }
      totalMs += ms;
      const label = functionLabel(node);
      selfFn.set(label, (selfFn.get(label) ?? 0) + ms);
      const mod = fn === '(garbage collector)' || fn === '(program)' ? fn : moduleOf(node.callFrame.url);
      selfMod.set(mod, (selfMod.get(mod) ?? 0) + ms);
      const layer = layerOf(mod);
      selfLayer.set(layer, (selfLayer.get(layer) ?? 0) + ms);
      // inclusive time: each distinct function on the stack once
      const seen = new Set<string>();
      for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
        const n = byId.get(id);
        if (!n) break;
        const l = functionLabel(n);
        if (seen.has(l) || l === '(root)') continue;
        seen.add(l);
        totalFn.set(l, (totalFn.get(l) ?? 0) + ms);
      }
    }
  }
  return {
    totalMs,
    idleMs,
    selfByLayer: ranked(selfLayer, totalMs, top),
    selfByFunction: ranked(selfFn, totalMs, top),
    selfByModule: ranked(selfMod, totalMs, top),
    totalByFunction: ranked(totalFn, totalMs, top),
  };
}

function profileFiles(target: string): string[] {
  if (statSync(target).isDirectory()) {
    return readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => path.join(target, f));
  }
  return [target];
}

export function formatSummary(s: ProfileSummary): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1).padStart(5)}%`;
  const block = (title: string, rows: Share[]): string =>
    `${title}\n${rows.map((r) => `  ${pct(r.share)}  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`).join('\n')}`;
  return [
    `busy ${s.totalMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms`,
    block('self time by layer', s.selfByLayer),
    block('self time by module', s.selfByModule),
    block('self time by function', s.selfByFunction),
    block('total time (self + callees) by function', s.totalByFunction),
  ].join('\n\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  let top = 25;
  const targets: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i] ?? 25);
    else targets.push(args[i] as string);
  }
  if (targets.length === 0) {
    process.stderr.write('usage: profile-summary FILE_OR_DIR… [--top N]\n');
    process.exitCode = 2;
  } else {
    const profiles = targets.flatMap(profileFiles).map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);
    process.stdout.write(`${formatSummary(summarise(profiles, top))}\n`);
  }
}
