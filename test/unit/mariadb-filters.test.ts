import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idFilter, userFilter } from '../../coordinator/statements/kill/mariadb-filters';
import { arrayResolver, checkFilter } from '../../coordinator/statements/analysis';
import { compileFilter } from '../../sql/compile';
import { parseExpression } from '../../sql/parser';
import { renderExpr } from '../../sql/render';
import { agentTable } from '../../sql/tables';
import type { Expr } from '../../sql/ast';
import type { SqlValue } from '../../sql/types';

const COLUMNS = agentTable('information_schema.PROCESSLIST').columns;

/** The filter as an agent gets it: rendered, parsed back, compiled against the table. */
function agentFilter(e: Expr): (row: readonly unknown[]) => boolean {
  return compileFilter(parseExpression(renderExpr(e)), arrayResolver(COLUMNS), { hostName: 'n1', now: () => 0 });
}

function connection(values: Record<string, SqlValue>): SqlValue[] {
  return COLUMNS.map((c) => values[c.name] ?? (c.type === 'String' ? '' : 0));
}

const bob = (host: string) => connection({ ID: 7, USER: 'bob', HOST: host });

test('the filters type-check against information_schema.PROCESSLIST', () => {
  for (const e of [idFilter('ID', 42), idFilter('QUERY_ID', 9), userFilter('bob', undefined), userFilter('bob', 'db1'), userFilter('bob', '10.0.%'), userFilter('bob', '%')]) {
    assert.doesNotThrow(() => checkFilter(e, COLUMNS), renderExpr(e));
  }
});

test('ids: one column equal to the id', () => {
  assert.equal(renderExpr(idFilter('ID', 42)), 'equals(ID, 42)');
  assert.equal(renderExpr(idFilter('QUERY_ID', 9)), 'equals(QUERY_ID, 9)');
  const f = agentFilter(idFilter('ID', 7));
  assert.equal(f(bob('x')), true);
  assert.equal(f(connection({ ID: 8 })), false);
});

test('user names are quoted as literals, whatever they contain', () => {
  const name = "o'brien\\x";
  assert.equal(renderExpr(userFilter(name, undefined)), "equals(USER, 'o\\'brien\\\\x')");
  assert.equal(agentFilter(userFilter(name, undefined))(connection({ USER: name })), true);
});

test('user@host: the host part of HOST, case folded; % and _ are wildcards; a bare % is any host', () => {
  assert.equal(renderExpr(userFilter('bob', '%')), "equals(USER, 'bob')");
  const exact = agentFilter(userFilter('bob', 'db1.example'));
  assert.equal(exact(bob('DB1.Example:53122')), true, 'port dropped, case folded');
  assert.equal(exact(bob('db1.example')), true, 'a host without a port');
  assert.equal(exact(bob('db1xexample:1')), false, 'a dot is no wildcard');
  assert.equal(exact(connection({ USER: 'alice', HOST: 'db1.example:1' })), false);
  const wild = agentFilter(userFilter('bob', '10.0.%'));
  assert.equal(wild(bob('10.0.3.4:3306')), true);
  assert.equal(wild(bob('10.1.3.4:3306')), false);
  const one = agentFilter(userFilter('bob', 'db_'));
  assert.equal(one(bob('db7:1')), true);
  assert.equal(one(bob('db77:1')), false);
});
