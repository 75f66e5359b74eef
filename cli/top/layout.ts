import type { TopMode, TopModel } from './model';
import { MAX_ROWS, type KillAction, type TopProcess } from './statements';

export type LineStyle = 'title' | 'input' | 'silent' | 'error' | 'notice' | 'header' | 'row' | 'selected' | 'dialog' | 'footer';

/** One screen line: its text fits the width; the style says how it is drawn. */
export interface ScreenLine {
  readonly text: string;
  readonly style: LineStyle;
}

/** At most this many not-answering nodes get a line each; the rest are counted on one more. */
const MAX_SILENT_LINES = 3;
/** Below this width the query id column is left out: the query text matters more. */
const QUERY_ID_MIN_WIDTH = 100;

/** The keys that work now, on the last line. */
const FOOTERS: Record<TopMode['kind'], string> = {
  browse: 'q quit  ↑↓ select  e/m sort elapsed/memory  / where  k kill query  K kill conn',
  where: 'Enter apply  Esc cancel  Ctrl-U clear  (empty: no filter)',
  confirm: 'y kill  n or Esc cancel',
  killing: 'waiting for the kill’s result…',
  result: 'any key: back to the list',
};

/** Text on one line: control characters (a query's newlines and tabs; C1, bidi and zero-width ones too) become spaces. */
export function oneLine(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]+/g, ' ');
}

/** Cut to `width` characters, marking the cut with '…'. */
export function fit(s: string, width: number): string {
  const chars = [...s];
  if (chars.length <= width) return s;
  if (width <= 0) return '';
  return chars.slice(0, width - 1).join('') + '…';
}

function padRight(s: string, width: number): string {
  const t = fit(s, width);
  return t + ' '.repeat(Math.max(0, width - [...t].length));
}

function padLeft(s: string, width: number): string {
  const t = fit(s, width);
  return ' '.repeat(Math.max(0, width - [...t].length)) + t;
}

/** 0.4s, 12.3s, 5m03s, 2h05m. */
export function formatElapsed(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.floor(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** 0B, 512B, 4.0K, 12M, 1.5G (powers of 1024, as top shows them). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  const units = ['B', 'K', 'M', 'G', 'T', 'P'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${v}B`;
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

/** Wraps at spaces (a word longer than the width is cut across lines), at most `maxLines` lines, '…' when more. */
function wrap(text: string, width: number, maxLines: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of oneLine(text).split(' ')) {
    let w = [...word];
    const room = width - [...line].length - (line === '' ? 0 : 1);
    if (w.length <= room) {
      line = line === '' ? word : `${line} ${word}`;
      continue;
    }
    if (line !== '') lines.push(line);
    while (w.length > width) {
      lines.push(w.slice(0, width).join(''));
      w = w.slice(width);
    }
    line = w.join('');
  }
  lines.push(line);
  if (lines.length <= maxLines) return lines;
  const kept = lines.slice(0, maxLines);
  kept[maxLines - 1] = fit(`${kept[maxLines - 1] as string}…`, width);
  return kept;
}

interface Columns {
  readonly node: number;
  readonly user: number;
  readonly queryId: number;
  readonly query: number;
}

const ELAPSED = 8;
const MEMORY = 7;

function columnWidths(rows: readonly TopProcess[], width: number): Columns {
  const widest = (pick: (p: TopProcess) => string, header: string, max: number): number => Math.min(max, Math.max(header.length, ...rows.map((p) => [...oneLine(pick(p))].length)));
  const node = widest((p) => p.nodeId, 'NODE', 12);
  const user = widest((p) => p.user, 'USER', 12);
  const queryId = width >= QUERY_ID_MIN_WIDTH ? widest((p) => p.queryId, 'QUERY_ID', 24) : 0;
  // one space between columns
  const fixed = node + 1 + user + 1 + (queryId > 0 ? queryId + 1 : 0) + ELAPSED + 1 + MEMORY + 1;
  return { node, user, queryId, query: Math.max(0, width - fixed) };
}

function processLine(p: TopProcess, c: Columns): string {
  const cells = [padRight(oneLine(p.nodeId), c.node), padRight(oneLine(p.user), c.user)];
  if (c.queryId > 0) cells.push(padRight(oneLine(p.queryId), c.queryId));
  cells.push(padLeft(formatElapsed(p.elapsed), ELAPSED), padLeft(formatBytes(p.memory), MEMORY), fit(oneLine(p.query), c.query));
  return cells.join(' ');
}

function headerLine(c: Columns): string {
  const cells = [padRight('NODE', c.node), padRight('USER', c.user)];
  if (c.queryId > 0) cells.push(padRight('QUERY_ID', c.queryId));
  cells.push(padLeft('ELAPSED', ELAPSED), padLeft('MEMORY', MEMORY), 'QUERY');
  return cells.join(' ');
}

function titleLine(m: TopModel, now: Date): string {
  const cluster = m.cluster === undefined ? 'default cluster' : `cluster ${m.cluster}`;
  const n = m.processes.length;
  const count = m.loaded ? `${n} process${n === 1 ? '' : 'es'}${n >= MAX_ROWS ? ' (top ' + MAX_ROWS + ')' : ''}` : 'loading…';
  const sort = `sort: ${m.sort === 'elapsed' ? 'elapsed' : 'memory'}`;
  return `quell top · ${cluster} · ${count} · ${sort} · ${now.toTimeString().slice(0, 8)}`;
}

function filterLine(m: TopModel, width: number): ScreenLine {
  const mode = m.mode;
  if (mode.kind === 'where') {
    // the end of what is typed stays in view, followed by the cursor mark
    const prompt = 'WHERE ';
    const room = Math.max(1, width - prompt.length - 1);
    const chars = [...oneLine(mode.text)];
    return { text: `${prompt}${chars.slice(Math.max(0, chars.length - room)).join('')}_`, style: 'input' };
  }
  return { text: m.where === '' ? 'WHERE (none: / or w to filter)' : `WHERE ${oneLine(m.where)}`, style: 'title' };
}

/** One line: each live coordinator with its address and running statements (`*` marks one whose lease is not held). */
function coordinatorsLine(m: TopModel): ScreenLine[] {
  const list = m.coordinators;
  if (!list || list.length === 0) return [];
  const each = list.map((c) => `${c.id}${c.active ? '' : '*'} ${c.address} (${c.running} running)`);
  return [{ text: `COORDINATORS ${list.length}: ${each.join(' · ')}`, style: 'title' }];
}

function silentLines(m: TopModel): ScreenLine[] {
  const lines = m.silent.slice(0, MAX_SILENT_LINES).map((n) => ({ text: `NOT ANSWERING ${oneLine(n.nodeId)}: ${oneLine(n.reason)}`, style: 'silent' as const }));
  const rest = m.silent.length - MAX_SILENT_LINES;
  if (rest > 0) lines.push({ text: `NOT ANSWERING ${rest} more: ${m.silent.slice(MAX_SILENT_LINES).map((n) => n.nodeId).join(', ')}`, style: 'silent' });
  return lines;
}

function describe(action: KillAction): string {
  return action.target === 'query' ? 'query' : `connection ${action.process.threadId}`;
}

function dialogLines(action: KillAction, width: number, question: string, extra: ScreenLine[] = []): ScreenLine[] {
  const p = action.process;
  const label = (name: string, value: string, maxLines = 1): ScreenLine[] =>
    wrap(value, Math.max(1, width - 13), maxLines).map((text, i) => ({ text: `  ${(i === 0 ? name : '').padEnd(10)} ${text}`, style: 'dialog' as const }));
  return [
    { text: question, style: 'dialog' },
    ...label('node', p.nodeId),
    ...label('user', p.user),
    ...label('query id', p.queryId),
    ...(action.target === 'connection' ? label('thread id', String(p.threadId)) : []),
    ...label('query', p.query, 4),
    ...label('statement', action.statement, 3),
    ...extra,
  ];
}

/** The body below the header lines: the process list, or the dialog of a kill. */
function bodyLines(m: TopModel, width: number, height: number): ScreenLine[] {
  const mode = m.mode;
  if (mode.kind === 'confirm') return dialogLines(mode.action, width, `Kill this ${describe(mode.action)}?  y: kill   n/Esc: cancel`);
  if (mode.kind === 'killing') return dialogLines(mode.action, width, `Killing ${describe(mode.action)}…`);
  if (mode.kind === 'result') {
    const outcome = mode.lines.map((text) => ({ text: `  ${oneLine(text)}`, style: mode.failed ? ('error' as const) : ('dialog' as const) }));
    return dialogLines(mode.action, width, `${mode.failed ? 'Kill failed' : 'Kill sent'}: any key returns to the list`, [{ text: 'Result:', style: 'dialog' }, ...outcome]);
  }
  const cols = columnWidths(m.processes, width);
  const lines: ScreenLine[] = [{ text: headerLine(cols), style: 'header' }];
  const room = height - 1;
  if (room <= 0) return lines;
  if (m.processes.length === 0 && m.loaded && !m.error) lines.push({ text: '(no processes)', style: 'row' });
  // page by page, so the selected line is always on screen
  const first = m.selectedIndex < 0 ? 0 : Math.floor(m.selectedIndex / room) * room;
  m.processes.slice(first, first + room).forEach((p, i) => {
    lines.push({ text: processLine(p, cols), style: first + i === m.selectedIndex ? 'selected' : 'row' });
  });
  return lines;
}

/**
 * The whole screen for a terminal of `width` × `height`: title, filter, the nodes that do not
 * answer, errors, then the list (or a kill's dialog), the coordinators, and the key help last. Every line fits
 * the width; there are never more lines than the height.
 */
export function layout(m: TopModel, width: number, height: number, now: Date): ScreenLine[] {
  const top: ScreenLine[] = [{ text: titleLine(m, now), style: 'title' }, filterLine(m, width), ...silentLines(m)];
  if (m.error) top.push({ text: m.error, style: 'error' });
  for (const w of m.warnings) top.push({ text: w, style: 'notice' });
  if (m.message) top.push({ text: m.message, style: 'notice' });
  const footer: ScreenLine = { text: FOOTERS[m.mode.kind], style: 'footer' };
  // the coordinators sit just above the key help
  const bottom = [...coordinatorsLine(m), footer];
  const bodyHeight = Math.max(0, height - top.length - bottom.length);
  // what the page keys move by: the list lines below the column header
  m.pageSize = Math.max(1, bodyHeight - 1);
  const body = bodyLines(m, width, bodyHeight).slice(0, bodyHeight);
  // the key help sits on the last line, however short the list
  while (body.length < bodyHeight) body.push({ text: '', style: 'row' });
  const all = [...top, ...body, ...bottom].slice(0, Math.max(0, height));
  return all.map((l) => ({ text: fit(oneLine(l.text), width), style: l.style }));
}
