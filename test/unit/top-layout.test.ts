import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopModel } from '../../cli/top/model';
import { fit, formatBytes, formatElapsed, layout, type ScreenLine } from '../../cli/top/layout';
import type { TopProcess } from '../../cli/top/statements';

const NOW = new Date(2024, 0, 2, 3, 4, 5);
const LONG_QUERY = `SELECT ${'x, '.repeat(60)}y\nFROM\tevents WHERE user = 'alice'`;

function proc(nodeId: string, queryId: string, elapsed: number, memory: number, query = `SELECT ${queryId}`): TopProcess {
  return { nodeId, user: 'alice', queryId, elapsed, memory, query, threadId: 0 };
}

function model(): TopModel {
  const m = new TopModel('c3', "user = 'alice'");
  m.refreshed({
    processes: [proc('n1', 'q1', 75.2, 4 << 20, LONG_QUERY), proc('n2', 'q2', 3.25, 512)],
    silent: [{ nodeId: 'n3', reason: 'node_timeout: no answer within 2 s' }],
    warnings: [],
  });
  return m;
}

const width = (l: ScreenLine): number => [...l.text].length;

test('top layout at 80 × 24: title, WHERE, the silent node, header, rows, key help on the last line; nothing wider than 80', () => {
  const lines = layout(model(), 80, 24, NOW);
  assert.equal(lines.length, 24);
  for (const l of lines) assert.ok(width(l) <= 80, `too wide: ${l.text}`);
  assert.equal(lines[0]?.text, 'quell top · cluster c3 · 2 processes · sort: elapsed · 03:04:05');
  assert.deepEqual(lines[1], { text: "WHERE user = 'alice'", style: 'title' });
  assert.deepEqual(lines[2], { text: 'NOT ANSWERING n3: node_timeout: no answer within 2 s', style: 'silent' });
  assert.deepEqual(lines[3], { text: 'NODE USER   ELAPSED  MEMORY QUERY', style: 'header' });
  // the query column takes the rest of the line; its newline and tab became spaces, its end is cut
  assert.equal(lines[4]?.style, 'selected');
  assert.match(lines[4]?.text ?? '', /^n1   alice    1m15s    4\.0M SELECT x, x, .*…$/);
  assert.equal(width(lines[4]!), 80);
  assert.deepEqual(lines[5], { text: 'n2   alice     3.3s    512B SELECT q2', style: 'row' });
  assert.equal(lines[23]?.style, 'footer');
  assert.match(lines[23]?.text ?? '', /^q quit .*k kill query +K kill conn$/);
});

test('top layout: wide terminals show the query id; a resize only changes the next layout', () => {
  const m = model();
  const wide = layout(m, 120, 10, NOW);
  assert.match(wide[3]?.text ?? '', /^NODE USER +QUERY_ID +ELAPSED +MEMORY QUERY$/);
  assert.match(wide[4]?.text ?? '', /^n1 +alice +q1 +1m15s/);
  assert.equal(wide.length, 10);
  const narrow = layout(m, 40, 8, NOW);
  assert.equal(narrow.length, 8);
  for (const l of narrow) assert.ok(width(l) <= 40, `too wide: ${l.text}`);
});

test('top layout: the selected line stays on screen in a long list', () => {
  const m = new TopModel(undefined);
  m.refreshed({ processes: Array.from({ length: 30 }, (_, i) => proc('n1', `q${i}`, 100 - i, 0)), silent: [], warnings: [] });
  for (let i = 0; i < 25; i++) m.key('DOWN');
  const lines = layout(m, 80, 12, NOW);
  const selected = lines.filter((l) => l.style === 'selected');
  assert.equal(selected.length, 1);
  assert.match(selected[0]?.text ?? '', / SELECT q25$/);
  assert.equal(m.pageSize, 8, 'page keys move by the list lines shown');
});

test('top layout: the WHERE being typed, an error line, and the kill dialog', () => {
  const m = model();
  m.key('/');
  m.key('x');
  assert.deepEqual(layout(m, 80, 24, NOW)[1], { text: "WHERE user = 'alice'x_", style: 'input' });
  m.key('ENTER');
  m.refreshFailed('Code: 47. UNKNOWN_IDENTIFIER: Unknown identifier: x');
  const failed = layout(m, 80, 24, NOW);
  assert.deepEqual(failed[2], { text: 'Code: 47. UNKNOWN_IDENTIFIER: Unknown identifier: x', style: 'error' });
  assert.equal(failed[0]?.text, 'quell top · cluster c3 · 0 processes · sort: elapsed · 03:04:05');

  const k = model();
  k.key('k');
  const dialog = layout(k, 80, 24, NOW).map((l) => l.text);
  assert.equal(dialog[3], 'Kill this query?  y: kill   n/Esc: cancel');
  assert.equal(dialog[4], '  node       n1');
  assert.equal(dialog[5], '  user       alice');
  assert.equal(dialog[6], '  query id   q1');
  assert.match(dialog[7] ?? '', /^ {2}query {6}SELECT x, x,/);
  // the statement wraps at spaces, so it reads back whole
  const at = dialog.findIndex((l) => l.startsWith('  statement  '));
  const statement = dialog.slice(at, at + 3).filter((l) => l.startsWith('  statement  ') || l.startsWith(' '.repeat(13)));
  assert.equal(statement.map((l) => l.slice(13)).join(' '), "KILL QUERY ON CLUSTER 'c3' WHERE query_id = 'q1' AND node_id = 'n1' SYNC SETTINGS sync_kill_timeout = 5, distributed_ddl_task_timeout = 2");
  assert.equal(dialog[23], 'y kill  n or Esc cancel');
});

test('top layout: number formats', () => {
  assert.deepEqual([0.04, 12.34, 75, 3599, 7300].map(formatElapsed), ['0.0s', '12.3s', '1m15s', '59m59s', '2h01m']);
  assert.deepEqual([0, 1023, 1024, 15 * 1024 * 1024, 3 * 1024 ** 3].map(formatBytes), ['0B', '1023B', '1.0K', '15M', '3.0G']);
  assert.equal(fit('abcdef', 4), 'abc…');
  assert.equal(fit('abc', 4), 'abc');
});

test('top layout: one line lists the coordinators (a * marks one whose lease is not held)', () => {
  const m = new TopModel(undefined);
  m.refreshed({
    processes: [],
    silent: [],
    warnings: [],
    coordinators: [
      { id: 'a', address: '10.0.0.1:9700', active: true, running: 2 },
      { id: 'b', address: '10.0.0.2:9700', active: false, running: 0 },
    ],
  });
  const lines = layout(m, 120, 10, NOW);
  assert.equal(lines[9]?.style, 'footer');
  assert.deepEqual(lines[8], { text: 'COORDINATORS 2: a 10.0.0.1:9700 (2 running) · b* 10.0.0.2:9700 (0 running)', style: 'title' });
});
