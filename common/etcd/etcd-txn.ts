import type { Etcd3 } from 'etcd3';

/** One comparison of an etcd transaction: key, target (Create, Mod, Value…), operator, operand. */
export type Compare = Parameters<Etcd3['if']>;

/** A transaction that requires every comparison to hold: compares gathered from several owners. */
export function transaction(etcd: Etcd3, first: Compare, ...rest: Compare[]): ReturnType<Etcd3['if']> {
  const txn = etcd.if(...first);
  for (const c of rest) txn.and(...c);
  return txn;
}
