import { test } from 'node:test';
import assert from 'node:assert/strict';
import { msPastActBy } from '../../common/act-by';

test('ms past an act-by time: undefined while not past (at it too) or with none; at least 1 once past; a string as proto sends it', () => {
  assert.equal(msPastActBy('0', 5000), undefined);
  assert.equal(msPastActBy(0, 5000), undefined);
  assert.equal(msPastActBy('', 5000), undefined);
  assert.equal(msPastActBy('6000', 5000), undefined);
  assert.equal(msPastActBy(5000, 5000), undefined);
  assert.equal(msPastActBy('4999', 5000), 1);
  assert.equal(msPastActBy(1000, 5000), 4000);
});
