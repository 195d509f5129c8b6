import { MAX_ID_LENGTH, MAX_NAME_LENGTH, MAX_TAGS, MAX_VALUE_LENGTH, RESERVED_NAMES } from '../core/event.ts';
import { present, usableType, type Column, type Value } from './columns.ts';

/** Which column of the file fills which field of an event (the request's mapping fields). */
export interface ImportMapping {
  id_column?: string;
  timestamp_column?: string;
  prediction_column?: string;
  score_columns?: string[];
  label_column?: string;
  tag_columns?: string[];
  latency_column?: string;
  model_version_column?: string;
  feature_columns?: string[];
}

export interface MappingLimits {
  maxFeatures: number;
  /** Timestamps before this or after `maxMs` are out of range (epoch ms). */
  minMs: number;
  maxMs: number;
}

/** A mapping that cannot work for this file: the import is refused before it starts (400). */
export class MappingError extends Error {
  override name = 'MappingError';
}

/**
 * The SQL that turns one staged row into an event row, or into the reason
 * it is refused. Every name from the file travels as a bound parameter;
 * the text holds only the staged column names and constants.
 */
export interface Plan {
  /** Expressions over a staged row, by alias: the events table's columns, the label, `reason` and `row`. */
  select: string;
  params: Record<string, unknown>;
  features: string[];
  /** Columns of the file left out: of a type no field takes, found while picking features. */
  ignored: string[];
  hasLabel: boolean;
  /** Whether event ids are derived from a hash of the row. */
  derivedIds: boolean;
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function nameProblem(kind: string, name: string): string | null {
  if (name.length === 0) return `${kind} name is empty`;
  if (name.length > MAX_NAME_LENGTH) return `${kind} name longer than ${MAX_NAME_LENGTH} characters`;
  if (CONTROL_CHARS.test(name)) return `${kind} name "${name.slice(0, 40)}" contains control characters`;
  if (RESERVED_NAMES.has(name)) return `${kind} name "${name}" is reserved`;
  return null;
}

/** A reason as the engine writes it: `code:message`, the message a constant bound as a parameter or built from them. */
const why = (code: string, message: string) => `'${code}:' || ${message}`;

export function buildPlan(
  columns: readonly Column[],
  valueOf: (c: Column, index: number) => Value,
  mapping: ImportMapping,
  limits: MappingLimits,
  options: { json: boolean },
): Plan {
  const byName = new Map(columns.map((c, i) => [c.name, i]));
  const params: Record<string, unknown> = { min_ms: limits.minMs, max_ms: limits.maxMs };
  let nParams = 0;
  /** A bound constant: names and messages never enter the SQL text. */
  const bind = (value: unknown, type = 'String') => {
    const name = `p${nParams++}`;
    params[name] = value;
    return `{${name}:${type}}`;
  };
  const used = new Map<string, string>();
  const take = (role: string, name: string | undefined, required: boolean): Value | null => {
    if (name === undefined) {
      if (required) throw new MappingError(`name the ${role} column (--${role}-column)`);
      return null;
    }
    const index = byName.get(name);
    if (index === undefined) {
      const found = columns.slice(0, 20).map((c) => `"${c.name}"`).join(', ');
      throw new MappingError(`the file has no column "${name.slice(0, 80)}" (for ${role}); its columns: ${found}${columns.length > 20 ? ', ...' : ''}`);
    }
    const other = used.get(name);
    if (other) throw new MappingError(`column "${name}" is mapped twice: as ${other} and as ${role}`);
    used.set(name, role);
    if (!options.json && !usableType(columns[index].type)) {
      throw new MappingError(`column "${name}" (${role}) is of type ${columns[index].type}, which no event field takes`);
    }
    return valueOf(columns[index], index);
  };

  const id = take('id', mapping.id_column ?? (byName.has('event_id') ? 'event_id' : undefined), false);
  const ts = take('timestamp', mapping.timestamp_column ?? 'timestamp', true)!;
  const prediction = take('prediction', mapping.prediction_column ?? 'prediction', true)!;
  const label = take('label', mapping.label_column, false);
  const latency = take('latency', mapping.latency_column, false);
  const version = take('model-version', mapping.model_version_column, false);
  const scores = (mapping.score_columns ?? []).map((n) => ({ name: n, v: take('score', n, false)! }));
  const tags = (mapping.tag_columns ?? []).map((n) => ({ name: n, v: take('tag', n, false)! }));
  const ignored: string[] = [];
  const featureNames =
    mapping.feature_columns ??
    columns
      .filter((c) => !used.has(c.name))
      .filter((c) => options.json || usableType(c.type) || (ignored.push(c.name), false))
      .map((c) => c.name);
  const features = featureNames.map((n) => ({ name: n, v: take('feature', n, false)! }));

  if (features.length > limits.maxFeatures) {
    throw new MappingError(`${features.length} feature columns; MAX_FEATURES_PER_EVENT is ${limits.maxFeatures}: name the ones to import with --feature-columns`);
  }
  if (scores.length > limits.maxFeatures) throw new MappingError(`more than ${limits.maxFeatures} score columns`);
  if (tags.length > MAX_TAGS) throw new MappingError(`more than ${MAX_TAGS} tag columns`);
  for (const [kind, list] of [['feature', features], ['scores class', scores], ['tags', tags]] as const) {
    for (const { name } of list) {
      const problem = nameProblem(kind, name);
      if (problem) throw new MappingError(problem);
    }
  }

  // The checks, in the order the HTTP contract makes them (core/event.ts); the first that fails is the row's reason.
  const checks: [string, string][] = [];
  const check = (cond: string, code: string, message: string) => checks.push([cond, why(code, bind(message))]);
  const checkBuilt = (cond: string, code: string, message: string) => checks.push([cond, why(code, message)]);
  if (options.json) {
    check('NOT isValidJSON(c0)', 'invalid_json', 'the line is not valid JSON');
    check("JSONType(c0) != 'Object'", 'not_an_object', 'event must be a JSON object');
  }
  const tooLong = (s: string, max: number) => `lengthUTF8(${s}) > ${max}`;
  const hasNul = (s: string) => `position(${s}, '\\0') > 0`;
  if (id) {
    check(`NOT ${present(id)}`, 'missing_field', 'event_id is required');
    if (id.bad) check(id.bad, 'wrong_type', 'event_id must be a string');
    check(`${tooLong(id.text, MAX_ID_LENGTH)} OR ${id.text} = ''`, 'invalid_value', `event_id must be 1 to ${MAX_ID_LENGTH} characters`);
    check(hasNul(id.text), 'invalid_value', 'event_id contains a NUL character (U+0000)');
  }
  if (version) {
    if (version.bad) check(version.bad, 'wrong_type', 'model_version must be a string');
    check(`${version.text} IS NOT NULL AND ${tooLong(version.text, MAX_NAME_LENGTH)}`, 'invalid_value', 'model_version is too long');
    check(`${version.text} IS NOT NULL AND ${hasNul(version.text)}`, 'invalid_value', 'model_version contains a NUL character (U+0000)');
  }

  // Timestamp: a date-time type, epoch milliseconds, or a date-time string (read in UTC unless it says otherwise).
  check(`NOT ${present(ts)}`, 'missing_field', 'timestamp is required');
  const tsWrongType = [ts.bad, ts.bool === null ? null : `${ts.bool} IS NOT NULL`].filter(Boolean).join(' OR ');
  if (tsWrongType) check(tsWrongType, 'wrong_type', 'timestamp must be an RFC 3339 string or epoch milliseconds');
  if (ts.num) {
    if (ts.inf) check(ts.inf, 'invalid_value', 'timestamp must be a finite number');
    checkBuilt(`abs(${ts.num}) < 1e11`, 'timestamp_out_of_range', `'timestamp ' || toString(${ts.num}) || ${bind(' looks like epoch seconds; send epoch milliseconds or RFC 3339')}`);
  }
  const strMs = ts.str && !ts.ms ? `toUnixTimestamp64Milli(parseDateTime64BestEffortOrNull(${ts.str}, 3, 'UTC'))` : null;
  if (strMs) checkBuilt(`${ts.str} IS NOT NULL AND ${strMs} IS NULL`, 'invalid_value', `'timestamp "' || substring(${ts.str}, 1, 40) || ${bind('" is not a date-time')}`);
  const tsMs = `coalesce(${[ts.ms && `toFloat64(${ts.ms})`, ts.num, strMs && `toFloat64(${strMs})`].filter(Boolean).join(', ')})`;
  check(`${tsMs} < {min_ms:Int64}`, 'timestamp_out_of_range', 'timestamp is older than the accepted age (MAX_EVENT_AGE)');
  check(`${tsMs} > {max_ms:Int64}`, 'timestamp_out_of_range', 'timestamp is in the future (beyond MAX_FUTURE_SKEW)');

  for (const { name, v } of features) {
    const field = `features.${name}`;
    if (v.bad) check(v.bad, 'wrong_type', `${field} must be a number, string, boolean or null`);
    if (v.inf) check(v.inf, 'invalid_value', `${field} must be finite`);
    if (v.str) {
      check(`${v.str} IS NOT NULL AND ${tooLong(v.str, MAX_VALUE_LENGTH)}`, 'invalid_value', `${field} is longer than ${MAX_VALUE_LENGTH}`);
      check(`${v.str} IS NOT NULL AND ${hasNul(v.str)}`, 'invalid_value', `${field} contains a NUL character (U+0000)`);
    }
  }

  check(`NOT ${present(prediction)}`, 'missing_field', 'prediction is required');
  const predWrong = [prediction.bad, prediction.bool && `${prediction.bool} IS NOT NULL`, prediction.ms && !prediction.str ? `${prediction.ms} IS NOT NULL` : null].filter(Boolean).join(' OR ');
  if (predWrong) check(predWrong, 'wrong_type', 'prediction must be a number or a string');
  if (prediction.inf) check(prediction.inf, 'invalid_value', 'prediction must be finite');
  if (prediction.str) {
    check(`${prediction.str} IS NOT NULL AND ${tooLong(prediction.str, MAX_VALUE_LENGTH)}`, 'invalid_value', 'prediction is too long');
    check(`${prediction.str} IS NOT NULL AND ${hasNul(prediction.str)}`, 'invalid_value', 'prediction contains a NUL character (U+0000)');
  }

  const numberField = (field: string, v: Value) => {
    const wrong = [v.bad, v.str && `${v.str} IS NOT NULL`, v.bool && `${v.bool} IS NOT NULL`].filter(Boolean).join(' OR ');
    if (wrong) check(wrong, 'wrong_type', `${field} must be a number`);
    if (v.inf) check(v.inf, 'invalid_value', `${field} must be finite`);
  };
  for (const { name, v } of scores) numberField(`scores.${name}`, v);
  if (latency) {
    numberField('latency_ms', latency);
    if (latency.num) check(`${latency.num} < 0`, 'invalid_value', 'latency_ms must not be negative');
  }
  for (const { name, v } of tags) {
    if (v.bad) check(v.bad, 'wrong_type', `tags.${name} must be a string`);
    check(`${v.text} IS NOT NULL AND ${tooLong(v.text, MAX_VALUE_LENGTH)}`, 'invalid_value', `tags.${name} is longer than ${MAX_VALUE_LENGTH}`);
    check(`${v.text} IS NOT NULL AND ${hasNul(v.text)}`, 'invalid_value', `tags.${name} contains a NUL character (U+0000)`);
  }
  if (label) {
    const wrong = [label.bad, label.bool && `${label.bool} IS NOT NULL`].filter(Boolean).join(' OR ');
    if (wrong) check(wrong, 'wrong_type', 'label must be a number or a string');
    if (label.inf) check(label.inf, 'invalid_value', 'label must be finite');
    if (label.str) {
      check(`${label.str} IS NOT NULL AND ${tooLong(label.str, MAX_VALUE_LENGTH)}`, 'invalid_value', 'label is too long');
      check(`${label.str} IS NOT NULL AND ${hasNul(label.str)}`, 'invalid_value', 'label contains a NUL character (U+0000)');
    }
  }

  // The event row. Without an id column, the id is a hash of the whole staged row (every column of
  // the file): the same file imported twice gives the same ids, and the events table keeps one of each.
  const staged = options.json ? ['c0'] : columns.map((c) => c.staged);
  const eventId = id ? id.text : `lower(hex(sipHash128(${staged.join(', ')})))`;
  const mapOf = (entries: { name: string; value: string | null; nullable: boolean }[], type: string) => {
    const list = entries.filter((e) => e.value !== null);
    if (list.length === 0) return `CAST(map(), '${type}')`;
    const keys = list.map((e) => bind(e.name));
    const full = `CAST(map(${list.map((e, i) => `${keys[i]}, assumeNotNull(${e.value})`).join(', ')}), '${type}')`;
    const nullable = list.filter((e) => e.nullable);
    if (nullable.length === 0) return full;
    // Rows with every value there (most rows of most files) take the plain map; the filtering is
    // evaluated only for the others (the engine evaluates only the branch a row takes).
    const filtered = `CAST(mapFilter((k, v) -> v IS NOT NULL, map(${list.map((e, i) => `${keys[i]}, ${e.value}`).join(', ')})), '${type}')`;
    return `if(${nullable.map((e) => `${e.value} IS NULL`).join(' OR ')}, ${filtered}, ${full})`;
  };
  const catOf = (v: Value) => {
    const parts = [v.str, v.bool && `if(${v.bool} IS NULL, NULL, if(${v.bool} = 1, 'true', 'false'))`].filter(Boolean) as string[];
    return parts.length === 0 ? null : parts.length === 1 ? parts[0] : `coalesce(${parts.join(', ')})`;
  };
  // A time column as a feature is a category (its text); everything else by the kind of its value.
  const num = mapOf(features.map(({ name, v }) => ({ name, value: v.num, nullable: v.nullable })), 'Map(String, Float64)');
  const cat = mapOf(features.map(({ name, v }) => ({ name, value: catOf(v), nullable: true })), 'Map(String, String)');
  const missingOf = features.filter(({ v }) => v.nullable).map(({ name, v }) => ({ name, cond: `NOT ${present(v)}${v.absent ? ` AND NOT ${v.absent}` : ''}` }));
  const noneMissing = 'CAST([], \'Array(String)\')';
  const missing =
    missingOf.length === 0
      ? noneMissing
      : `if(${missingOf.map((m) => `(${m.cond})`).join(' OR ')}, arrayFilter(x -> x != '', [${missingOf.map((m) => `if(${m.cond}, ${bind(m.name)}, '')`).join(', ')}]), ${noneMissing})`;
  const scoresMap = mapOf(scores.map(({ name, v }) => ({ name, value: v.num, nullable: true })), 'Map(String, Float64)');
  const tagsMap = mapOf(tags.map(({ name, v }) => ({ name, value: v.text, nullable: true })), 'Map(String, String)');
  const nullNum = 'CAST(NULL, \'Nullable(Float64)\')';
  const nullStr = 'CAST(NULL, \'Nullable(String)\')';
  const reason = checks.length === 0 ? "''" : `multiIf(${checks.map(([c, m]) => `${c}, ${m}`).join(', ')}, '')`;
  const select = [
    `${reason} AS reason`,
    `__row + 1 AS row`,
    `{model:String} AS model`,
    `${eventId} AS event_id`,
    `${version ? `ifNull(${version.text}, '')` : "''"} AS model_version`,
    `fromUnixTimestamp64Milli(toInt64(${tsMs}), 'UTC') AS ts`,
    `${num} AS num`,
    `${cat} AS cat`,
    `${missing} AS missing`,
    `${prediction.num ?? nullNum} AS prediction_num`,
    `${prediction.str ?? nullStr} AS prediction_cat`,
    `${scoresMap} AS scores`,
    `${latency?.num ?? nullNum} AS latency_ms`,
    `${tagsMap} AS tags`,
    // Imported rows are predictions that were served: failed ones (status 'error') are not mapped from files yet.
    `'ok' AS status`,
    `'' AS error_type`,
    `${label?.num ?? nullNum} AS label_num`,
    `${label?.str ?? nullStr} AS label_cat`,
  ].join(',\n  ');
  return { select, params, features: features.map((f) => f.name), ignored, hasLabel: label !== null, derivedIds: id === null };
}
