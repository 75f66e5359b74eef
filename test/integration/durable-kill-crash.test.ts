import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestCluster, records, sleep } from './harness';
import { unixNow } from '../../sql/compile';

// An agent in front of a server dies (SIGKILL) after the server took a queued KILL MUTATION and
// before the agent recorded it in etcd. When it returns, the kill is applied exactly once: no
// second KILL MUTATION reaches the server, and system.kill_queue counts the application. Real
// etcd, coordinator and agent processes; the server is a scripted ClickHouse HTTP interface.

interface Mutation {
  readonly database: string;
  readonly table: string;
  readonly mutation_id: string;
  readonly command: string;
  readonly create_time: number;
  readonly parts_to_do: number;
}

/** Answers what an agent asks a ClickHouse: its system.mutations and KILL MUTATION; nothing else runs. */
class FakeClickHouse {
  readonly kills: string[] = [];
  listed: Mutation[] = [];
  /** called with the request of a KILL MUTATION after the server took it, before it answers */
  onKill: (res: http.ServerResponse) => void = (res) => res.end('{"kill_status":"waiting"}\n');
  private readonly server = http.createServer((req, res) => {
    let sql = '';
    req.on('data', (d: Buffer) => (sql += d.toString()));
    req.on('end', () => this.answer(sql, res));
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `clickhouse://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private answer(sql: string, res: http.ServerResponse): void {
    const kill = /^KILL MUTATION WHERE .* AND mutation_id = '([^']*)'/.exec(sql);
    if (kill) {
      const id = kill[1] ?? '';
      this.kills.push(id);
      // killed: the mutation leaves system.mutations
      this.listed = this.listed.filter((m) => m.mutation_id !== id);
      this.onKill(res);
      return;
    }
    if (/FROM system\.mutations/.test(sql)) {
      res.end(this.listed.map((m) => JSON.stringify(m) + '\n').join(''));
      return;
    }
    res.end('');
  }
}

let c: TestCluster;
const ch = new FakeClickHouse();
let url = '';
before(async () => {
  url = await ch.start();
  c = await TestCluster.start({ cluster: 'bc', nodes: 0 });
});
after(async () => {
  await c?.stop();
  await ch.stop();
});

test('an agent SIGKILLed between a queued KILL MUTATION and its record applies it exactly once when it returns', async () => {
  const pending = "SELECT kill_id, applied FROM system.kill_queue WHERE condition = 'equals(table, \\'t\\')'";
  // n1 joins, then is down when the KILL runs: the kill is queued for it
  await c.addAgent('n1', 'bc', ['--backend', url]);
  await c.waitForActive(1);
  await c.agent('n1').child.stop('SIGTERM');
  await c.waitForActive(0);
  const rows = records(await c.query("KILL MUTATION ON CLUSTER bc WHERE table = 't'"));
  assert.deepEqual(rows.map((r) => r.kill_status), ['queued']);
  const [queued] = records(await c.query(pending));
  assert.equal(queued?.applied, 0);

  // the server runs the mutation; n1 returns, finds it on its next poll and kills it; the
  // server takes the kill, and n1 dies before the answer arrives, so before any record
  const now = unixNow();
  let agent = await c.addAgent('n1', 'bc', ['--backend', url]);
  ch.onKill = (res) => {
    agent.child.proc.kill('SIGKILL');
    res.destroy();
  };
  ch.listed = [{ database: 'db', table: 't', mutation_id: 'mutation_7.txt', command: 'DELETE WHERE 1', create_time: now - 60, parts_to_do: 4 }];
  for (let i = 0; i < 100 && agent.child.proc.exitCode === null && agent.child.proc.signalCode === null; i++) await sleep(50);
  assert.equal(agent.child.proc.signalCode, 'SIGKILL');
  assert.deepEqual(ch.kills, ['mutation_7.txt']);
  assert.deepEqual(records(await c.query(pending)), [{ kill_id: queued?.kill_id, applied: 0 }], 'not recorded: the agent died first');

  // back again: the kill log says the kill was logged, the server no longer lists the mutation
  ch.onKill = (res) => res.end('{"kill_status":"waiting"}\n');
  await c.expireLease('n1');
  agent = await c.addAgent('n1', 'bc', ['--backend', url]);
  await c.waitForRows(pending, (r) => r[0]?.applied === 1);
  // two more polls: nothing is sent again, and the count stays
  await sleep(4_500);
  assert.deepEqual(ch.kills, ['mutation_7.txt'], 'no second KILL MUTATION');
  assert.deepEqual(records(await c.query(pending)), [{ kill_id: queued?.kill_id, applied: 1 }]);
  const logged = records(await c.query(`SELECT mutation_id, kill_status FROM clusterAllReplicas('bc', system.kill_log) WHERE statement_id = '${String(queued?.kill_id)}'`));
  assert.deepEqual(logged, [{ mutation_id: 'mutation_7.txt', kill_status: 'waiting' }], 'logged once, before the kill');
});
