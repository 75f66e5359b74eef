import { parseEtcdUrls, type EtcdSecurity } from '../common/etcd/client';

// the flags themselves (ETCD_FLAGS) are in cli/flags.ts, with every command's others

export interface EtcdFlagValues {
  readonly etcd: string;
  readonly 'etcd-ca'?: string;
  readonly 'etcd-cert'?: string;
  readonly 'etcd-key'?: string;
  readonly 'etcd-user'?: string;
  /** the password, from the layers (QUELL_ETCD_PASSWORD, its _FILE, the --config file): cli/config.ts */
  readonly 'etcd-password'?: string;
}

/**
 * The etcd endpoints and credentials the flags name. The password is never a flag, so that no
 * process list shows it: QUELL_ETCD_PASSWORD, or a file (--etcd-password-file,
 * QUELL_ETCD_PASSWORD_FILE, the --config file), resolved by cli/config.ts.
 */
export function etcdFromFlags(values: EtcdFlagValues): { endpoints: string[]; security: EtcdSecurity } {
  const user = values['etcd-user'];
  return {
    endpoints: parseEtcdUrls(values.etcd),
    security: {
      ca: values['etcd-ca'],
      cert: values['etcd-cert'],
      key: values['etcd-key'],
      user,
      password: user === undefined ? undefined : values['etcd-password'],
    },
  };
}
