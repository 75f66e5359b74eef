import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';

// What an orchestrator's probe and a scraper have: the CA, no certificate, no quell code.

const LOADER: protoLoader.Options = { keepCase: true, enums: String, defaults: true, oneofs: true };
const REFLECTION_ROOT = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');

export type Serving = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN';

interface HealthClient extends grpc.Client {
  check(req: { service: string }, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, res?: { status: Serving }) => void): unknown;
  watch(req: { service: string }): grpc.ClientReadableStream<{ status: Serving }>;
}

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_message: string };
}

interface ReflectionClient extends grpc.Client {
  ServerReflectionInfo(): grpc.ClientDuplexStream<{ list_services: string } | { file_containing_symbol: string }, ReflectionResponse>;
}

function clientOf<C>(file: string, service: string, address: string, ca: string, includeDirs: string[] = []): C {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(file, { ...LOADER, includeDirs }));
  const Ctor = service.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], pkg) as grpc.ServiceClientConstructor;
  return new Ctor(address, grpc.credentials.createSsl(readFileSync(ca))) as unknown as C;
}

/** grpc.health.v1.Health over TLS trusting `ca`, without a client certificate. */
export class HealthProbe {
  private readonly client: HealthClient;

  constructor(address: string, ca: string) {
    this.client = clientOf<HealthClient>(HEALTH_PROTO, 'grpc.health.v1.Health', address, ca);
  }

  check(service = ''): Promise<Serving> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + 3_000;
      this.client.check({ service }, { deadline }, (err, res) => (err || !res ? reject(err ?? new Error('no answer')) : resolve(res.status)));
    });
  }

  /** Polls Check until it answers `want` (or throws after `timeoutMs`, naming the last answer). */
  async until(want: Serving, service = '', timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = await this.check(service).catch((err: unknown) => `error: ${String(err)}`);
      if (last === want) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`health of '${service}' stayed ${last}, expected ${want}`);
  }

  /** Opens Watch; `statuses` fills as the server streams them, `ended` settles with the stream. */
  watch(service = ''): { statuses: Serving[]; ended: Promise<string>; cancel(): void } {
    const statuses: Serving[] = [];
    const call = this.client.watch({ service });
    call.on('data', (m: { status: Serving }) => statuses.push(m.status));
    const ended = new Promise<string>((resolve) => {
      call.on('status', (s: grpc.StatusObject) => resolve(grpc.status[s.code]));
    });
    call.on('error', () => undefined);
    return { statuses, ended, cancel: () => call.cancel() };
  }

  close(): void {
    this.client.close();
  }
}

/** One reflection request and its answer (`v1` or `v1alpha`). */
function reflect(address: string, ca: string, version: 'v1' | 'v1alpha', request: { list_services: string } | { file_containing_symbol: string }): Promise<ReflectionResponse> {
  const client = clientOf<ReflectionClient>(`grpc/reflection/${version}/reflection.proto`, `grpc.reflection.${version}.ServerReflection`, address, ca, [REFLECTION_ROOT]);
  return new Promise<ReflectionResponse>((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.on('data', (res: ReflectionResponse) => {
      call.end();
      if (res.error_response) reject(new Error(`reflection answered ${res.error_response.error_message}`));
      else resolve(res);
    });
    call.on('error', reject);
    call.write(request);
  }).finally(() => client.close());
}

/** The service names a server lists by reflection. */
export async function reflectedServices(address: string, ca: string, version: 'v1' | 'v1alpha' = 'v1'): Promise<string[]> {
  const res = await reflect(address, ca, version, { list_services: '' });
  return (res.list_services_response?.service ?? []).map((s) => s.name).sort();
}

/**
 * What a reflection client such as grpcurl builds from the server alone: the files that define
 * `symbol`, loaded as a package definition (a FileDescriptorSet is its files as field 1).
 */
export async function reflectedDefinition(address: string, ca: string, symbol: string): Promise<protoLoader.PackageDefinition> {
  const res = await reflect(address, ca, 'v1', { file_containing_symbol: symbol });
  const files = res.file_descriptor_response?.file_descriptor_proto ?? [];
  const set = Buffer.concat(files.flatMap((f) => [Buffer.from([0x0a]), varint(f.length), f]));
  return protoLoader.loadFileDescriptorSetFromBuffer(set, LOADER);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  for (; n > 0x7f; n >>>= 7) bytes.push((n & 0x7f) | 0x80);
  bytes.push(n);
  return Buffer.from(bytes);
}

/** GET `url` over HTTPS trusting `ca`; the status and body. */
export function scrape(url: string, ca: string): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: readFileSync(ca), agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

/**
 * Prometheus text exposition parsed strictly enough to catch a malformed line: every sample is
 * `name{labels} value`, every family has HELP and TYPE before its samples.
 */
export function parseExposition(text: string): { value(name: string, labels?: Record<string, string>): number | undefined; types: Map<string, string> } {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  const types = new Map<string, string>();
  const helped = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') types.set(meta[2]!, meta[3]!);
      else helped.add(meta[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) labels[l[1]!] = l[2]!;
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(m[1]!) && !types.has(family)) throw new Error(`sample before its TYPE: ${line}`);
    if (!helped.has(m[1]!) && !helped.has(family)) throw new Error(`sample without HELP: ${line}`);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return {
    types,
    value(name, labels = {}) {
      const hit = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      return hit?.value;
    },
  };
}
