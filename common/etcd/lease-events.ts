import type { Lease } from 'etcd3';

/**
 * A lease's keep-alive news for the daemon that holds it (agent membership, coordinator
 * registration), once the lease went live and while it is still the owner's current one
 * (`mine`): every answered keep-alive says live, a failed one says not live, and a lost lease
 * is reported once so that the owner re-grants. Returns what the owner calls when it went live.
 */
export function followLease(lease: Lease, o: { readonly mine: () => boolean; readonly live: (live: boolean) => void; readonly lost: (err: Error) => void }): () => void {
  let wentLive = false;
  lease.on('keepaliveFailed', () => {
    if (wentLive && o.mine()) o.live(false);
  });
  lease.on('keepaliveSucceeded', () => {
    if (wentLive && o.mine()) o.live(true);
  });
  lease.on('lost', (err) => {
    if (!wentLive || !o.mine()) return;
    o.live(false);
    o.lost(err);
  });
  return () => {
    wentLive = true;
  };
}
