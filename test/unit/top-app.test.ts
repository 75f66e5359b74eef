import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopApp, type Coordinator, type Screen } from '../../cli/top/app';
import { TopModel } from '../../cli/top/model';
import { COORDINATORS_QUERY } from '../../cli/top/statements';
import type { ScreenLine } from '../../cli/top/layout';
import type { ExecuteOptions, QueryResult } from '../../client/coordinator-client';
import { chError } from '../../errors/quell-error';

interface Call {
  readonly sql: string;
  readonly options: ExecuteOptions | undefined;
  resolve(r: QueryResult): void;
  reject(e: unknown): void;
}

/** A coordinator whose answers the test gives, one call at a time. */
class FakeCoordinator implements Coordinator {
  readonly calls: Call[] = [];
  query(sql: string, options?: ExecuteOptions): Promise<QueryResult> {
    // the coordinators line's read, beside each refresh: answered at once, with none
    if (sql === COORDINATORS_QUERY) return Promise.resolve({ columns: [], rows: [], format: undefined, elapsedSeconds: 0, affectedRows: 0, warnings: [] });
    return new Promise((resolve, reject) => this.calls.push({ sql, options, resolve, reject }));
  }
  async next(): Promise<Call> {
    for (let i = 0; i < 400 && this.pending.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    const call = this.pending.shift();
    if (!call) throw new Error('no call came');
    this.taken.add(call);
    return call;
  }
  private readonly taken = new Set<Call>();
  private get pending(): Call[] {
    return this.calls.filter((c) => !this.taken.has(c));
  }
}

class FakeScreen implements Screen {
  width = 80;
  height = 24;
  frames: (readonly ScreenLine[])[] = [];
  stopped = false;
  onKey: (name: string) => void = () => undefined;
  start(onKey: (name: string) => void): void {
    this.onKey = onKey;
  }
  draw(lines: readonly ScreenLine[]): void {
    this.frames.push(lines);
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  get last(): string[] {
    return (this.frames.at(-1) ?? []).map((l) => l.text);
  }
}

function rows(...procs: [string, string, string][]): QueryResult {
  return {
    columns: [],
    rows: procs.map(([node, user, id]) => [node, user, id, 1.5, 1024, `SELECT ${id}`, 0]),
    format: undefined,
    elapsedSeconds: 0,
    affectedRows: 0,
    warnings: ['no rows from n3 (node_inactive)'],
  };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test('top app: reads, draws, drops a read whose order changed while it ran, reads again at once', async () => {
  const coordinator = new FakeCoordinator();
  const screen = new FakeScreen();
  const app = new TopApp(coordinator, new TopModel('c3'), screen);
  const done = app.run();
  const first = await coordinator.next();
  assert.match(first.sql, /ORDER BY elapsed DESC/);
  screen.onKey('m');
  first.resolve(rows(['n1', 'alice', 'stale']));
  const second = await coordinator.next();
  assert.match(second.sql, /ORDER BY memory_usage DESC/);
  assert.ok(!screen.last.some((l) => l.includes('stale')), 'the read of the old order is not shown');
  second.resolve(rows(['n1', 'alice', 'fresh']));
  await settle();
  assert.ok(screen.last.some((l) => /^n1 +alice .* SELECT fresh$/.test(l)), screen.last.join('\n'));
  assert.ok(screen.last.includes('NOT ANSWERING n3: node_inactive'));
  screen.onKey('q');
  assert.equal(await done, 0);
  assert.equal(screen.stopped, true);
});

test('top app: a failed kill shows the coordinator’s one-line error; a failed read too, and top keeps reading', async () => {
  const coordinator = new FakeCoordinator();
  const screen = new FakeScreen();
  const app = new TopApp(coordinator, new TopModel(undefined), screen);
  const done = app.run();
  (await coordinator.next()).resolve(rows(['n1', 'bob', 'q1']));
  await settle();
  screen.onKey('k');
  screen.onKey('y');
  const kill = await coordinator.next();
  assert.equal(kill.sql, "KILL QUERY WHERE query_id = 'q1' AND node_id = 'n1' SYNC SETTINGS sync_kill_timeout = 5, distributed_ddl_task_timeout = 2");
  assert.equal(kill.options?.dialect, 'clickhouse');
  kill.reject(chError('ACCESS_DENIED', 'User bob attempts to kill query created by alice'));
  await settle();
  assert.ok(screen.last.includes('Kill failed: any key returns to the list'), screen.last.join('\n'));
  assert.ok(screen.last.includes('  Code: 497. ACCESS_DENIED: User bob attempts to kill query created by alice'));
  screen.onKey('x');
  (await coordinator.next()).reject(chError('UNKNOWN_IDENTIFIER', 'Unknown identifier: x'));
  await settle();
  assert.ok(screen.last.includes('Code: 47. UNKNOWN_IDENTIFIER: Unknown identifier: x'));
  await app.quit();
  assert.equal(await done, 0);
});
