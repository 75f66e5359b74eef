import type { CoordinatorRecord } from '../../common/etcd/etcd-layout';

/** A coordinator's registry record as the unit tests need one; its gRPC address is 127.0.0.1:(9700 + serverId) unless `over` says otherwise. */
export function coordinatorRecord(id: string, serverId: number, over: Partial<CoordinatorRecord> = {}): CoordinatorRecord {
  return { id, address: `127.0.0.1:${9700 + serverId}`, mysql_address: '', http_address: '', version: '0', started_at: '', pid: 1, instance: id, server_id: serverId, statements_running: 0, ...over };
}
