import * as path from 'node:path';
import type { TlsOptions } from '../common/tls';

/** The CA and one identity's pair in a `quell certs init` directory (the bench cluster's PKI). */
export function pkiFiles(dir: string, name: string): TlsOptions {
  return { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}-key.pem`) };
}
