/**
 * What one column of an imported file is, as SQL over the staged rows
 * (import/stage.ts names every staged column c0, c1, ...; the file's own
 * names never reach the SQL text). A value is split by kind the way the
 * event contract splits JSON values: a number, a string, a boolean, null,
 * or something unusable (an array, an object).
 */
export interface Column {
  /** The column's name in the file (or the NDJSON key). */
  name: string;
  /** The engine's type for it (DESCRIBE), or "JSON" for an NDJSON key. */
  type: string;
  /** The staged column it reads from. */
  staged: string;
}

/** SQL expressions over one staged row; null where the column can never hold that kind. */
export interface Value {
  /** Nullable(Float64): the value when it is a number (NaN counts as missing). */
  num: string | null;
  /** Nullable(String): the value when it is a string. */
  str: string | null;
  /** Nullable(UInt8): the value when it is a boolean. */
  bool: string | null;
  /** Nullable(Int64) epoch milliseconds: the value when it is a date-time type. */
  ms: string | null;
  /** Nullable(String): any scalar value as text (ids, tags, versions): integers keep every digit. */
  text: string;
  /** UInt8: the number is infinite; null where it cannot be (integers, strings). */
  inf: string | null;
  /** UInt8: present but of a kind no field takes (an array, an object, a number that did not parse). */
  bad: string | null;
  /** UInt8: the NDJSON key is not in the line at all (not even null); null for columnar files. */
  absent: string | null;
  /** Whether the value can be missing (null) at all. */
  nullable: boolean;
}

const NUMERIC = /^(U?Int(8|16|32|64|128|256)|Float(32|64)|BFloat16|Decimal(32|64|128|256)?\(.*\))$/;
const FLOAT = /^(Float(32|64)|BFloat16)$/;
const STRING = /^(String|FixedString\(\d+\)|Enum(8|16)?\(.*\)|UUID|IPv4|IPv6)$/;
const TIME = /^(Date|Date32|DateTime(\(.*\))?|DateTime64\(.*\))$/;

/** The type without Nullable(...) and LowCardinality(...) around it, and whether it was nullable. */
export function baseType(type: string): { base: string; nullable: boolean } {
  let t = type.trim();
  let nullable = false;
  for (;;) {
    const m = /^(Nullable|LowCardinality)\((.*)\)$/.exec(t);
    if (!m) break;
    if (m[1] === 'Nullable') nullable = true;
    t = m[2];
  }
  return { base: t, nullable };
}

/** Whether a typed column can be read as a value at all (numbers, strings, booleans, times). */
export function usableType(type: string): boolean {
  const { base } = baseType(type);
  return base === 'Bool' || NUMERIC.test(base) || STRING.test(base) || TIME.test(base);
}

/** A column of a typed file (Parquet): the engine already knows each value's kind. */
export function typedValue(column: Column): Value {
  const c = column.staged;
  const { base, nullable } = baseType(column.type);
  const none = { num: null, str: null, bool: null, ms: null, inf: null, bad: null, absent: null, nullable };
  if (base === 'Bool') return { ...none, bool: `toUInt8(${c})`, text: `if(${c}, 'true', 'false')` };
  if (NUMERIC.test(base)) {
    const float = FLOAT.test(base);
    const num = float ? `if(isNaN(${c}), NULL, toFloat64(${c}))` : `toFloat64(${c})`;
    return { ...none, num, inf: float ? `isInfinite(${c})` : null, text: `toString(${c})`, nullable: nullable || float };
  }
  if (TIME.test(base)) return { ...none, ms: `toUnixTimestamp64Milli(toDateTime64(${c}, 3, 'UTC'))`, str: `toString(${c})`, text: `toString(${c})` };
  // A String column is used as it is: toString() would copy every value.
  const str = base === 'String' ? c : `toString(${c})`;
  if (STRING.test(base)) return { ...none, str, text: str };
  return { ...none, bad: '1', text: 'NULL' };
}

/**
 * A CSV column, staged as text: the engine's inferred type (from the first
 * rows) says whether the column holds numbers; a value that then does not
 * parse as one is a bad value of its row, not a reason to fail the file.
 * An empty field is missing.
 */
export function csvValue(column: Column): Value {
  const c = column.staged;
  const { base } = baseType(column.type);
  const none = { num: null, str: null, bool: null, ms: null, inf: null, bad: null, absent: null, nullable: true, text: c };
  if (NUMERIC.test(base)) {
    const parsed = `toFloat64OrNull(${c})`;
    return { ...none, num: `if(isNaN(${parsed}), NULL, ${parsed})`, inf: `isInfinite(${parsed})`, bad: `(${c} IS NOT NULL AND ${parsed} IS NULL)` };
  }
  if (base === 'Bool') {
    return { ...none, bool: `if(${c} IS NULL, NULL, lower(${c}) IN ('true', '1'))`, bad: `(${c} IS NOT NULL AND lower(${c}) NOT IN ('true', 'false', '1', '0'))` };
  }
  return { ...none, str: c };
}

/**
 * A key of an NDJSON line (staged whole as c0): each value has its own JSON
 * kind, as in a request body. The key is a bound parameter.
 */
export function jsonValue(param: string, line = 'c0'): Value {
  const key = `{${param}:String}`;
  const kind = `JSONType(${line}, ${key})`;
  const num = `if(${kind} IN ('Int64', 'UInt64', 'Double'), JSONExtractFloat(${line}, ${key}), NULL)`;
  return {
    num,
    // 1e999 is valid JSON and reads as infinity.
    inf: `isInfinite(${num})`,
    str: `if(${kind} = 'String', JSONExtractString(${line}, ${key}), NULL)`,
    bool: `if(${kind} = 'Bool', toUInt8(JSONExtractBool(${line}, ${key})), NULL)`,
    ms: null,
    text: `multiIf(${kind} = 'String', JSONExtractString(${line}, ${key}), ${kind} IN ('Int64', 'UInt64', 'Double', 'Bool'), JSONExtractRaw(${line}, ${key}), NULL)`,
    bad: `(${kind} IN ('Array', 'Object'))`,
    absent: `(NOT JSONHas(${line}, ${key}))`,
    nullable: true,
  };
}

/** UInt8: the value is there (not null, not absent, not bad). */
export function present(v: Value): string {
  const parts = [v.num, v.str, v.bool, v.ms].filter((p): p is string => p !== null).map((p) => `${p} IS NOT NULL`);
  return parts.length === 0 ? '0' : parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`;
}
