import type { TlsOptions } from '../common/tls/options';

// the flags themselves (TLS_FLAGS) are in cli/flags.ts, with every command's others

export function tlsOptionsFromArgs(values: { 'tls-ca'?: string | undefined; 'tls-cert'?: string | undefined; 'tls-key'?: string | undefined; insecure?: boolean; 'trust-domain'?: string }): TlsOptions {
  return { ca: values['tls-ca'], cert: values['tls-cert'], key: values['tls-key'], insecure: values.insecure, trustDomain: values['trust-domain'] };
}

/** The same options as argv, for the daemons `quell local` and the tests start. */
export function tlsArgv(o: TlsOptions): string[] {
  const argv: string[] = [];
  if (o.ca !== undefined) argv.push('--tls-ca', o.ca);
  if (o.cert !== undefined) argv.push('--tls-cert', o.cert);
  if (o.key !== undefined) argv.push('--tls-key', o.key);
  if (o.insecure) argv.push('--insecure');
  if (o.trustDomain !== undefined) argv.push('--trust-domain', o.trustDomain);
  return argv;
}
