import { after, before, test } from 'node:test';
import { TransportSecurity } from '../../common/tls';
import { testPki } from './tls-fixture';
import assert from 'node:assert/strict';
import { NodeAgent } from '../../node-agent/agent';
import { KillQueue } from '../../coordinator/statements/kill/kill-queue';
import { connectEtcd } from '../../common/etcd/client';
import { startEtcd, type EtcdServer } from '../../common/daemon/child-processes';
import { ScriptedServer, serverMutation } from '../unit/scripted-backend';
import { sleep } from './harness';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unixNow } from '../../sql/compile';

// A durable mutation kill reaches a node that fronts a database server: the agent finds the
// server's matching mutations itself (they are never registered with it) and kills each once.
// Real etcd and a real agent; the server is scripted, as the piece behind the agent.

// the agent runs in this process: keep its info lines out of the test report
process.env.QUELL_LOG_LEVEL ??= 'warn';

let etcd: EtcdServer;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'quell-intents-'));
const killLogDir = (): string => path.join(scratch, 'kill-log');
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

test('a queued mutation kill is applied to a backend node when it returns, once', async () => {
  const client = connectEtcd({ endpoints: [etcd.url] });
  // signed as a coordinator signs it: the agent applies no other
  const signer = TransportSecurity.from((await testPki()).coordinator()).recordSigner();
  const intent = await new KillQueue(client, [etcd.url], signer).enqueue({ cluster: 'c', where: "equals(table, 't')", user: 'default', nodes: ['n1'], ttlSeconds: 60, statementTime: unixNow() });
  assert.ok(intent.id);
  const server = new ScriptedServer([serverMutation('t', 'mutation_1.txt'), serverMutation('u', 'mutation_2.txt')]);
  const security = TransportSecurity.from((await testPki()).agent('n1'));
  const agent = await NodeAgent.create({ etcd: [etcd.url], nodeId: 'n1', listen: '127.0.0.1:0', clusters: ['c'], backend: server, leaseTtlSeconds: 2, security, killLogDir: killLogDir() });
  try {
    for (let i = 0; i < 100 && server.killed.length === 0; i++) await sleep(50);
    assert.deepEqual(server.killed, ['mutation_1.txt'], 'only the mutation the WHERE names');
    // the server still lists it (a slow server): later rounds must not kill it again
    await sleep(2_500);
    assert.deepEqual(server.killed, ['mutation_1.txt']);
  } finally {
    await agent.stop();
    client.close();
  }
});
