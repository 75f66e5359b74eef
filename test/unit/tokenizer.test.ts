import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scan, tokenize, type Token } from '../../sql/tokenizer';
import { QuellError } from '../../errors/quell-error';

const brief = (ts: Token[]): [string, string][] => ts.map((t) => [t.kind, t.value]);

function one(text: string): Token {
  const ts = tokenize(text);
  assert.equal(ts.length, 2, `one token expected in ${text}`);
  return ts[0] as Token;
}

function syntaxError(text: string, message: string): void {
  assert.throws(
    () => tokenize(text),
    (e: unknown) => {
      assert.ok(e instanceof QuellError);
      assert.equal(e.code, 62);
      assert.equal(e.errorName, 'SYNTAX_ERROR');
      assert.equal(e.message, message);
      return true;
    },
  );
}

test('a KILL statement splits into kinds with 0-based positions', () => {
  const ts = tokenize("KILL QUERY ON CLUSTER `c3` WHERE user = 'alice' SYNC;");
  assert.deepEqual(brief(ts), [
    ['word', 'KILL'],
    ['word', 'QUERY'],
    ['word', 'ON'],
    ['word', 'CLUSTER'],
    ['quotedIdent', 'c3'],
    ['word', 'WHERE'],
    ['word', 'user'],
    ['op', '='],
    ['string', 'alice'],
    ['word', 'SYNC'],
    ['op', ';'],
    ['end', ''],
  ]);
  assert.deepEqual(
    ts.map((t) => t.pos),
    [0, 5, 11, 14, 22, 27, 33, 38, 40, 48, 52, 53],
  );
  assert.equal(ts[8]?.text, "'alice'");
});

test('string literals decode ClickHouse escapes', () => {
  assert.equal(one("'a\\tb'").value, 'a\tb');
  assert.equal(one("'line\\nbreak'").value, 'line\nbreak');
  assert.equal(one("'back\\\\slash'").value, 'back\\slash');
  assert.equal(one("'it\\'s'").value, "it's");
  assert.equal(one("'it''s'").value, "it's");
  assert.equal(one("'\\0'").value, '\0');
  assert.equal(one("'\\x41\\x7a'").value, 'Az');
  assert.equal(one("''").value, '');
  assert.equal(one("'é'").value, 'é');
});

test("an unknown escape drops the backslash: '\\%' is '%', '\\\\%' keeps one backslash", () => {
  assert.equal(one("'\\%'").value, '%');
  assert.equal(one("'\\_'").value, '_');
  assert.equal(one("'\\\\%'").value, '\\%');
});

test('quoted identifiers: backticks and double quotes, doubled quote escapes', () => {
  assert.deepEqual(brief(tokenize('`my col` "Other" `a``b` "x""y"')).slice(0, 4), [
    ['quotedIdent', 'my col'],
    ['quotedIdent', 'Other'],
    ['quotedIdent', 'a`b'],
    ['quotedIdent', 'x"y'],
  ]);
});

test('numbers: integers, floats, exponents, hex', () => {
  const n = (text: string): [number | undefined, boolean | undefined] => {
    const t = one(text);
    assert.equal(t.kind, 'number');
    return [t.num, t.isFloat];
  };
  assert.deepEqual(n('42'), [42, false]);
  assert.deepEqual(n('1.5'), [1.5, true]);
  assert.deepEqual(n('1e3'), [1000, true]);
  assert.deepEqual(n('2.5E-1'), [0.25, true]);
  assert.deepEqual(n('0x1F'), [31, false]);
  assert.deepEqual(n('.5'), [0.5, true]);
  assert.deepEqual(n('1.'), [1, true]);
  // past UInt64 the literal is Float64, as in ClickHouse
  assert.deepEqual(n('100000000000000000000'), [1e20, true]);
});

test('every operator, longest match first', () => {
  const ops = '= == != <> < <= > >= + - * / % ( ) , . ; @';
  assert.deepEqual(
    tokenize(ops)
      .filter((t) => t.kind === 'op')
      .map((t) => t.value),
    ops.split(' '),
  );
  assert.deepEqual(brief(tokenize('a<=b')).slice(0, 3), [
    ['word', 'a'],
    ['op', '<='],
    ['word', 'b'],
  ]);
});

test('a dotted name is word . word, not a number', () => {
  assert.deepEqual(brief(tokenize('system.processes')).slice(0, 3), [
    ['word', 'system'],
    ['op', '.'],
    ['word', 'processes'],
  ]);
});

test('comments are skipped', () => {
  assert.deepEqual(brief(tokenize('SELECT -- note\n 1 /* inline */ + 2')), [
    ['word', 'SELECT'],
    ['number', '1'],
    ['op', '+'],
    ['number', '2'],
    ['end', ''],
  ]);
});

test('lexical errors are one-line SYNTAX_ERRORs with a 1-based position', () => {
  syntaxError("SELECT 'abc", "Syntax error: failed at position 8 ('''): 'abc. Unterminated quoted string");
  syntaxError('SELECT `abc', "Syntax error: failed at position 8 ('`'): `abc. Unterminated quoted identifier");
  syntaxError('SELECT a & b', "Syntax error: failed at position 10 ('&'): & b. Unrecognized token");
  syntaxError('SELECT 1 /* open', "Syntax error: failed at position 10 ('/'): /* open. Unterminated comment");
  syntaxError("SELECT 'a\\", "Syntax error: failed at position 8 ('''): 'a\\. Unterminated quoted string");
  syntaxError('SELECT ``', "Syntax error: failed at position 8 ('`'): ``. Empty quoted identifier");
});

test('scan() keeps the tokens before a lexical error and ends at its position', () => {
  const r = scan('KILL 5 !');
  assert.deepEqual(brief(r.tokens), [
    ['word', 'KILL'],
    ['number', '5'],
    ['end', ''],
  ]);
  assert.equal(r.tokens[2]?.pos, 7);
  assert.deepEqual(r.error, { pos: 7, message: 'Unrecognized token' });
});
