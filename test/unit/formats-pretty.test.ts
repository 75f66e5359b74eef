// Exact bytes of the presentational formats (Pretty, PrettyCompact, PrettyCompactMonoBlock,
// PrettySpace, Vertical) as ClickHouse 18.16 prints them without colour. Sources:
// dbms/src/Formats/Pretty*BlockOutputStream.cpp, VerticalRowOutputStream.cpp; tables from
// tests/queries/0_stateless/00476_pretty_formats_and_widths.reference and 00405_pretty_formats.reference.
process.env.TZ = 'UTC';

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Column, SqlValue } from '../../sql/types';
import { createFormatter, type FormatOptions } from '../../sql/formats';
import { KILL_QUERY_RESULT } from '../../sql/tables';

type Rows = readonly (readonly SqlValue[])[];

function render(format: string, columns: readonly Column[], blocks: readonly Rows[], options: FormatOptions = {}): string {
  const f = createFormatter(format, columns, options);
  let out = f.begin();
  for (const b of blocks) out += f.block(b);
  return out + f.end({ rows: 0, elapsedSeconds: 0 });
}

// ------------------------------------------------ 00476_pretty_formats_and_widths

const XS_COLUMNS: readonly Column[] = [
  { name: 'x', type: 'UInt64' },
  { name: 's', type: 'String' },
];
const XS_ROWS: Rows = Array.from({ length: 10 }, (_v, i) => [10 ** i, String(10 ** i)]);

void test('Pretty: 00476 reference', () => {
  assert.equal(
    render('Pretty', XS_COLUMNS, [XS_ROWS]),
    [
      '┏━━━━━━━━━━━━┳━━━━━━━━━━━━┓',
      '┃          x ┃ s          ┃',
      '┡━━━━━━━━━━━━╇━━━━━━━━━━━━┩',
      '│          1 │ 1          │',
      '├────────────┼────────────┤',
      '│         10 │ 10         │',
      '├────────────┼────────────┤',
      '│        100 │ 100        │',
      '├────────────┼────────────┤',
      '│       1000 │ 1000       │',
      '├────────────┼────────────┤',
      '│      10000 │ 10000      │',
      '├────────────┼────────────┤',
      '│     100000 │ 100000     │',
      '├────────────┼────────────┤',
      '│    1000000 │ 1000000    │',
      '├────────────┼────────────┤',
      '│   10000000 │ 10000000   │',
      '├────────────┼────────────┤',
      '│  100000000 │ 100000000  │',
      '├────────────┼────────────┤',
      '│ 1000000000 │ 1000000000 │',
      '└────────────┴────────────┘',
      '',
    ].join('\n'),
  );
});

const XS_COMPACT = [
  '┌──────────x─┬─s──────────┐',
  '│          1 │ 1          │',
  '│         10 │ 10         │',
  '│        100 │ 100        │',
  '│       1000 │ 1000       │',
  '│      10000 │ 10000      │',
  '│     100000 │ 100000     │',
  '│    1000000 │ 1000000    │',
  '│   10000000 │ 10000000   │',
  '│  100000000 │ 100000000  │',
  '│ 1000000000 │ 1000000000 │',
  '└────────────┴────────────┘',
  '',
].join('\n');

void test('PrettyCompact: 00476 reference', () => {
  assert.equal(render('PrettyCompact', XS_COLUMNS, [XS_ROWS]), XS_COMPACT);
});

void test('PrettySpace: 00476 reference (trailing spaces kept)', () => {
  assert.equal(
    render('PrettySpace', XS_COLUMNS, [XS_ROWS]),
    [
      '         x   s         ',
      '',
      '         1   1         ',
      '        10   10        ',
      '       100   100       ',
      '      1000   1000      ',
      '     10000   10000     ',
      '    100000   100000    ',
      '   1000000   1000000   ',
      '  10000000   10000000  ',
      ' 100000000   100000000 ',
      '1000000000   1000000000',
      '',
    ].join('\n'),
  );
});

void test('PrettyCompactMonoBlock: blocks of 5 glued into one table (00476, max_block_size = 5)', () => {
  const f = createFormatter('PrettyCompactMonoBlock', XS_COLUMNS);
  assert.equal(f.begin(), '');
  assert.equal(f.block(XS_ROWS.slice(0, 5)), '');
  assert.equal(f.block(XS_ROWS.slice(5)), '');
  assert.equal(f.end({ rows: 10, elapsedSeconds: 0 }), XS_COMPACT);
  assert.equal(render('PrettyCompactMonoBlock', XS_COLUMNS, []), '');
});

void test('PrettyCompact: two blocks are two tables, each sized to its own values', () => {
  assert.equal(
    render('PrettyCompact', XS_COLUMNS, [XS_ROWS.slice(0, 2), [], XS_ROWS.slice(9)]),
    '┌──x─┬─s──┐\n' +
      '│  1 │ 1  │\n' +
      '│ 10 │ 10 │\n' +
      '└────┴────┘\n' +
      '┌──────────x─┬─s──────────┐\n' +
      '│ 1000000000 │ 1000000000 │\n' +
      '└────────────┴────────────┘\n',
  );
});

// ------------------------------------------------ kill results

const KILL_COLUMNS: readonly Column[] = KILL_QUERY_RESULT;

const KILL_ROWS: Rows = [
  ['finished', 'q-1', 'alice', 'SELECT 1', '10.0.0.1', 9701, 'n1', ''],
  ['node_unreachable', '', '', '', '10.0.0.3', 9701, 'n3', 'connect ECONNREFUSED'],
];

void test('PrettyCompact: kill result', () => {
  assert.equal(
    render('PrettyCompact', KILL_COLUMNS, [KILL_ROWS]),
    '┌─kill_status──────┬─query_id─┬─user──┬─query────┬─host─────┬─port─┬─node_id─┬─error────────────────┐\n' +
      '│ finished         │ q-1      │ alice │ SELECT 1 │ 10.0.0.1 │ 9701 │ n1      │                      │\n' +
      '│ node_unreachable │          │       │          │ 10.0.0.3 │ 9701 │ n3      │ connect ECONNREFUSED │\n' +
      '└──────────────────┴──────────┴───────┴──────────┴──────────┴──────┴─────────┴──────────────────────┘\n',
  );
});

void test('Pretty: kill result', () => {
  assert.equal(
    render('Pretty', KILL_COLUMNS, [KILL_ROWS]),
    '┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┓\n' +
      '┃ kill_status      ┃ query_id ┃ user  ┃ query    ┃ host     ┃ port ┃ node_id ┃ error                ┃\n' +
      '┡━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━┩\n' +
      '│ finished         │ q-1      │ alice │ SELECT 1 │ 10.0.0.1 │ 9701 │ n1      │                      │\n' +
      '├──────────────────┼──────────┼───────┼──────────┼──────────┼──────┼─────────┼──────────────────────┤\n' +
      '│ node_unreachable │          │       │          │ 10.0.0.3 │ 9701 │ n3      │ connect ECONNREFUSED │\n' +
      '└──────────────────┴──────────┴───────┴──────────┴──────────┴──────┴─────────┴──────────────────────┘\n',
  );
});

void test('Pretty / PrettyCompact / PrettySpace / Vertical: zero rows print nothing', () => {
  for (const format of ['Pretty', 'PrettyCompact', 'PrettyCompactMonoBlock', 'PrettySpace', 'Vertical', 'PrettyNoEscapes']) {
    assert.equal(render(format, KILL_COLUMNS, []), '', format);
    assert.equal(render(format, KILL_COLUMNS, [[], []]), '', format);
  }
});

void test('Pretty: streamed SYNC kill, one table per block', () => {
  const f = createFormatter('PrettyCompact', KILL_COLUMNS);
  assert.equal(f.begin(), '');
  const first = f.block(KILL_ROWS.slice(0, 1));
  assert.equal(
    first,
    '┌─kill_status─┬─query_id─┬─user──┬─query────┬─host─────┬─port─┬─node_id─┬─error─┐\n' +
      '│ finished    │ q-1      │ alice │ SELECT 1 │ 10.0.0.1 │ 9701 │ n1      │       │\n' +
      '└─────────────┴──────────┴───────┴──────────┴──────────┴──────┴─────────┴───────┘\n',
  );
  const second = f.block(KILL_ROWS.slice(1));
  assert.ok(second.startsWith('┌─kill_status──────┬─'), second);
  assert.equal(f.end({ rows: 2, elapsedSeconds: 0 }), '');
});

// ------------------------------------------------ numbers, NULL, unicode, raw values

const MIXED_COLUMNS: readonly Column[] = [
  { name: 'id', type: 'String' },
  { name: 'read_rows', type: 'UInt64' },
  { name: 'elapsed', type: 'Float64' },
  { name: 'create_time', type: 'DateTime' },
  { name: 'n', type: 'Nullable(Nothing)' },
];

void test('PrettyCompact: numbers/DateTime right-aligned (names too), NULL as ᴺᵁᴸᴸ, code-point widths', () => {
  assert.equal(
    render('PrettyCompact', MIXED_COLUMNS, [
      [
        ['日本', 5, 0.25, 1545000000, null],
        ['ü', 12345678, -Infinity, 0, null],
        ['😀x', 0, 1e-7, 1545000000, null],
      ],
    ]),
    '┌─id─┬─read_rows─┬─elapsed─┬─────────create_time─┬─n────┐\n' +
      '│ 日本 │         5 │    0.25 │ 2018-12-16 22:40:00 │ ᴺᵁᴸᴸ │\n' +
      '│ ü  │  12345678 │    -inf │ 0000-00-00 00:00:00 │ ᴺᵁᴸᴸ │\n' +
      '│ 😀x │         0 │    1e-7 │ 2018-12-16 22:40:00 │ ᴺᵁᴸᴸ │\n' +
      '└────┴───────────┴─────────┴─────────────────────┴──────┘\n',
  );
});

void test('Pretty prints values raw: tab, newline, quote and backslash are not escaped', () => {
  const cols: Column[] = [{ name: 'q', type: 'String' }];
  // "a\tb" is 3 code points; "x'\\" is 3: the column is 3 wide.
  assert.equal(
    render('PrettyCompact', cols, [[['a\tb'], ["x'\\"]]]),
    '┌─q───┐\n' + '│ a\tb │\n' + "│ x'\\ │\n" + '└─────┘\n',
  );
  assert.equal(
    render('Pretty', cols, [[['l1\nl2']]]),
    '┏━━━━━━━┓\n┃ q     ┃\n┡━━━━━━━┩\n│ l1\nl2 │\n└───────┘\n',
  );
});

void test('Pretty: output_format_pretty_max_column_pad_width caps the padding, not the value', () => {
  const cols: Column[] = [
    { name: 's', type: 'String' },
    { name: 'n', type: 'UInt8' },
  ];
  const out = render('PrettyCompact', cols, [[['abcdefgh', 1], ['ab', 2]]], { prettyMaxColumnPadWidth: 4 });
  assert.equal(
    out,
    '┌─s────┬─n─┐\n' + '│ abcdefgh │ 1 │\n' + '│ ab   │ 2 │\n' + '└──────┴───┘\n',
  );
});

void test('Pretty/PrettyCompact/PrettySpace: max rows and "Showed first" (00405 reference shape)', () => {
  const cols: Column[] = [{ name: 'hello', type: 'UInt8' }];
  const b1: Rows = [[0], [1], [2], [3], [4]];
  const b2: Rows = [[5], [6], [7], [8], [9]];
  const o = { prettyMaxRows: 6 };
  assert.equal(
    render('PrettyCompact', cols, [b1, b2], o),
    '┌─hello─┐\n│     0 │\n│     1 │\n│     2 │\n│     3 │\n│     4 │\n└───────┘\n' +
      '┌─hello─┐\n│     5 │\n└───────┘\n' +
      '  Showed first 6.\n',
  );
  assert.equal(
    render('Pretty', cols, [b1.slice(0, 1), b2, b1], o),
    '┏━━━━━━━┓\n┃ hello ┃\n┡━━━━━━━┩\n│     0 │\n└───────┘\n' +
      '┏━━━━━━━┓\n┃ hello ┃\n┡━━━━━━━┩\n│     5 │\n├───────┤\n│     6 │\n├───────┤\n│     7 │\n├───────┤\n│     8 │\n├───────┤\n│     9 │\n└───────┘\n' +
      '  Showed first 6.\n',
  );
  assert.equal(
    render('PrettySpace', cols, [b1, b2], o),
    'hello\n\n    0\n    1\n    2\n    3\n    4\nhello\n\n    5\n\nShowed first 6.\n',
  );
  assert.equal(
    render('PrettyCompactMonoBlock', cols, [b1, b2], o),
    '┌─hello─┐\n│     0 │\n│     1 │\n│     2 │\n│     3 │\n│     4 │\n│     5 │\n└───────┘\n  Showed first 6.\n',
  );
  // Exactly max rows also says so (total_rows >= max_rows).
  assert.ok(render('PrettyCompact', cols, [b1], { prettyMaxRows: 5 }).endsWith('└───────┘\n  Showed first 5.\n'));
  assert.ok(!render('PrettyCompact', cols, [b1]).includes('Showed'));
});

// ------------------------------------------------ Vertical

void test('Vertical: kill result, names padded to the widest, blank line between rows', () => {
  assert.equal(
    render('Vertical', KILL_COLUMNS, [KILL_ROWS.slice(0, 1), KILL_ROWS.slice(1)]),
    'Row 1:\n' +
      '──────\n' +
      'kill_status: finished\n' +
      'query_id:    q-1\n' +
      'user:        alice\n' +
      'query:       SELECT 1\n' +
      'host:        10.0.0.1\n' +
      'port:        9701\n' +
      'node_id:     n1\n' +
      'error:       \n' +
      '\n' +
      'Row 2:\n' +
      '──────\n' +
      'kill_status: node_unreachable\n' +
      'query_id:    \n' +
      'user:        \n' +
      'query:       \n' +
      'host:        10.0.0.3\n' +
      'port:        9701\n' +
      'node_id:     n3\n' +
      'error:       connect ECONNREFUSED\n',
  );
});

void test('Vertical: raw values, NULL as ᴺᵁᴸᴸ, numbers, DateTime', () => {
  assert.equal(
    render('Vertical', MIXED_COLUMNS, [[["it's\tme\n", 2 ** 53, -0, 1545000000, null]]]),
    'Row 1:\n──────\n' +
      "id:          it's\tme\n\n" +
      'read_rows:   9007199254740992\n' +
      'elapsed:     -0\n' +
      'create_time: 2018-12-16 22:40:00\n' +
      'n:           ᴺᵁᴸᴸ\n',
  );
});

void test('Vertical: rule length is floor(log10(N + 1)) + 6 (so "Row 9:" gets 7)', () => {
  const cols: Column[] = [{ name: 'x', type: 'UInt8' }];
  const rows: Rows = Array.from({ length: 10 }, (_v, i) => [i + 1]);
  const out = render('Vertical', cols, [rows]);
  const lines = out.split('\n');
  assert.equal(lines[0], 'Row 1:');
  assert.equal(lines[1], '──────');
  const at = (n: number): number => lines.indexOf(`Row ${n}:`);
  assert.equal(lines[at(8) + 1], '──────');
  assert.equal(lines[at(9) + 1], '───────');
  assert.equal(lines[at(10) + 1], '───────');
  assert.ok(out.endsWith('\nRow 10:\n───────\nx: 10\n'));
});

void test('Vertical: rows past max rows dropped, "Showed first N." at the end', () => {
  const cols: Column[] = [{ name: 'x', type: 'UInt8' }];
  assert.equal(
    render('Vertical', cols, [[[1], [2]], [[3]]], { prettyMaxRows: 2 }),
    'Row 1:\n──────\nx: 1\n\nRow 2:\n──────\nx: 2\n\nShowed first 2.\n',
  );
});
