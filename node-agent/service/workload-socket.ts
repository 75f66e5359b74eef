import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS } from '../../common/grpc/channel-options';
import { chError } from '../../errors/quell-error';
import { errorText } from '../../errors/error-text';

/** Owner and group read/write: local workloads in the agent's group may attach, nobody else. */
const SOCKET_MODE = 0o660;

/**
 * A plaintext gRPC server on a Unix socket for the node's own workloads: who may connect is
 * decided by the file's owner, group and mode, so it needs no certificates. A socket left by
 * an agent that crashed is replaced; any other file at the path is refused.
 */
export async function bindWorkloadSocket(path: string): Promise<grpc.Server> {
  removeStaleSocket(path);
  const server = new grpc.Server({ ...CHANNEL_OPTIONS });
  try {
    await new Promise<number>((resolve, reject) => server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    chmodSync(path, SOCKET_MODE);
  } catch (err) {
    server.forceShutdown();
    throw chError('BAD_ARGUMENTS', `cannot serve workloads on --workload-socket ${path}: ${errorText(err)}`);
  }
  return server;
}

function removeStaleSocket(path: string): void {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw chError('BAD_ARGUMENTS', `--workload-socket ${path} exists and is not a socket; refusing to replace it`);
  unlinkSync(path);
}
