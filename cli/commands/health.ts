import * as grpc from '@grpc/grpc-js';
import { UsageError } from '../args';
import { exitWhenWritten } from '../exit-when-written';
import { COMMAND_SPECS } from '../flags';
import { commandConfig } from '../config';
import { tlsOptionsFromArgs } from '../tls-args';
import { HEALTH_DEFINITION } from '../../common/grpc/health-service';
import { DEFAULT_TRUST_DOMAIN, describeExpectation } from '../../common/tls/identity';
import { lastConnectError } from '../../common/tls/failures';
import { hasTlsFiles, IDENTITY_MISMATCH, loadCertFiles, plaintextAllowed, serverIdentityCheck, tlsFailure, type TlsOptions } from '../../common/tls';
import { transportReason } from '../../common/grpc/rpc-status';
import { chError } from '../../errors/quell-error';
import { errorText } from '../../errors/error-text';
import { terminalSafe } from '../../sql/formats/terminal-safe';

/**
 * `quell health ADDRESS`: grpc.health.v1 Check of a coordinator or an agent (common/daemon/daemon-probes.ts),
 * for scripts and orchestrators. Exit 0 when SERVING; otherwise one line that names the
 * address and why, exit 1. The whole check, connecting included, has one deadline.
 */
export async function runHealth(argv: string[]): Promise<number> {
  const config = commandConfig('health', COMMAND_SPECS.health.flags, argv, { positionals: true });
  if (!config) return 0;
  const { values, positionals } = config;
  const [address, ...extra] = positionals;
  if (!address) throw new UsageError('needs the ADDRESS (host:port) of a coordinator or agent', true);
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0] ?? ''}'`, true);
  const seconds = Number(values.timeout);
  if (!(seconds > 0)) throw new UsageError(`--timeout must be a positive number of seconds, got '${values.timeout}'`);
  const outcome = await checkHealth(address, { tls: tlsOptionsFromArgs(values), service: values.service, timeoutMs: seconds * 1000 });
  if (outcome.serving) process.stdout.write(`${address}: SERVING\n`);
  else process.stderr.write(`quell health: ${terminalSafe(address)}: ${terminalSafe(outcome.reason)}\n`);
  // a handshake that never finished (a silent port) would keep the process waiting
  return exitWhenWritten(outcome.serving ? 0 : 1);
}

export type HealthOutcome = { readonly serving: true } | { readonly serving: false; readonly reason: string };

/**
 * Channel credentials for a daemon of either kind: the server must present a coordinator or an
 * agent identity of the trust domain, signed by the CA; a client certificate is optional (the
 * probes check no role).
 */
function credentials(address: string, o: TlsOptions): grpc.ChannelCredentials {
  if (!hasTlsFiles(o)) {
    plaintextAllowed(address, o.insecure);
    return grpc.credentials.createInsecure();
  }
  if (o.insecure) throw chError('BAD_ARGUMENTS', '--insecure contradicts --tls-ca/--tls-cert/--tls-key: give one or the other');
  if (o.ca === undefined) throw chError('BAD_ARGUMENTS', '--tls-ca is required with --tls-cert/--tls-key: the daemon is verified against it');
  const trustDomain = o.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  let loaded;
  try {
    loaded = loadCertFiles({ ca: o.ca, cert: o.cert, key: o.key }, trustDomain);
  } catch (err) {
    throw chError('BAD_ARGUMENTS', errorText(err));
  }
  const checks = (['coordinator', 'agent'] as const).map((role) => serverIdentityCheck(role, trustDomain));
  const expected = `${describeExpectation('coordinator', trustDomain)} or ${describeExpectation('agent', trustDomain)}`;
  return grpc.credentials.createSsl(loaded.ca, loaded.own?.key ?? null, loaded.own?.cert ?? null, {
    checkServerIdentity: (host, cert) => {
      const errors = checks.map((check) => check(host, cert));
      if (errors.some((e) => e === undefined)) return undefined;
      const presented = /peer presented (.*)$/.exec(errors[0]?.message ?? '')?.[1] ?? 'another identity';
      return new Error(`${IDENTITY_MISMATCH}: expected ${expected}, peer presented ${presented}`);
    },
  });
}

function oneLine(text: string): string {
  return lastConnectError(text).replace(/\s+/g, ' ').trim();
}

function reasonOf(err: grpc.ServiceError, timeoutMs: number): string {
  switch (err.code) {
    case grpc.status.NOT_FOUND:
      return `no such service (${err.details})`;
    case grpc.status.UNIMPLEMENTED:
      return 'a gRPC server without grpc.health.v1.Health: not a quell daemon';
    case grpc.status.DEADLINE_EXCEEDED:
      return `no health answer within ${timeoutMs / 1000} s: not a gRPC server (or not answering)`;
    case grpc.status.UNAVAILABLE: {
      const tls = tlsFailure(err.details);
      if (tls) return tls.reason;
      if (/no application protocol/i.test(err.details)) return 'not a gRPC server: a TLS port that does not speak HTTP/2';
      const reason = oneLine(transportReason(err.details));
      if (/ECONNREFUSED/.test(reason)) return `${reason}: nothing listens there`;
      return /Received HTTP status code|Protocol error|HTTP2|http2/i.test(reason) ? `not a gRPC server (${reason})` : reason;
    }
    default:
      return `${grpc.status[err.code] ?? err.code}: ${oneLine(err.details)}`;
  }
}

/** One Check call with its own channel, closed before the answer is returned. */
export function checkHealth(address: string, o: { readonly tls: TlsOptions; readonly service: string; readonly timeoutMs: number }): Promise<HealthOutcome> {
  const Client = grpc.makeGenericClientConstructor(HEALTH_DEFINITION, 'Health');
  const client = new Client(address, credentials(address, o.tls));
  return new Promise<HealthOutcome>((resolve) => {
    const deadline = new Date(Date.now() + o.timeoutMs);
    const check = (client as unknown as { check: (req: unknown, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status?: unknown }) => void) => void }).check;
    check.call(client, { service: o.service }, { deadline }, (err, res) => {
      if (err) resolve({ serving: false, reason: reasonOf(err, o.timeoutMs) });
      else if (res?.status === 'SERVING') resolve({ serving: true });
      else resolve({ serving: false, reason: `${String(res?.status ?? 'UNKNOWN')}${o.service ? ` (service '${o.service}')` : ''}` });
    });
  }).finally(() => client.close());
}
