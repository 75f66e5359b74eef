import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { freePort, spawnChild, type Child } from '../../common/daemon/child-processes';
import { TestCluster, eventsOf, sleep } from './harness';

// Issue 19, item 7: Percona's pt-kill, pointed unchanged at the MySQL door, works as a
// cluster-wide pt-kill: its connect-time chatter is answered, it reads SHOW PROCESSLIST of every
// node, and its KILL QUERY reaches each victim's node.
const USERS = `
users:
  default: { grants: [ALL] }
  ops: { password: opspw, grants: [PROCESS, KILL QUERY, KILL CONNECTION] }
`;

let c: TestCluster;
let port: number;
let cnf: string;
before(async () => {
  port = await freePort();
  c = await TestCluster.start({ cluster: 'c3', nodes: 3, users: USERS, coordinatorArgs: ['--mysql-listen', `127.0.0.1:${port}`] });
  // DBD::mysql reads TLS settings from an option file, as the mariadb client does
  cnf = path.join(path.dirname(c.pki.ca), 'pt-kill.cnf');
  writeFileSync(cnf, `[client]\nssl-ca=${c.pki.ca}\nssl-verify-server-cert\n`);
});
after(async () => {
  await c?.stop();
});

const connections = (node: string, user: string): Promise<Child> => c.sim(node, ['--connections', '1', '--user', user, '--host', 'localhost', '--db', 'shop'], 1);

test('pt-kill --busy-time 1 --match-user victim --kill-query --print kills the victims\' statements on every node, and only theirs', async () => {
  const victims = await Promise.all(['n1', 'n2', 'n3'].map((n) => connections(n, 'victim')));
  const bystanders = await Promise.all(['n1', 'n2', 'n3'].map((n) => connections(n, 'bystander')));
  // busy for longer than --busy-time
  await sleep(2_200);
  const pt = spawnChild('pt-kill', [`F=${cnf},h=127.0.0.1,P=${port},u=ops,p=opspw`, '--busy-time', '1', '--match-user', 'victim', '--kill-query', '--print', '--run-time', '4', '--interval', '1']);
  const code = await pt.exited;
  assert.equal(code, 0, `pt-kill failed: ${pt.stderr()}`);
  const killed = pt.stdout().split('\n').filter((l) => / KILL QUERY \d+ /.test(l) || /KILL QUERY \d+/.test(l));
  assert.ok(killed.length >= 3, `pt-kill printed its kills: ${pt.stdout()}`);
  for (const v of victims) await v.waitFor((e) => e.event === 'statement_error' && e.error_code === 1317);
  await sleep(300);
  for (const b of bystanders) assert.equal(eventsOf(b, 'kill').length, 0, 'a bystander was not touched');
});
