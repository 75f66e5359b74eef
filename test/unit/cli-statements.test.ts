import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchStatements, splitStatements } from '../../cli/statements';

test('splits at semicolons outside quotes and comments', () => {
  assert.deepEqual(splitStatements("SELECT 1; KILL QUERY WHERE query = 'a;b' TEST;\nSELECT `x;`;"), {
    statements: ['SELECT 1', "KILL QUERY WHERE query = 'a;b' TEST", 'SELECT `x;`'],
    rest: '',
  });
  assert.deepEqual(splitStatements("SELECT 'it\\'s;'; -- a comment; with semicolons\nSELECT 2"), {
    statements: ["SELECT 'it\\'s;'"],
    rest: ' -- a comment; with semicolons\nSELECT 2',
  });
  assert.deepEqual(splitStatements(';;  ;'), { statements: [], rest: '' });
});

test('a batch never drops input: the last statement needs no semicolon, an unfinished one is still sent', () => {
  assert.deepEqual(batchStatements('SELECT 1; SELECT 2'), ['SELECT 1', 'SELECT 2']);
  assert.deepEqual(batchStatements("KILL QUERY WHERE user = 'x"), ["KILL QUERY WHERE user = 'x"]);
  assert.deepEqual(batchStatements("KILL QUERY WHERE user = 'x; SELECT 1;"), ["KILL QUERY WHERE user = 'x; SELECT 1;"]);
  assert.deepEqual(batchStatements('SELECT 1 /* open; comment'), ['SELECT 1 /* open; comment']);
  assert.deepEqual(batchStatements('SELECT 1; -- trailing comment\n'), ['SELECT 1']);
  assert.deepEqual(batchStatements('SELECT /* a; b */ 1;'), ['SELECT /* a; b */ 1']);
});
