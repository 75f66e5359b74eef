// Issue 11: a workload's query text cannot write escape sequences into an operator's terminal.
// The human formats show control characters visibly; the machine formats keep their bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Column, SqlValue } from '../../sql/types';
import { createFormatter } from '../../sql/formats';
import { terminalSafe } from '../../sql/formats/terminal-safe';
import { mariadbTable } from '../../cli/mariadb-output';
import { codePointCount } from '../../sql/formats/escape';
import { oneLine } from '../../cli/top/layout';

const CLEAR = '\x1b[2J\x1b[H';
const OSC_TITLE = '\x1b]0;owned\x07';
const OSC_LINK = '\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\';
const OVERWRITE = 'KILL QUERY WHERE 1\rSELECT 1          ';
const BIDI = 'user = \u202e\'nimda\'';
const HOSTILE = [CLEAR, OSC_TITLE, OSC_LINK, OVERWRITE, BIDI, 'bell\x07\x07', 'nul\x00del\x7f', 'c1\x9b31m\x85', 'zw\u200bsp\ufeff'];

/** Anything a terminal acts on other than tab and line feed, or that hides or reorders text. */
const DANGEROUS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;

const COLUMNS: readonly Column[] = [
  { name: 'query', type: 'String' },
  { name: 'elapsed', type: 'Float64' },
];

function render(format: string, columns: readonly Column[], rows: readonly (readonly SqlValue[])[]): string {
  const f = createFormatter(format, columns);
  return f.begin() + f.block(rows) + f.end({ rows: rows.length, elapsedSeconds: 0 });
}

test('terminalSafe: C0 controls and DEL become control pictures; tab and line feed stay', () => {
  assert.equal(terminalSafe(CLEAR), '␛[2J␛[H');
  assert.equal(terminalSafe(OSC_TITLE), '␛]0;owned␇');
  assert.equal(terminalSafe('a\rb'), 'a␍b');
  assert.equal(terminalSafe('\x00\x01\x08\x0b\x0c\x1f\x7f'), '␀␁␈␋␌␟␡');
  assert.equal(terminalSafe('a\tb\nc'), 'a\tb\nc');
});

test('terminalSafe: C1 controls, bidi controls and zero-width characters are named; ZWJ, ZWNJ and plain Unicode stay', () => {
  assert.equal(terminalSafe('\x9b31m'), '<U+009B>31m');
  assert.equal(terminalSafe(BIDI), "user = <U+202E>'nimda'");
  assert.equal(terminalSafe('\u2066x\u2069\u200e\u061c'), '<U+2066>x<U+2069><U+200E><U+061C>');
  assert.equal(terminalSafe('a\u200bb\ufeff\u2028'), 'a<U+200B>b<U+FEFF><U+2028>');
  const family = '👨\u200d👩\u200d👧 ক্\u200cষ ᴺᵁᴸᴸ │ é';
  assert.equal(terminalSafe(family), family);
});

for (const format of ['Pretty', 'PrettyCompact', 'PrettyCompactMonoBlock', 'PrettySpace', 'PrettyNoEscapes', 'Vertical']) {
  test(`${format}: hostile query text and column names print visibly, and the table stays aligned`, () => {
    const columns: readonly Column[] = [...COLUMNS, { name: `x${CLEAR}`, type: 'String' }];
    const out = render(format, columns, HOSTILE.map((q, i) => [q, i, q]));
    assert.doesNotMatch(out, DANGEROUS);
    assert.ok(out.includes('␛[2J␛[H'), out);
    assert.ok(out.includes('<U+202E>'), out);
    assert.ok(out.includes('x␛[2J␛[H'), 'the column name too');
    if (format.startsWith('Pretty') && format !== 'PrettySpace') {
      const widths = new Set(out.trimEnd().split('\n').map(codePointCount));
      assert.equal(widths.size, 1, `every line of the table is as wide:\n${out}`);
    }
  });
}

test('Pretty and Vertical keep tab and line feed as ClickHouse prints them', () => {
  assert.ok(render('PrettyCompact', COLUMNS, [['a\tb\nc', 1]]).includes('│ a\tb\nc │'));
  assert.ok(render('Vertical', COLUMNS, [['a\tb\nc', 1]]).includes('query:   a\tb\nc\n'));
});

test('the machine formats keep their exact bytes', () => {
  const text = `${OSC_TITLE}\u202eabc\x9b\x7f`;
  const rows = [[text, 1]];
  assert.equal(render('TabSeparated', COLUMNS, rows), `${text}\t1\n`);
  assert.equal(render('CSV', COLUMNS, rows), `"${text}",1\n`);
  assert.equal(render('JSONEachRow', COLUMNS, rows), `{"query":"\\u001B]0;owned\\u0007\u202eabc\x9b\x7f","elapsed":1}\n`);
});

test('the mariadb table of the interactive client prints control characters visibly and stays aligned', () => {
  const out = mariadbTable([{ name: `Info${CLEAR}`, type: 'String' }, { name: 'Id', type: 'UInt64' }], HOSTILE.map((q, i) => [q, i]));
  assert.doesNotMatch(out, DANGEROUS);
  assert.ok(out.includes('| Info␛[2J␛[H '), out);
  assert.ok(out.includes("| user = <U+202E>'nimda'"), out);
  const widths = new Set(out.trimEnd().split('\n').map(codePointCount));
  assert.equal(widths.size, 1, out);
});

test('quell top draws one line per process: every control, C1, bidi and zero-width character becomes a space', () => {
  assert.equal(oneLine('a\x1b[2J\x9b\u202eb\r\nc\u200bd'), 'a [2J b c d');
});
