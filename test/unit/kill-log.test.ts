import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rename, rm, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { FILE_IO, GENESIS, KillLog, KillLogError, killLogRefusal, decodeEntry, decodeLine, encodeEntry, type ChainHead, type KillLogEntry, type KillLogIo, type KillLogRow } from '../../node-agent/kill/kill-log';
import type { Etcd3 } from 'etcd3';
import { killLogResolver } from '../../node-agent/tables/kill-log-columns';
import { KillLogHeadPublisher, parseHead } from '../../node-agent/kill/kill-log-head';
import { compileFilter } from '../../sql/compile';
import { parseExpression } from '../../sql/parser';
import { findAgentTable, KILL_LOG_COLUMNS, KILL_LOG_ENTRY_COLUMNS } from '../../sql/tables';

const log = pino({ level: 'silent' });
const NODE = { nodeId: 'n1', host: '127.0.0.1', port: 9701, address: '127.0.0.1:9701', clusters: ['c3'] };

function entry(id: string, extra: Partial<KillLogEntry> = {}): KillLogEntry {
  return {
    event_time: 1_700_000_000, statement_id: id, user: 'admin', client: 'spiffe://quell/user/admin', coordinator: 'spiffe://quell/coordinator',
    target: 'QUERY', mode: 'SYNC', condition: "equals(user, 'etl')", query_id: `q-${id}`, mutation_id: '', thread_id: 2 ** 40 + 7,
    process_user: 'etl', query: "SELECT 'x\ny'", kill_status: 'finished', error: '', policy: '', normalized_query_hash: 945692553789648, reason: '', escalated: 0, ...extra,
  };
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'quell-kill-log-'));
}

async function readAll(kl: KillLog): Promise<KillLogRow[]> {
  const out: KillLogRow[] = [];
  for await (const e of kl.read()) out.push(e);
  return out;
}

const ids = (entries: readonly KillLogEntry[]): string[] => entries.map((e) => e.statement_id);

/** An io whose writes fail with `code` while `failing` is set. */
function failingIo(code: string): KillLogIo & { failing: boolean } {
  const io = {
    failing: true,
    async write(fh: FileHandle, data: Buffer) {
      if (io.failing) {
        // a torn write first: half the bytes land, then the error
        await FILE_IO.write(fh, data.subarray(0, Math.floor(data.length / 2)));
        throw Object.assign(new Error(`${code}: simulated failure, write`), { code });
      }
      await FILE_IO.write(fh, data);
    },
    datasync: (fh: FileHandle) => FILE_IO.datasync(fh),
    openAppend: (file: string) => FILE_IO.openAppend(file),
  };
  return io;
}

test('kill log: entries round-trip through the file, in order, one JSON line each', async () => {
  const dir = await tempDir();
  try {
    const kl = await KillLog.open({ dir, log });
    await kl.append([entry('s1'), entry('s2', { kill_status: 'cant_cancel', error: 'refused' })]);
    await kl.append([entry('s3', { mode: 'TEST', kill_status: 'unknown_status' })]);
    const got = await readAll(kl);
    const verified = (e: KillLogEntry): KillLogRow => ({ ...e, verified: 1 });
    assert.deepEqual(got, [entry('s1'), entry('s2', { kill_status: 'cant_cancel', error: 'refused' }), entry('s3', { mode: 'TEST', kill_status: 'unknown_status' })].map(verified));
    await kl.close();
    const lines = (await readFile(path.join(dir, 'kill_log.jsonl'), 'utf8')).split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[3], '');
    assert.deepEqual(Object.keys(JSON.parse(lines[0] as string)), [...KILL_LOG_ENTRY_COLUMNS.map((c) => c.name), 'seq', 'prev', 'hash']);
    // a reopened log reads what the closed one wrote
    const again = await KillLog.open({ dir, log });
    assert.deepEqual(ids(await readAll(again)), ['s1', 's2', 's3']);
    await again.close();
    await assert.rejects(kl.append([entry('late')]), /kill log unwritable: the log is closed/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log: 50 concurrent appends are all written with one sync', async () => {
  const dir = await tempDir();
  try {
    const kl = await KillLog.open({ dir, log });
    await Promise.all(Array.from({ length: 50 }, (_, i) => kl.append([entry(`c${i}`)])));
    assert.deepEqual(ids(await readAll(kl)), Array.from({ length: 50 }, (_, i) => `c${i}`));
    assert.equal(kl.stats().appends, 50);
    assert.equal(kl.stats().syncs, 1);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log: appends made while a sync is in flight share the next sync', async () => {
  const dir = await tempDir();
  let releaseSync: () => void = () => undefined;
  let syncStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (syncStarted = resolve));
  let held = false;
  const io: KillLogIo = {
    ...FILE_IO,
    async datasync(fh) {
      if (!held) {
        held = true;
        syncStarted();
        await new Promise<void>((resolve) => (releaseSync = resolve));
      }
      await FILE_IO.datasync(fh);
    },
  };
  try {
    const kl = await KillLog.open({ dir, log, io });
    const first = kl.append([entry('first')]);
    await started;
    const settled: string[] = [];
    const rest = Array.from({ length: 49 }, (_, i) => kl.append([entry(`r${i}`)]).then(() => settled.push(`r${i}`)));
    // nothing of the later appends is confirmed, or readable, before its own sync
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(settled, []);
    releaseSync();
    await first;
    await Promise.all(rest);
    assert.equal(settled.length, 49);
    assert.equal(kl.stats().syncs, 2);
    assert.deepEqual(ids(await readAll(kl)), ['first', ...Array.from({ length: 49 }, (_, i) => `r${i}`)]);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log: rotation at the size limit keeps order and the kept-files count', async () => {
  const dir = await tempDir();
  try {
    const size = Buffer.byteLength(encodeEntry(entry('r0')));
    // two entries fit; the third round finds the file full and rotates first
    const kl = await KillLog.open({ dir, log, maxBytes: size * 2, keep: 2 });
    for (let i = 0; i < 11; i++) await kl.append([entry(`r${i}`)]);
    assert.deepEqual((await readdir(dir)).sort(), ['kill_log.1.jsonl', 'kill_log.2.jsonl', 'kill_log.jsonl']);
    // r0..r5 rotated away; .2 = r6 r7, .1 = r8 r9, current = r10
    assert.deepEqual(ids(await readAll(kl)), ['r6', 'r7', 'r8', 'r9', 'r10']);
    assert.equal(kl.stats().rotations, 5);
    const rotated = await readFile(path.join(dir, 'kill_log.1.jsonl'), 'utf8');
    assert.deepEqual(rotated.trim().split('\n').map((l) => decodeEntry(l)?.statement_id), ['r8', 'r9']);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log: a new file that cannot be created after a rotation fails the round, and the next round only retries the open', async () => {
  const dir = await tempDir();
  let refuseOpen = false;
  const io: KillLogIo = {
    ...FILE_IO,
    openAppend: (file) => (refuseOpen ? Promise.reject(Object.assign(new Error(`EMFILE: too many open files, open '${file}'`), { code: 'EMFILE' })) : FILE_IO.openAppend(file)),
  };
  try {
    const size = Buffer.byteLength(encodeEntry(entry('o0')));
    const kl = await KillLog.open({ dir, log, io, maxBytes: size, keep: 3 });
    await kl.append([entry('o0')]);
    await kl.append([entry('o1')]);
    refuseOpen = true;
    await assert.rejects(kl.append([entry('o2')]), /^KillLogError: kill log unwritable: EMFILE: too many open files, open '.*kill_log\.jsonl'$/);
    await assert.rejects(kl.append([entry('o3')]), /EMFILE/);
    refuseOpen = false;
    await kl.append([entry('o4')]);
    // one rotation for o2's round, none for the retries: o0 is still kept
    assert.deepEqual((await readdir(dir)).sort(), ['kill_log.1.jsonl', 'kill_log.2.jsonl', 'kill_log.jsonl']);
    assert.deepEqual(ids(await readAll(kl)), ['o0', 'o1', 'o4']);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log: a reader sees a consistent snapshot while appends rotate files under it', async () => {
  const dir = await tempDir();
  try {
    const size = Buffer.byteLength(encodeEntry(entry('a0')));
    const kl = await KillLog.open({ dir, log, maxBytes: size, keep: 20 });
    for (let i = 0; i < 5; i++) await kl.append([entry(`a${i}`)]);
    const reader = kl.read();
    const first = await reader.next();
    assert.equal(first.done, false);
    for (let i = 5; i < 10; i++) await kl.append([entry(`a${i}`)]);
    const rest: string[] = [];
    for await (const e of reader) rest.push(e.statement_id);
    assert.deepEqual([first.value?.statement_id, ...rest], ['a0', 'a1', 'a2', 'a3', 'a4']);
    assert.deepEqual(ids(await readAll(kl)), Array.from({ length: 10 }, (_, i) => `a${i}`));
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log: a torn last line is skipped, and the next entry starts a line of its own', async () => {
  const dir = await tempDir();
  try {
    const good = JSON.stringify(entry('t1')) + '\n' + JSON.stringify(entry('t2')) + '\n';
    const torn = JSON.stringify(entry('t3')).slice(0, 40);
    await writeFile(path.join(dir, 'kill_log.jsonl'), good + torn);
    const kl = await KillLog.open({ dir, log });
    assert.deepEqual(ids(await readAll(kl)), ['t1', 't2']);
    await kl.append([entry('t4')]);
    const rows = await readAll(kl);
    assert.deepEqual(ids(rows), ['t1', 't2', 't4']);
    // lines from before the hash chain read as unverified; the chain starts after them
    assert.deepEqual(rows.map((r) => r.verified), [0, 0, 1]);
    assert.equal(kl.stats().chainBreaks, 0, 'old lines are not breaks');
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log: lines from another version read with defaults; non-entries are not rows', () => {
  assert.deepEqual(decodeEntry('{"event_time": 5, "user": "u", "thread_id": "x", "extra": 1}'), {
    ...Object.fromEntries(KILL_LOG_ENTRY_COLUMNS.map((c) => [c.name, c.type === 'String' ? '' : 0])),
    event_time: 5,
    user: 'u',
  });
  for (const line of ['', '[]', 'null', '{"user":"u"}', '{"event_time":1', 'garbage']) assert.equal(decodeEntry(line), undefined, line);
});

test('kill log: a sealed line from before normalized_query_hash reads verified, its hash 0; new lines carry it', () => {
  const old: Record<string, unknown> = { ...entry('old') };
  delete old.normalized_query_hash;
  // the line an older agent wrote: its fields, then seq, prev and a hash over exactly that text
  const body = JSON.stringify(old).slice(0, -1);
  const sealed = `${body},"seq":1,"prev":"${GENESIS.hash}"`;
  const line = `${sealed},"hash":"${createHash('sha256').update(sealed).digest('hex')}"}`;
  const decoded = decodeLine(line);
  assert.equal(decoded?.chain?.intact, true);
  assert.equal(decoded?.entry.normalized_query_hash, 0);
  assert.equal(decoded?.entry.query, "SELECT 'x\ny'");
  const now = encodeEntry(entry('new')).trimEnd();
  assert.ok(now.includes('"normalized_query_hash":945692553789648,"reason":"","escalated":0,"seq":1'), now);
  assert.equal(decodeLine(now)?.entry.normalized_query_hash, 945692553789648);
});

test('kill log: a sealed line from before reason reads verified with reason \'\'; new lines carry it', () => {
  const old: Record<string, unknown> = { ...entry('old') };
  delete old.reason;
  const body = JSON.stringify(old).slice(0, -1);
  const sealed = `${body},"seq":1,"prev":"${GENESIS.hash}"`;
  const line = `${sealed},"hash":"${createHash('sha256').update(sealed).digest('hex')}"}`;
  const decoded = decodeLine(line);
  assert.equal(decoded?.chain?.intact, true);
  assert.equal(decoded?.entry.reason, '');
  const now = encodeEntry(entry('new', { reason: 'runaway etl' })).trimEnd();
  assert.equal(decodeLine(now)?.chain?.intact, true);
  assert.equal(decodeLine(now)?.entry.reason, 'runaway etl');
});

test('kill log: entries acknowledged before a SIGKILL are there on reopen', async () => {
  const dir = await tempDir();
  try {
    const modulePath = path.resolve(__dirname, '../../node-agent/kill/kill-log/index.js');
    const script = `
      const { KillLog } = require(${JSON.stringify(modulePath)});
      const pino = require('pino');
      const base = JSON.parse(process.env.ENTRY);
      (async () => {
        const kl = await KillLog.open({ dir: process.env.DIR, log: pino({ level: 'silent' }) });
        await Promise.all(Array.from({ length: 20 }, (_, i) => kl.append([{ ...base, statement_id: 'before-' + i }])));
        process.stdout.write('synced\\n');
        // keep writing so that the kill lands in the middle of a round
        for (let i = 0; ; i++) await kl.append([{ ...base, statement_id: 'after-' + i, query: 'x'.repeat(i % 5000) }]);
      })();`;
    const child = spawn(process.execPath, ['-e', script], {
      cwd: path.resolve(__dirname, '../../..'),
      env: { ...process.env, DIR: dir, ENTRY: JSON.stringify(entry('x')) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('synced')) resolve();
      });
      child.on('exit', () => reject(new Error(`child exited before syncing: ${stderr}`)));
    });
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');

    const kl = await KillLog.open({ dir, log });
    const rows = await readAll(kl);
    const got = ids(rows);
    // a crash mid-round leaves at most a torn line: the chain is whole
    assert.ok(rows.every((r) => r.verified === 1), 'every entry verified after the crash');
    const before = got.filter((id) => id.startsWith('before-'));
    assert.deepEqual(before.sort(), Array.from({ length: 20 }, (_, i) => `before-${i}`).sort());
    // whatever got in after them is an unbroken prefix of what was appended
    const after = got.filter((id) => id.startsWith('after-'));
    assert.deepEqual(after, after.map((_, i) => `after-${i}`));
    assert.equal(got.length, 20 + after.length);
    await kl.append([entry('reopened')]);
    assert.deepEqual(verifiedOf((await readAll(kl)).slice(-1)), [['reopened', 1]]);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log: a directory that cannot be made fails open with one line, without throwing synchronously', async () => {
  const dir = await tempDir();
  try {
    await writeFile(path.join(dir, 'file'), 'x');
    const opening = KillLog.open({ dir: path.join(dir, 'file', 'kill-log'), log });
    await assert.rejects(opening, (err: unknown) => {
      assert.ok(err instanceof KillLogError);
      assert.match(err.message, /^kill log unwritable: ENOTDIR: not a directory, mkdir '.*file\/kill-log'$/);
      assert.equal(err.reason, 'ENOTDIR');
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log: a failed write rejects its appends, leaves nothing of them behind, and the log works again', async () => {
  const dir = await tempDir();
  try {
    const io = failingIo('EIO');
    const kl = await KillLog.open({ dir, log, io });
    io.failing = false;
    await kl.append([entry('ok1')]);
    io.failing = true;
    const refused = kl.append([entry('lost1'), entry('lost2')]);
    await assert.rejects(refused, (err: unknown) => {
      assert.ok(err instanceof KillLogError);
      assert.match(err.message, /^kill log unwritable: EIO: simulated failure, write \(dir .*\)$/);
      assert.equal(err.reason, 'EIO');
      assert.equal(killLogRefusal(err), `not killed: ${err.message}`);
      return true;
    });
    io.failing = false;
    await kl.append([entry('ok2')]);
    assert.deepEqual(ids(await readAll(kl)), ['ok1', 'ok2']);
    assert.equal(kl.stats().failures, 1);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A 64 KiB tmpfs at `dir` for a real ENOSPC, or undefined where mounting is not allowed. */
function mountTiny(dir: string): (() => void) | undefined {
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
  if (mounted.status !== 0) return undefined;
  return () => {
    spawnSync('umount', [dir], { stdio: 'ignore' });
  };
}

test('kill log: a full disk rejects appends with ENOSPC; with room again the log works', async () => {
  const root = await tempDir();
  const dir = path.join(root, 'mnt');
  await mkdir(dir);
  const unmount = mountTiny(dir);
  // without the right to mount, the same failure is injected
  const io = unmount ? FILE_IO : failingIo('ENOSPC');
  const setFull = (full: boolean): void => {
    if (!unmount) (io as ReturnType<typeof failingIo>).failing = full;
  };
  try {
    setFull(false);
    const kl = await KillLog.open({ dir, log, io });
    await kl.append([entry('before')]);
    const filler = path.join(dir, 'filler');
    if (unmount) {
      const block = Buffer.alloc(4096, 1);
      await writeFile(filler, '');
      for (;;) {
        try {
          await writeFile(filler, block, { flag: 'a' });
        } catch {
          break;
        }
      }
    }
    setFull(true);
    await assert.rejects(kl.append([entry('full', { query: 'y'.repeat(20_000) })]), (err: unknown) => {
      assert.ok(err instanceof KillLogError);
      assert.equal(err.reason, 'ENOSPC');
      assert.match(err.message, /^kill log unwritable: ENOSPC: [^\n]+$/);
      assert.match(killLogRefusal(err), /^not killed: kill log unwritable: ENOSPC/);
      return true;
    });
    if (unmount) await unlink(filler);
    setFull(false);
    await kl.append([entry('after')]);
    assert.deepEqual(ids(await readAll(kl)), ['before', 'after']);
    await kl.close();
  } finally {
    unmount?.();
    await rm(root, { recursive: true, force: true });
  }
});

test('system.kill_log: every column has a getter and the filter compiler reads entries', () => {
  const table = findAgentTable('system.kill_log');
  assert.ok(table);
  assert.deepEqual(table.columns.map((c) => c.name), [...KILL_LOG_COLUMNS.map((c) => c.name), 'host', 'port', 'node_id']);
  assert.deepEqual(Object.keys(entry('k')), KILL_LOG_ENTRY_COLUMNS.map((c) => c.name));
  assert.equal(KILL_LOG_COLUMNS.at(-1)?.name, 'verified');
  const resolve = killLogResolver(NODE);
  const ctx = { hostName: 'n1', now: () => 1_700_000_100 };
  const rows: KillLogRow[] = [entry('k1'), entry('k2', { user: 'alice', kill_status: 'cant_cancel' }), entry('k3', { user: 'alice', thread_id: 3 })].map((e, i) => ({ ...e, verified: i === 1 ? 0 : 1 }));
  const pick = (where: string): string[] => ids(rows.filter(compileFilter(parseExpression(where), resolve, ctx)));
  assert.deepEqual(pick("user = 'alice' AND kill_status = 'finished'"), ['k3']);
  assert.deepEqual(pick("node_id = 'n1' AND port = 9701 AND host = '127.0.0.1'"), ['k1', 'k2', 'k3']);
  assert.deepEqual(pick('thread_id > 1000 AND event_time < now()'), ['k1', 'k2']);
  assert.deepEqual(pick("query LIKE '%\\n%'"), ['k1', 'k2', 'k3']);
  assert.deepEqual(pick('verified = 0'), ['k2']);
});

// the hash chain (docs/statement-path.md §The kill log): every line carries seq, the previous line's hash and its own

const CURRENT = 'kill_log.jsonl';

async function fileLinesOf(dir: string, file = CURRENT): Promise<string[]> {
  return (await readFile(path.join(dir, file), 'utf8')).split('\n').filter((l) => l !== '');
}

async function writeLines(dir: string, lines: readonly string[], file = CURRENT): Promise<void> {
  await writeFile(path.join(dir, file), lines.map((l) => `${l}\n`).join(''));
}

const verifiedOf = (rows: readonly KillLogRow[]): [string, number][] => rows.map((r) => [r.statement_id, r.verified]);

/** A log in a fresh directory with entries s1..s<n> appended (two rounds), closed. */
async function logWith(n: number): Promise<{ dir: string; head: ChainHead }> {
  const dir = await tempDir();
  const kl = await KillLog.open({ dir, log });
  await kl.append(Array.from({ length: n - 1 }, (_, i) => entry(`s${i + 1}`)));
  await kl.append([entry(`s${n}`)]);
  const head = kl.head();
  await kl.close();
  return { dir, head };
}

test('kill log chain: each line links to the one before by SHA-256 and reads verified', async () => {
  const { dir, head } = await logWith(4);
  try {
    const lines = await fileLinesOf(dir);
    let prev = GENESIS.hash;
    lines.forEach((line, i) => {
      const fields = JSON.parse(line) as { seq: number; prev: string; hash: string };
      assert.equal(fields.seq, i + 1);
      assert.equal(fields.prev, prev);
      // the hash covers the line up to its own hash field, previous hash included
      assert.equal(fields.hash, createHash('sha256').update(line.slice(0, line.indexOf(',"hash":"'))).digest('hex'));
      assert.ok(line.endsWith(`,"hash":"${fields.hash}"}`));
      prev = fields.hash;
    });
    assert.deepEqual(head, { seq: 4, hash: prev });
    assert.equal(decodeLine(lines[1] as string)?.chain?.intact, true);
    const kl = await KillLog.open({ dir, log });
    assert.deepEqual(verifiedOf(await readAll(kl)), [['s1', 1], ['s2', 1], ['s3', 1], ['s4', 1]]);
    assert.equal(kl.stats().chainBreaks, 0);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log chain: one edited byte makes that entry unverified, and only it', async () => {
  const dir = await tempDir();
  try {
    const kl = await KillLog.open({ dir, log });
    for (let i = 1; i <= 4; i++) await kl.append([entry(`s${i}`)]);
    // edited under the running agent, same length
    const lines = await fileLinesOf(dir);
    lines[1] = (lines[1] as string).replace('"process_user":"etl"', '"process_user":"elt"');
    await writeLines(dir, lines);
    assert.deepEqual(verifiedOf(await readAll(kl)), [['s1', 1], ['s2', 0], ['s3', 1], ['s4', 1]]);
    assert.equal(kl.stats().chainBreaks, 1);
    await kl.close();
    // and after a restart
    const again = await KillLog.open({ dir, log });
    assert.deepEqual(verifiedOf(await readAll(again)).map(([, v]) => v), [1, 0, 1, 1]);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log chain: an edit that recomputes the entry\'s own hash breaks the link of the next entry', async () => {
  const { dir } = await logWith(4);
  try {
    const lines = await fileLinesOf(dir);
    const second = JSON.parse(lines[1] as string) as { seq: number; prev: string };
    const before = { seq: second.seq - 1, hash: second.prev };
    lines[1] = encodeEntry(entry('s2', { kill_status: 'cant_cancel' }), before).trimEnd();
    await writeLines(dir, lines);
    const kl = await KillLog.open({ dir, log });
    assert.deepEqual(verifiedOf(await readAll(kl)), [['s1', 1], ['s2', 1], ['s3', 0], ['s4', 1]]);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log chain: a removed entry makes the next one unverified', async () => {
  const { dir } = await logWith(4);
  try {
    const lines = await fileLinesOf(dir);
    lines.splice(1, 1);
    await writeLines(dir, lines);
    const kl = await KillLog.open({ dir, log });
    assert.deepEqual(verifiedOf(await readAll(kl)), [['s1', 1], ['s3', 0], ['s4', 1]]);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log chain: an inserted entry breaks the chain where it stands', async () => {
  const { dir } = await logWith(4);
  try {
    const lines = await fileLinesOf(dir);
    // a replayed copy of s2 after s3, and a forged entry written by hand after s1
    lines.splice(3, 0, lines[1] as string);
    lines.splice(1, 0, JSON.stringify({ ...entry('forged'), seq: 2, prev: '0'.repeat(64), hash: 'f'.repeat(64) }));
    await writeLines(dir, lines);
    const kl = await KillLog.open({ dir, log });
    assert.deepEqual(verifiedOf(await readAll(kl)), [['s1', 1], ['forged', 0], ['s2', 0], ['s3', 1], ['s2', 0], ['s4', 0]]);
    await kl.close();
    // an entry forged with the right link still breaks the link of the genuine one after it
    const { dir: dir2 } = await logWith(3);
    try {
      const l2 = await fileLinesOf(dir2);
      const first = JSON.parse(l2[0] as string) as { seq: number; hash: string };
      l2.splice(1, 0, encodeEntry(entry('forged'), { seq: first.seq, hash: first.hash }).trimEnd());
      await writeLines(dir2, l2);
      const kl2 = await KillLog.open({ dir: dir2, log });
      assert.deepEqual(verifiedOf(await readAll(kl2)).slice(2), [['s2', 0], ['s3', 1]]);
      await kl2.close();
    } finally {
      await rm(dir2, { recursive: true, force: true });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log chain: a cut tail shows against the head: the running log\'s own, or the published one after a restart', async () => {
  const dir = await tempDir();
  try {
    const kl = await KillLog.open({ dir, log });
    for (let i = 1; i <= 4; i++) await kl.append([entry(`s${i}`)]);
    const lines = await fileLinesOf(dir);
    await writeLines(dir, lines.slice(0, 3));
    // the newest entries all link, but the log ends before the head this agent holds: the last one is flagged
    assert.deepEqual(verifiedOf(await readAll(kl)), [['s1', 1], ['s2', 1], ['s3', 0]]);
    assert.equal(kl.stats().chainBreaks, 1);
    // the next entry links to the real head, not to what is left: the gap stays visible
    await kl.append([entry('s5')]);
    assert.deepEqual(verifiedOf(await readAll(kl)), [['s1', 1], ['s2', 1], ['s3', 1], ['s5', 0]]);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const { dir: cut, head } = await logWith(4);
  try {
    await writeLines(cut, (await fileLinesOf(cut)).slice(0, 2));
    const kl = await KillLog.open({ dir: cut, log });
    // without a trusted head a restart cannot tell a cut tail from a short log
    assert.deepEqual(kl.head().seq, 2);
    // the head published in etcd before is ahead: the log goes on from it, and the cut shows
    await kl.adoptPublished(head);
    assert.deepEqual(kl.head(), head);
    assert.equal(kl.stats().chainBreaks, 1);
    assert.deepEqual(verifiedOf(await readAll(kl)), [['s1', 1], ['s2', 0]]);
    await kl.append([entry('s5')]);
    assert.deepEqual(verifiedOf(await readAll(kl)), [['s1', 1], ['s2', 1], ['s5', 0]]);
    assert.equal(JSON.parse((await fileLinesOf(cut)).at(-1) as string).seq, 5);
    await kl.close();
  } finally {
    await rm(cut, { recursive: true, force: true });
  }
});

test('kill log chain: a log rewritten while the agent was down disagrees with the published head at its seq', async () => {
  const { dir, head } = await logWith(3);
  try {
    // every hash recomputed from s2 on: the log is consistent in itself
    const lines = await fileLinesOf(dir);
    const first = JSON.parse(lines[0] as string) as { seq: number; hash: string };
    const s2 = encodeEntry(entry('s2', { user: 'nobody' }), first);
    const s2Head = { seq: 2, hash: (JSON.parse(s2) as { hash: string }).hash };
    await writeLines(dir, [lines[0] as string, s2.trimEnd(), encodeEntry(entry('s3'), s2Head).trimEnd()]);
    const kl = await KillLog.open({ dir, log });
    assert.deepEqual(verifiedOf(await readAll(kl)).map(([, v]) => v), [1, 1, 1]);
    await kl.adoptPublished(head);
    assert.deepEqual(verifiedOf(await readAll(kl)).map(([, v]) => v), [1, 1, 0]);
    await kl.append([entry('s4')]);
    assert.deepEqual(verifiedOf(await readAll(kl)).map(([, v]) => v), [1, 1, 0, 0]);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log chain: rotation continues the chain into the next file; a missing middle file breaks it', async () => {
  const dir = await tempDir();
  try {
    const size = Buffer.byteLength(encodeEntry(entry('r0')));
    const kl = await KillLog.open({ dir, log, maxBytes: size * 2, keep: 5 });
    for (let i = 0; i < 7; i++) await kl.append([entry(`r${i}`)]);
    assert.deepEqual((await readdir(dir)).sort(), ['kill_log.1.jsonl', 'kill_log.2.jsonl', 'kill_log.3.jsonl', 'kill_log.jsonl']);
    const rows = await readAll(kl);
    assert.deepEqual(rows.map((r) => r.verified), [1, 1, 1, 1, 1, 1, 1]);
    const lastOfRotated = JSON.parse((await fileLinesOf(dir, 'kill_log.1.jsonl')).at(-1) as string) as { seq: number; hash: string };
    const firstOfCurrent = JSON.parse((await fileLinesOf(dir))[0] as string) as { seq: number; prev: string };
    assert.equal(firstOfCurrent.prev, lastOfRotated.hash);
    assert.equal(firstOfCurrent.seq, lastOfRotated.seq + 1);
    await kl.close();
    await unlink(path.join(dir, 'kill_log.2.jsonl'));
    const again = await KillLog.open({ dir, log, maxBytes: size * 2, keep: 5 });
    // the oldest kept file starts the chain (older ones rotate away); the file after the gap does not link
    assert.deepEqual(verifiedOf(await readAll(again)), [['r0', 1], ['r1', 1], ['r4', 0], ['r5', 1], ['r6', 1]]);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log chain: a restarted log goes on from its last entry, also from a rotated file when the current one is empty', async () => {
  const { dir, head } = await logWith(2);
  try {
    let kl = await KillLog.open({ dir, log });
    assert.deepEqual(kl.head(), head);
    await kl.append([entry('s3')]);
    await kl.close();
    // a crash between a rotation and the first write to the new file
    await rename(path.join(dir, CURRENT), path.join(dir, 'kill_log.1.jsonl'));
    await writeFile(path.join(dir, CURRENT), '');
    kl = await KillLog.open({ dir, log });
    assert.equal(kl.head().seq, 3);
    await kl.append([entry('s4')]);
    await kl.close();
    // and after a torn write at the end
    await writeFile(path.join(dir, CURRENT), `${await readFile(path.join(dir, CURRENT), 'utf8')}{"event_time":1,"statement_id":"torn`);
    kl = await KillLog.open({ dir, log });
    await kl.append([entry('s5')]);
    const rows = await readAll(kl);
    assert.deepEqual(verifiedOf(rows), [['s1', 1], ['s2', 1], ['s3', 1], ['s4', 1], ['s5', 1]]);
    assert.deepEqual(rows.map((r) => JSON.parse(encodeEntry(r)).statement_id), ['s1', 's2', 's3', 's4', 's5']);
    assert.equal(kl.head().seq, 5);
    assert.equal(kl.stats().chainBreaks, 0);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kill log chain: a failed round leaves the chain where it was', async () => {
  const dir = await tempDir();
  try {
    const io = failingIo('EIO');
    io.failing = false;
    const kl = await KillLog.open({ dir, log, io });
    await kl.append([entry('ok1')]);
    io.failing = true;
    await assert.rejects(kl.append([entry('lost1'), entry('lost2')]), /EIO/);
    io.failing = false;
    await kl.append([entry('ok2')]);
    assert.deepEqual(verifiedOf(await readAll(kl)), [['ok1', 1], ['ok2', 1]]);
    assert.equal(kl.head().seq, 2);
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** The two etcd calls the head publisher makes, in memory; `hang` leaves puts unanswered, `fail` rejects them. */
function fakeEtcd(initial?: string) {
  const state = { value: initial, puts: 0, hang: false, fail: false };
  const etcd = {
    get: () => ({ string: () => Promise.resolve(state.value ?? null) }),
    put: () => ({
      value: (v: string) => ({
        exec: () => {
          state.puts++;
          if (state.hang) return new Promise(() => undefined);
          if (state.fail) return Promise.reject(new Error('etcd away'));
          state.value = v;
          return Promise.resolve({});
        },
      }),
    }),
  };
  return { state, etcd: etcd as unknown as Etcd3 };
}

test('kill log head: published when it moved, never waited for by appends, once more at close; a published head ahead is adopted at start', async () => {
  const { dir, head } = await logWith(3);
  try {
    await writeLines(dir, (await fileLinesOf(dir)).slice(0, 2));
    const { state, etcd } = fakeEtcd(JSON.stringify({ node_id: 'n1', seq: head.seq, hash: head.hash, published_at: 'x' }));
    const kl = await KillLog.open({ dir, log });
    const publisher = new KillLogHeadPublisher({ etcd, nodeId: 'n1', killLog: kl, log, intervalMs: 60_000, etcdWaitMs: 200 });
    await publisher.start();
    assert.deepEqual(kl.head(), head, 'the log goes on from the published head');
    assert.equal(state.puts, 0, 'an unchanged head is not written again');
    await kl.append([entry('s4')]);
    await publisher.publish();
    assert.equal(state.puts, 1);
    assert.deepEqual(parseHead(state.value ?? ''), { node_id: 'n1', seq: 4, hash: kl.head().hash, published_at: parseHead(state.value ?? '')?.published_at });
    await publisher.publish();
    assert.equal(state.puts, 1);
    // an etcd that fails or never answers costs a kill nothing
    state.fail = true;
    await kl.append([entry('s5')]);
    await publisher.publish();
    state.fail = false;
    state.hang = true;
    await kl.append([entry('s6')]);
    void publisher.publish();
    await kl.append([entry('s7')]);
    assert.equal(kl.head().seq, 7);
    const closing = Date.now();
    await publisher.close();
    assert.ok(Date.now() - closing < 2_000, 'close waits for etcd only a moment');
    state.hang = false;
    const again = new KillLogHeadPublisher({ etcd, nodeId: 'n1', killLog: kl, log, intervalMs: 60_000 });
    await again.close();
    assert.equal(parseHead(state.value ?? '')?.seq, 7, 'the final head is written at close');
    await kl.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
