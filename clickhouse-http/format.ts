/**
 * Which output format a statement names in its own `FORMAT` clause, if any:
 * the engine obeys it over the one asked for, and the answer's headers (and
 * Native's rewriting for a client's revision) must follow it. Only finds the
 * word; the engine parses the statement. Strings, quoted names and comments
 * are skipped so that text inside them is not taken for the clause.
 */
export function namedFormat(sql: string): string | undefined {
  let found: string | undefined;
  let i = 0;
  const n = sql.length;
  let previousWord = '';
  while (i < n) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === '`') {
      i++;
      while (i < n && sql[i] !== c) i += sql[i] === '\\' ? 2 : 1;
      i++;
      previousWord = '';
    } else if ((c === '-' && sql[i + 1] === '-') || c === '#') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < n && /[A-Za-z0-9_]/.test(sql[i])) i++;
      const word = sql.slice(start, i);
      if (previousWord.toUpperCase() === 'FORMAT') found = word;
      previousWord = word;
    } else {
      if (!/\s/.test(c)) previousWord = '';
      i++;
    }
  }
  return found;
}

/** The Content-Type ClickHouse answers a format with. */
export function contentType(format: string): string {
  if (/^(JSON|PrettyJSON|NDJSON)/i.test(format)) return 'application/json; charset=UTF-8';
  if (/^(TabSeparated|TSV)/i.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  if (/^CSV/i.test(format)) return 'text/csv; charset=UTF-8; header=absent';
  if (/^(Native|RowBinary|Parquet|Arrow|ORC|Avro|MsgPack|Protobuf|CapnProto)/i.test(format)) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}
