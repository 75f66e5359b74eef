import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareRows } from '../../sql/sort';

test('ORDER BY: numbers numerically, strings bytewise, NULLs last both ways', () => {
  const rows = [[2, 'b'], [10, 'a'], [null, 'c'], [2, 'a'], [1, 'Z']];
  const asc = [...rows].sort((a, b) => compareRows(a, b, [{ index: 0, desc: false }, { index: 1, desc: false }]));
  assert.deepEqual(asc, [[1, 'Z'], [2, 'a'], [2, 'b'], [10, 'a'], [null, 'c']]);
  const desc = [...rows].sort((a, b) => compareRows(a, b, [{ index: 0, desc: true }, { index: 1, desc: true }]));
  assert.deepEqual(desc, [[10, 'a'], [2, 'b'], [2, 'a'], [1, 'Z'], [null, 'c']]);
  const bytes = [['é'], ['z'], ['Z']].sort((a, b) => compareRows(a, b, [{ index: 0, desc: false }]));
  assert.deepEqual(bytes, [['Z'], ['z'], ['é']]);
});
