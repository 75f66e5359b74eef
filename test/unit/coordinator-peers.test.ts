import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TransportSecurity } from '../../common/tls';
import { quellProto } from '../../proto/load';
import { CoordinatorPeers } from '../../coordinator/cluster/coordinator-peers';

/** A real CoordinatorService on loopback (plaintext) whose KillStatement and ListSessions never answer. */
async function silentPeer(): Promise<{ address: string; calls: string[]; stop(): void }> {
  const server = new grpc.Server();
  const calls: string[] = [];
  server.addService(quellProto().coordinator.quell.v1.CoordinatorService.service, {
    KillStatement: () => calls.push('KillStatement'),
    ListSessions: () => calls.push('ListSessions'),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, calls, stop: () => server.forceShutdown() };
}

const cancelled = (e: unknown): boolean => (e as grpc.ServiceError).code === grpc.status.CANCELLED;

test("a peer call ends with CANCELLED when the asking statement's signal aborts, long before its deadline; an aborted signal sends nothing", async (t) => {
  const peer = await silentPeer();
  const peers = new CoordinatorPeers(TransportSecurity.from({ insecure: true }));
  t.after(() => {
    peers.close();
    peer.stop();
  });
  const kill = { query_ids: ['q'], user: 'admin', may_kill_others: true, reason: '', test: false, wait_ms: 0, killer_query_id: 'k' };
  for (const ask of [
    (signal: AbortSignal) => peers.killStatement(peer.address, kill, 60_000, signal),
    (signal: AbortSignal) => peers.listSessions(peer.address, { user: 'admin', see_all: true }, 60_000, signal),
  ]) {
    const abort = new AbortController();
    const call = ask(abort.signal);
    // the peer has the call: it would wait a minute for an answer
    const before = peer.calls.length;
    for (let i = 0; i < 200 && peer.calls.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(peer.calls.length, before + 1, 'the peer got the call');
    const sent = Date.now();
    abort.abort();
    await assert.rejects(call, cancelled);
    assert.ok(Date.now() - sent < 10_000, 'cancelled, not timed out');
  }
  const calls = peer.calls.length;
  await assert.rejects(peers.killStatement(peer.address, kill, 60_000, AbortSignal.abort()), cancelled);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(peer.calls.length, calls, 'an aborted signal sends nothing');
});
