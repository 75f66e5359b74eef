import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killNote } from '../../node-agent/backends/kill-note';

// The reason on a backend's kill statement is a comment quell opens and closes: nothing in the
// reason can end it early, open a nested one, or break the line.

test('a reason becomes one comment; no reason, none', () => {
  assert.equal(killNote('runaway etl'), ' /* quell: runaway etl */');
  assert.equal(killNote(''), '');
  assert.equal(killNote('   '), '');
});

test('comment marks, control characters and length are made safe', () => {
  for (const reason of ['x */ ; DROP TABLE t; /* y', '/*/', '*/*/*/', 'a/**/b', 'line\none\r\ttab\u0000\u2028end', '*']) {
    const note = killNote(reason);
    const inner = note.slice(' /* quell: '.length, -' */'.length);
    assert.ok(note.startsWith(' /* quell: ') && note.endsWith(' */'), note);
    assert.doesNotMatch(inner, /\/\*|\*\//, note);
    assert.doesNotMatch(note, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, note);
  }
  assert.equal(killNote('x */ y'), ' /* quell: x * / y */');
  assert.equal([...killNote('é'.repeat(5000))].length, ' /* quell: '.length + 1024 + ' */'.length);
});
