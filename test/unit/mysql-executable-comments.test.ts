import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandExecutableComments, versionNumber } from '../../coordinator/doors/mysql/executable-comments';

const V = versionNumber('10.11.99-MariaDB-quell');

test('the server version as executable comments compare it', () => {
  assert.equal(V, 101199);
  assert.equal(versionNumber('nope'), 0);
});

test("executable comments are part of the statement when the server's version is at least theirs", () => {
  assert.equal(expandExecutableComments('SELECT @@server_id /*!50038 , @@hostname*/', V), 'SELECT @@server_id   , @@hostname ');
  assert.equal(expandExecutableComments('SELECT 1 /*! , 2 */', V), 'SELECT 1   , 2  ');
  assert.equal(expandExecutableComments('SELECT 1 /*M!100100 , 2*/', V), 'SELECT 1   , 2 ');
  assert.equal(expandExecutableComments('SELECT 1 /*!999999 , 2*/', V), 'SELECT 1  ');
  assert.equal(expandExecutableComments('SET @@SQL_QUOTE_SHOW_CREATE = 1/*!40101, @@SQL_MODE=\'NO_AUTO_VALUE_ON_ZERO\'*/', V), "SET @@SQL_QUOTE_SHOW_CREATE = 1 , @@SQL_MODE='NO_AUTO_VALUE_ON_ZERO' ");
});

test('strings, names, plain and line comments are left as they are', () => {
  for (const sql of ["SELECT '/*!50000 x*/'", 'SELECT `a/*!b*/`', 'SELECT "/*!1 x */"', 'SELECT 1 -- /*!1 x */', 'SELECT 1 # /*!1 x */', 'SELECT 1 /* plain */', "SELECT 'it''s /*!1 x*/'", "SELECT 'a\\' /*!1 x*/'"]) {
    assert.equal(expandExecutableComments(sql, V), sql, sql);
  }
  // an unterminated one stays for the parser to report
  assert.equal(expandExecutableComments('SELECT 1 /*!50000 , 2', V), 'SELECT 1 /*!50000 , 2');
});

test('one pass: many comments and long runs take milliseconds', () => {
  const started = performance.now();
  expandExecutableComments(`SELECT 1 ${'/*!1 x*/ '.repeat(30_000)}${"'".repeat(1)}${'a'.repeat(200_000)}`, V);
  assert.ok(performance.now() - started < 500);
});
