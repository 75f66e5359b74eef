// Exact bytes of the row formats (TabSeparated family, CSV, JSON family, TSKV, Values, Null),
// as ClickHouse 18.16 prints them. Sources: dbms/src/Formats/*RowOutputStream.cpp and
// dbms/src/IO/WriteHelpers.h; JSON layout from tests/queries/0_stateless/00378_json_quote_64bit_integers.reference.
process.env.TZ = 'UTC';

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Column, SqlValue } from '../../sql/types';
import {
  FORMAT_NAMES,
  canonicalFormatName,
  createFormatter,
  formatDateTime,
  formatFloat,
  formatInt,
  jsonString,
  escapeTsv,
  quoteCsv,
  type FormatSummary,
} from '../../sql/formats';
import { QuellError } from '../../errors/quell-error';
import { KILL_QUERY_RESULT } from '../../sql/tables';

type Rows = readonly (readonly SqlValue[])[];

const SUMMARY: FormatSummary = { rows: 0, elapsedSeconds: 0.001234 };

/** begin + every block + end, the way a client prints a streamed result. */
function render(format: string, columns: readonly Column[], blocks: readonly Rows[], summary: FormatSummary = SUMMARY): string {
  const f = createFormatter(format, columns);
  let out = f.begin();
  for (const b of blocks) out += f.block(b);
  return out + f.end(summary);
}

const KILL_COLUMNS: readonly Column[] = KILL_QUERY_RESULT;

const KILL_ROWS: Rows = [
  ['finished', 'q-1', 'alice', 'SELECT sleep(3)', '10.0.0.1', 9701, 'n1', ''],
  ['waiting', 'q-\u00fc/2', 'bob', "SELECT 'x'\nFROM t", '10.0.0.2', 9702, 'n2', ''],
  ['node_error', '', '', '', '10.0.0.3', 9701, 'n3', 'agent refused: it\'s "busy"\tnow\\'],
];

const PROC_COLUMNS: readonly Column[] = [
  { name: 'query_id', type: 'String' },
  { name: 'read_rows', type: 'UInt64' },
  { name: 'elapsed', type: 'Float64' },
  { name: 'memory_usage', type: 'Int64' },
  { name: 'is_cancelled', type: 'UInt8' },
  { name: 'create_time', type: 'DateTime' },
  { name: 'note', type: 'Nullable(Nothing)' },
];

const PROC_ROWS: Rows = [
  ['q1', 1000000, 0.5, -42, 0, 1545000000, null],
  ['q2', 2 ** 53, 1e21, 7, 1, 0, null],
  ['q3', 3, NaN, 0, 1, 1545000000, null],
];

// ---------------------------------------------------------------- TabSeparated family

void test('TabSeparated: kill result, escaping of \\t \\n \\\\ and single quote', () => {
  assert.equal(
    render('TabSeparated', KILL_COLUMNS, [KILL_ROWS]),
    'finished\tq-1\talice\tSELECT sleep(3)\t10.0.0.1\t9701\tn1\t\n' +
      "waiting\tq-\u00fc/2\tbob\tSELECT \\'x\\'\\nFROM t\t10.0.0.2\t9702\tn2\t\n" +
      'node_error\t\t\t\t10.0.0.3\t9701\tn3\tagent refused: it\\\'s "busy"\\tnow\\\\\n',
  );
});

void test('TSV is TabSeparated; empty result prints nothing', () => {
  assert.equal(render('TSV', KILL_COLUMNS, [KILL_ROWS]), render('TabSeparated', KILL_COLUMNS, [KILL_ROWS]));
  assert.equal(render('TSV', KILL_COLUMNS, []), '');
  assert.equal(render('TSV', KILL_COLUMNS, [[], []]), '');
});

void test('TabSeparated: numbers, DateTime, NULL as \\N, 64-bit, nan', () => {
  assert.equal(
    render('TabSeparated', PROC_COLUMNS, [PROC_ROWS]),
    'q1\t1000000\t0.5\t-42\t0\t2018-12-16 22:40:00\t\\N\n' +
      'q2\t9007199254740992\t1e21\t7\t1\t0000-00-00 00:00:00\t\\N\n' +
      'q3\t3\tnan\t0\t1\t2018-12-16 22:40:00\t\\N\n',
  );
});

void test('TabSeparated escapes \\0 \\b \\f \\r too, leaves other control chars and DEL alone', () => {
  const cols: Column[] = [{ name: 's', type: 'String' }];
  assert.equal(render('TabSeparated', cols, [[['a\0b\bc\fd\re\u0001f\u007fg']]]), 'a\\0b\\bc\\fd\\re\u0001f\u007fg\n');
});

void test('TabSeparatedWithNames / TSVWithNames: escaped header even for an empty result', () => {
  const header = 'kill_status\tquery_id\tuser\tquery\thost\tport\tnode_id\terror\n';
  assert.equal(render('TabSeparatedWithNames', KILL_COLUMNS, []), header);
  assert.equal(
    render('TSVWithNames', KILL_COLUMNS, [KILL_ROWS.slice(0, 1)]),
    header + 'finished\tq-1\talice\tSELECT sleep(3)\t10.0.0.1\t9701\tn1\t\n',
  );
  const odd: Column[] = [{ name: "it's\ta", type: 'UInt8' }];
  assert.equal(render('TSVWithNames', odd, [[[1]]]), "it\\'s\\ta\n1\n");
});

void test('TabSeparatedWithNamesAndTypes: names line then types line', () => {
  assert.equal(
    render('TSVWithNamesAndTypes', PROC_COLUMNS, [PROC_ROWS.slice(0, 1)]),
    'query_id\tread_rows\telapsed\tmemory_usage\tis_cancelled\tcreate_time\tnote\n' +
      'String\tUInt64\tFloat64\tInt64\tUInt8\tDateTime\tNullable(Nothing)\n' +
      'q1\t1000000\t0.5\t-42\t0\t2018-12-16 22:40:00\t\\N\n',
  );
});

void test('TabSeparatedRaw / TSVRaw: no escaping, NULL as in Pretty', () => {
  const cols: Column[] = [
    { name: 's', type: 'String' },
    { name: 'n', type: 'Nullable(Nothing)' },
  ];
  const out = render('TSVRaw', cols, [[["a\tb\\c'd", null]]]);
  assert.equal(out, "a\tb\\c'd\t\u1D3A\u1D41\u1D38\u1D38\n");
  assert.equal(render('TabSeparatedRaw', cols, [[["a\tb\\c'd", null]]]), out);
});

void test('TabSeparated streams blocks with no separator between them', () => {
  const one = render('TabSeparated', KILL_COLUMNS, [KILL_ROWS]);
  const three = render('TabSeparated', KILL_COLUMNS, [KILL_ROWS.slice(0, 1), [], KILL_ROWS.slice(1)]);
  assert.equal(three, one);
});

// ---------------------------------------------------------------- CSV

void test('CSV: strings always double-quoted with "" doubling, numbers bare, raw tab/newline/backslash', () => {
  assert.equal(
    render('CSV', KILL_COLUMNS, [KILL_ROWS]),
    '"finished","q-1","alice","SELECT sleep(3)","10.0.0.1",9701,"n1",""\n' +
      '"waiting","q-\u00fc/2","bob","SELECT \'x\'\nFROM t","10.0.0.2",9702,"n2",""\n' +
      '"node_error","","","","10.0.0.3",9701,"n3","agent refused: it\'s ""busy""\tnow\\"\n',
  );
});

void test('CSV: DateTime quoted, NULL as \\N, floats as ClickHouse writes them', () => {
  assert.equal(
    render('CSV', PROC_COLUMNS, [PROC_ROWS]),
    '"q1",1000000,0.5,-42,0,"2018-12-16 22:40:00",\\N\n' +
      '"q2",9007199254740992,1e21,7,1,"0000-00-00 00:00:00",\\N\n' +
      '"q3",3,nan,0,1,"2018-12-16 22:40:00",\\N\n',
  );
});

void test('CSVWithNames: quoted header, printed even for an empty result', () => {
  const header = '"kill_status","query_id","user","query","host","port","node_id","error"\n';
  assert.equal(render('CSVWithNames', KILL_COLUMNS, []), header);
  assert.equal(
    render('CSVWithNames', KILL_COLUMNS, [KILL_ROWS.slice(0, 1)]),
    header + '"finished","q-1","alice","SELECT sleep(3)","10.0.0.1",9701,"n1",""\n',
  );
  assert.equal(render('CSV', KILL_COLUMNS, []), '');
});

// ---------------------------------------------------------------- JSON family

const KILL_META =
  '{\n\t"meta":\n\t[\n' +
  '\t\t{\n\t\t\t"name": "kill_status",\n\t\t\t"type": "String"\n\t\t},\n' +
  '\t\t{\n\t\t\t"name": "query_id",\n\t\t\t"type": "String"\n\t\t},\n' +
  '\t\t{\n\t\t\t"name": "user",\n\t\t\t"type": "String"\n\t\t},\n' +
  '\t\t{\n\t\t\t"name": "query",\n\t\t\t"type": "String"\n\t\t},\n' +
  '\t\t{\n\t\t\t"name": "host",\n\t\t\t"type": "String"\n\t\t},\n' +
  '\t\t{\n\t\t\t"name": "port",\n\t\t\t"type": "UInt16"\n\t\t},\n' +
  '\t\t{\n\t\t\t"name": "node_id",\n\t\t\t"type": "String"\n\t\t},\n' +
  '\t\t{\n\t\t\t"name": "error",\n\t\t\t"type": "String"\n\t\t}\n' +
  '\t],\n\n\t"data":\n\t[\n';

function statistics(elapsed: string, rowsRead: number, bytesRead: number): string {
  return (
    ',\n\n\t"statistics":\n\t{\n' +
    `\t\t"elapsed": ${elapsed},\n\t\t"rows_read": ${rowsRead},\n\t\t"bytes_read": ${bytesRead}\n\t}\n}\n`
  );
}

void test('JSON: kill result with meta, data, rows, statistics; tabs exactly as ClickHouse', () => {
  const out = render('JSON', KILL_COLUMNS, [KILL_ROWS], { rows: 3, elapsedSeconds: 0.001234 });
  assert.equal(
    out,
    KILL_META +
      '\t\t{\n' +
      '\t\t\t"kill_status": "finished",\n' +
      '\t\t\t"query_id": "q-1",\n' +
      '\t\t\t"user": "alice",\n' +
      '\t\t\t"query": "SELECT sleep(3)",\n' +
      '\t\t\t"host": "10.0.0.1",\n' +
      '\t\t\t"port": 9701,\n' +
      '\t\t\t"node_id": "n1",\n' +
      '\t\t\t"error": ""\n' +
      '\t\t},\n' +
      '\t\t{\n' +
      '\t\t\t"kill_status": "waiting",\n' +
      '\t\t\t"query_id": "q-\u00fc\\/2",\n' +
      '\t\t\t"user": "bob",\n' +
      '\t\t\t"query": "SELECT \'x\'\\nFROM t",\n' +
      '\t\t\t"host": "10.0.0.2",\n' +
      '\t\t\t"port": 9702,\n' +
      '\t\t\t"node_id": "n2",\n' +
      '\t\t\t"error": ""\n' +
      '\t\t},\n' +
      '\t\t{\n' +
      '\t\t\t"kill_status": "node_error",\n' +
      '\t\t\t"query_id": "",\n' +
      '\t\t\t"user": "",\n' +
      '\t\t\t"query": "",\n' +
      '\t\t\t"host": "10.0.0.3",\n' +
      '\t\t\t"port": 9701,\n' +
      '\t\t\t"node_id": "n3",\n' +
      '\t\t\t"error": "agent refused: it\'s \\"busy\\"\\tnow\\\\"\n' +
      '\t\t}\n' +
      '\t],\n\n' +
      '\t"rows": 3' +
      statistics('0.001234', 3, 0),
  );
});

void test('JSON: empty result keeps the blank line inside data and says rows 0', () => {
  assert.equal(
    render('JSON', KILL_COLUMNS, [], { rows: 0, elapsedSeconds: 0.5, rowsRead: 10, bytesRead: 2048 }),
    KILL_META + '\n\t],\n\n\t"rows": 0' + statistics('0.5', 10, 2048),
  );
});

void test('JSON: rows_before_limit_at_least only when given; rows counts rows across blocks', () => {
  const cols: Column[] = [{ name: 'x', type: 'UInt8' }];
  const out = render('JSON', cols, [[[1]], [[2]]], { rows: 2, elapsedSeconds: 1e-7, rowsBeforeLimitAtLeast: 5 });
  assert.equal(
    out,
    '{\n\t"meta":\n\t[\n\t\t{\n\t\t\t"name": "x",\n\t\t\t"type": "UInt8"\n\t\t}\n\t],\n\n\t"data":\n\t[\n' +
      '\t\t{\n\t\t\t"x": 1\n\t\t},\n\t\t{\n\t\t\t"x": 2\n\t\t}\n\t],\n\n\t"rows": 2,\n\n' +
      '\t"rows_before_limit_at_least": 5' +
      statistics('1e-7', 2, 0),
  );
});

void test('JSON: prefix and data bytes match 00378_json_quote_64bit_integers.reference (64-bit ints quoted)', () => {
  const cols: Column[] = [
    { name: 'i0', type: 'Int64' },
    { name: 'u0', type: 'UInt64' },
  ];
  const out = render('JSON', cols, [[[0, 0]]], { rows: 1, elapsedSeconds: 0 });
  const reference =
    '{\n\t"meta":\n\t[\n\t\t{\n\t\t\t"name": "i0",\n\t\t\t"type": "Int64"\n\t\t},\n\t\t{\n\t\t\t"name": "u0",\n\t\t\t"type": "UInt64"\n\t\t}\n\t],\n\n' +
    '\t"data":\n\t[\n\t\t{\n\t\t\t"i0": "0",\n\t\t\t"u0": "0"\n\t\t}\n\t],\n\n\t"rows": 1';
  assert.ok(out.startsWith(reference), out);
  assert.equal(out.slice(reference.length), statistics('0', 1, 0));
  assert.equal(render('JSONEachRow', cols, [[[0, 0]]]), '{"i0":"0","u0":"0"}\n');
  assert.ok(render('JSONCompact', cols, [[[0, 0]]], { rows: 1, elapsedSeconds: 0 }).includes('\t"data":\n\t[\n\t\t["0", "0"]\n\t],\n\n\t"rows": 1,'));
});

void test('JSON: UInt64/Int64 quoted, small ints bare, floats bare, inf/nan null, DateTime string, NULL null', () => {
  const out = render('JSON', PROC_COLUMNS, [PROC_ROWS], { rows: 3, elapsedSeconds: 0 });
  assert.ok(
    out.includes(
      '\t\t{\n' +
        '\t\t\t"query_id": "q1",\n' +
        '\t\t\t"read_rows": "1000000",\n' +
        '\t\t\t"elapsed": 0.5,\n' +
        '\t\t\t"memory_usage": "-42",\n' +
        '\t\t\t"is_cancelled": 0,\n' +
        '\t\t\t"create_time": "2018-12-16 22:40:00",\n' +
        '\t\t\t"note": null\n' +
        '\t\t},\n',
    ),
    out,
  );
  assert.ok(out.includes('\t\t\t"read_rows": "9007199254740992",\n\t\t\t"elapsed": 1e21,\n'), out);
  assert.ok(out.includes('\t\t\t"create_time": "0000-00-00 00:00:00",\n'), out);
  assert.ok(out.includes('\t\t\t"elapsed": null,\n'), out);
  assert.ok(out.includes('\t\t\t"name": "note",\n\t\t\t"type": "Nullable(Nothing)"\n'), out);
});

void test('JSONEachRow: one object per line, no spaces, escapes', () => {
  assert.equal(
    render('JSONEachRow', KILL_COLUMNS, [KILL_ROWS]),
    '{"kill_status":"finished","query_id":"q-1","user":"alice","query":"SELECT sleep(3)","host":"10.0.0.1","port":9701,"node_id":"n1","error":""}\n' +
      '{"kill_status":"waiting","query_id":"q-\u00fc\\/2","user":"bob","query":"SELECT \'x\'\\nFROM t","host":"10.0.0.2","port":9702,"node_id":"n2","error":""}\n' +
      '{"kill_status":"node_error","query_id":"","user":"","query":"","host":"10.0.0.3","port":9701,"node_id":"n3","error":"agent refused: it\'s \\"busy\\"\\tnow\\\\"}\n',
  );
  assert.equal(render('JSONEachRow', KILL_COLUMNS, []), '');
});

void test('JSONEachRow: numbers and NULL', () => {
  assert.equal(
    render('JSONEachRow', PROC_COLUMNS, [PROC_ROWS]),
    '{"query_id":"q1","read_rows":"1000000","elapsed":0.5,"memory_usage":"-42","is_cancelled":0,"create_time":"2018-12-16 22:40:00","note":null}\n' +
      '{"query_id":"q2","read_rows":"9007199254740992","elapsed":1e21,"memory_usage":"7","is_cancelled":1,"create_time":"0000-00-00 00:00:00","note":null}\n' +
      '{"query_id":"q3","read_rows":"3","elapsed":null,"memory_usage":"0","is_cancelled":1,"create_time":"2018-12-16 22:40:00","note":null}\n',
  );
});

void test('JSONEachRow streams across blocks (SYNC kill)', () => {
  const streamed = render('JSONEachRow', KILL_COLUMNS, [KILL_ROWS.slice(0, 1), KILL_ROWS.slice(1, 2), [], KILL_ROWS.slice(2)]);
  assert.equal(streamed, render('JSONEachRow', KILL_COLUMNS, [KILL_ROWS]));
  const f = createFormatter('JSONEachRow', KILL_COLUMNS);
  assert.equal(f.begin(), '');
  assert.match(f.block(KILL_ROWS.slice(0, 1)), /^\{"kill_status":"finished".*\}\n$/);
});

void test('JSONCompact: rows as arrays with ", " between values', () => {
  const out = render('JSONCompact', KILL_COLUMNS, [KILL_ROWS.slice(0, 1), KILL_ROWS.slice(2)], { rows: 2, elapsedSeconds: 0.25 });
  assert.equal(
    out,
    KILL_META +
      '\t\t["finished", "q-1", "alice", "SELECT sleep(3)", "10.0.0.1", 9701, "n1", ""],\n' +
      '\t\t["node_error", "", "", "", "10.0.0.3", 9701, "n3", "agent refused: it\'s \\"busy\\"\\tnow\\\\"]\n' +
      '\t],\n\n\t"rows": 2' +
      statistics('0.25', 2, 0),
  );
  assert.equal(
    render('JSONCompact', KILL_COLUMNS, [], { rows: 0, elapsedSeconds: 0 }),
    KILL_META + '\n\t],\n\n\t"rows": 0' + statistics('0', 0, 0),
  );
});

void test('JSON string escaping: control chars \\u00XX upper-case, slash, U+2028/9, DEL and unicode as is', () => {
  assert.equal(jsonString('a/b'), '"a\\/b"');
  assert.equal(jsonString('\u0000\u0001\u001f\u001b'), '"\\u0000\\u0001\\u001F\\u001B"');
  assert.equal(jsonString('\b\f\n\r\t"\\'), '"\\b\\f\\n\\r\\t\\"\\\\"');
  assert.equal(jsonString('\u2028x\u2029'), '"\\u2028x\\u2029"');
  assert.equal(jsonString('\u007f \u00e9 \u{1F600} \u4e2d'), '"\u007f \u00e9 \u{1F600} \u4e2d"');
  assert.equal(jsonString("it's"), '"it\'s"');
  const cols: Column[] = [{ name: 'a/b"c', type: 'String' }];
  assert.equal(render('JSONEachRow', cols, [[['</script>']]]), '{"a\\/b\\"c":"<\\/script>"}\n');
});

// ---------------------------------------------------------------- TSKV, Values, Null

void test('TSKV: key=value pairs, keys escape "=", values TSV-escaped', () => {
  const cols: Column[] = [
    { name: 'a=b', type: 'String' },
    { name: 'n', type: 'UInt64' },
    { name: 'z', type: 'Nullable(Nothing)' },
  ];
  assert.equal(
    render('TSKV', cols, [[["x\ty'", 5, null]], [['', 0, null]]]),
    "a\\=b=x\\ty\\'\tn=5\tz=\\N\na\\=b=\tn=0\tz=\\N\n",
  );
});

void test('Values: (…),(…) with quoted strings and DateTime, NULL, no newline', () => {
  const cols: Column[] = [
    { name: 's', type: 'String' },
    { name: 'n', type: 'UInt16' },
    { name: 'f', type: 'Float64' },
    { name: 't', type: 'DateTime' },
    { name: 'z', type: 'Nullable(Nothing)' },
  ];
  assert.equal(
    render('Values', cols, [[["it's\n", 1, -0.5, 1545000000, null]], [['', 2, 0, 0, null]]]),
    "('it\\'s\\n',1,-0.5,'2018-12-16 22:40:00',NULL),('',2,0,'0000-00-00 00:00:00',NULL)",
  );
});

void test('Null prints nothing', () => {
  assert.equal(render('Null', KILL_COLUMNS, [KILL_ROWS]), '');
});

// ---------------------------------------------------------------- names and errors

void test('canonicalFormatName: aliases, case-sensitive', () => {
  assert.equal(canonicalFormatName('TSV'), 'TabSeparated');
  assert.equal(canonicalFormatName('TSVWithNames'), 'TabSeparatedWithNames');
  assert.equal(canonicalFormatName('TSVRaw'), 'TabSeparatedRaw');
  assert.equal(canonicalFormatName('TSVWithNamesAndTypes'), 'TabSeparatedWithNamesAndTypes');
  assert.equal(canonicalFormatName('JSONEachRow'), 'JSONEachRow');
  assert.equal(canonicalFormatName('PrettyCompactMonoBlock'), 'PrettyCompactMonoBlock');
  assert.equal(canonicalFormatName('json'), undefined);
  assert.equal(canonicalFormatName('tsv'), undefined);
  assert.equal(canonicalFormatName('Nope'), undefined);
  for (const name of [
    'TabSeparated', 'TSV', 'TabSeparatedWithNames', 'TSVWithNames', 'CSV', 'CSVWithNames', 'JSON', 'JSONEachRow',
    'JSONCompact', 'Pretty', 'PrettyCompact', 'Vertical', 'Null', 'TabSeparatedRaw', 'TSVRaw',
    'PrettyCompactMonoBlock', 'PrettySpace',
  ]) {
    assert.ok(FORMAT_NAMES.includes(name), name);
    assert.notEqual(canonicalFormatName(name), undefined, name);
  }
  for (const name of FORMAT_NAMES) assert.doesNotThrow(() => createFormatter(name, KILL_COLUMNS), name);
});

void test('unknown format: Code 73 UNKNOWN_FORMAT "Unknown format Nope"', () => {
  assert.throws(
    () => createFormatter('Nope', KILL_COLUMNS),
    (e: unknown) => e instanceof QuellError && e.code === 73 && e.errorName === 'UNKNOWN_FORMAT' && e.message === 'Unknown format Nope',
  );
  assert.throws(() => createFormatter('prettycompact', KILL_COLUMNS), /Unknown format prettycompact/);
});

// ---------------------------------------------------------------- cell rendering

void test('formatFloat: ClickHouse shortest form (double-conversion ToShortest)', () => {
  const cases: [number, string][] = [
    [0, '0'],
    [-0, '-0'],
    [1, '1'],
    [-1.5, '-1.5'],
    [0.1, '0.1'],
    [1 / 3, '0.3333333333333333'],
    [0.000001, '0.000001'],
    [1.5e-7, '1.5e-7'],
    [1e20, '100000000000000000000'],
    [123456789012345680000, '123456789012345680000'],
    [1e21, '1e21'],
    [-2.5e300, '-2.5e300'],
    [1.7976931348623157e308, '1.7976931348623157e308'],
    [5e-324, '5e-324'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [NaN, 'nan'],
  ];
  for (const [x, s] of cases) assert.equal(formatFloat(x), s, String(x));
});

void test('formatInt and formatDateTime', () => {
  assert.equal(formatInt(0), '0');
  assert.equal(formatInt(-0), '0');
  assert.equal(formatInt(-42), '-42');
  assert.equal(formatInt(2 ** 64 - 1), '18446744073709551616'); // the double nearest 2^64-1
  assert.equal(formatDateTime(0), '0000-00-00 00:00:00');
  assert.equal(formatDateTime(1), '1970-01-01 00:00:01');
  assert.equal(formatDateTime(1545000000), '2018-12-16 22:40:00');
  assert.equal(formatDateTime(4294967295), '2106-02-07 06:28:15');
});

void test('DateTime uses the process\'s local time zone', () => {
  const saved = process.env.TZ;
  try {
    process.env.TZ = 'Asia/Kolkata';
    assert.equal(formatDateTime(1545000000), '2018-12-17 04:10:00');
    assert.equal(formatDateTime(0), '0000-00-00 00:00:00');
    process.env.TZ = 'America/New_York';
    assert.equal(formatDateTime(1545000000), '2018-12-16 17:40:00');
  } finally {
    process.env.TZ = saved;
  }
  assert.equal(formatDateTime(1545000000), '2018-12-16 22:40:00');
});

void test('escape helpers', () => {
  assert.equal(escapeTsv("a'b\\c\td\ne"), "a\\'b\\\\c\\td\\ne");
  assert.equal(quoteCsv('say "hi"'), '"say ""hi"""');
  assert.equal(quoteCsv(''), '""');
});
