import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitStatements } from '../../cli/statements';

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
