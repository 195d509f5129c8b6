import { describe, expect, it } from 'vitest';
import { withTimeLimit } from '../../store/embedded.ts';
import { readsRows } from '../../store/sql.ts';

describe('the engine time limit written into a statement', () => {
  it('ends the statement with a SETTINGS clause, or joins the one it ends with', () => {
    expect(withTimeLimit('SELECT 1\n', 1_500)).toBe("SELECT 1\nSETTINGS max_execution_time = 1.5, timeout_overflow_mode = 'throw'");
    expect(withTimeLimit('SELECT x FROM t LIMIT 5\n     SETTINGS max_threads = 1', 250)).toBe(
      "SELECT x FROM t LIMIT 5\n     SETTINGS max_threads = 1, max_execution_time = 0.25, timeout_overflow_mode = 'throw'",
    );
    // A SETTINGS clause inside a subquery is not the statement's own.
    expect(withTimeLimit('SELECT * FROM (SELECT 1 SETTINGS max_threads = 1)', 1_000)).toBe(
      "SELECT * FROM (SELECT 1 SETTINGS max_threads = 1)\nSETTINGS max_execution_time = 1, timeout_overflow_mode = 'throw'",
    );
  });

  it('applies to statements that read rows only', () => {
    expect(readsRows('SELECT 1')).toBe(true);
    expect(readsRows('  WITH a AS (SELECT 1) SELECT * FROM a')).toBe(true);
    expect(readsRows('INSERT INTO t (a)\n SELECT a FROM u')).toBe(true);
    expect(readsRows("INSERT INTO t (a, b) VALUES ({a:String}, 'SELECT')")).toBe(false);
    expect(readsRows('CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x')).toBe(false);
    expect(readsRows('ALTER TABLE t DELETE WHERE x IN (SELECT 1)')).toBe(false);
  });
});
