import { parseEtcdUrls, type EtcdSecurity } from '../common/etcd';

// the flags themselves (ETCD_FLAGS) are in cli/flags.ts, with every command's others

export interface EtcdFlagValues {
  readonly etcd: string;
  readonly 'etcd-ca'?: string;
  readonly 'etcd-cert'?: string;
  readonly 'etcd-key'?: string;
  readonly 'etcd-user'?: string;
}

/** The etcd endpoints and credentials the flags name; the password comes from QUELL_ETCD_PASSWORD so that no process list shows it. */
export function etcdFromFlags(values: EtcdFlagValues, env: NodeJS.ProcessEnv = process.env): { endpoints: string[]; security: EtcdSecurity } {
  const user = values['etcd-user'];
  return {
    endpoints: parseEtcdUrls(values.etcd),
    security: {
      ca: values['etcd-ca'],
      cert: values['etcd-cert'],
      key: values['etcd-key'],
      user,
      password: user === undefined ? undefined : env.QUELL_ETCD_PASSWORD,
    },
  };
}
