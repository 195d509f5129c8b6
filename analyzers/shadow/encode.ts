import type { ColumnSpec, InputDtype, InputSpec } from './spec.ts';
import { inputWidth } from './spec.ts';

/**
 * Event features to input tensors, for a batch of events. Pure: no
 * onnxruntime here, so every mapping rule is tested without a model. An
 * event that cannot be fed is a value (a skip with its reason), never an
 * exception, so one odd event costs only itself.
 */
export interface FeatureRow {
  num: Record<string, number>;
  cat: Record<string, string>;
}

/** Why an event got no shadow prediction; a fixed list, so metric labels stay bounded. */
export const SKIP_REASONS = ['missing_feature', 'type_mismatch', 'nan_output', 'run_error'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | string[];

export interface EncodedInput {
  name: string;
  dtype: InputDtype;
  data: TensorData;
  dims: [number, number];
}

export interface EncodedBatch {
  inputs: EncodedInput[];
  /** Row indexes (into the batch given) that the tensors hold, in order. */
  kept: number[];
  skipped: { index: number; reason: SkipReason }[];
}

type Cell = number | string;

/**
 * Writes one column of one event at `at` (one cell, or one per category for
 * one-hot); returns why the event cannot be fed, or null. Writes straight
 * into the tensor: no per-event arrays, which at a thousand rows per run
 * would cost more than the model.
 */
function writeColumn(column: ColumnSpec, dtype: InputDtype, row: FeatureRow, data: TensorData, at: number): SkipReason | null {
  const name = column.feature;
  let value: number | string | boolean | undefined = Object.hasOwn(row.num, name)
    ? row.num[name]
    : Object.hasOwn(row.cat, name)
      ? row.cat[name]
      : undefined;
  if (value === undefined) {
    if (column.default !== undefined) value = column.default;
    else if (column.missing === 'nan') return put(data, at, Number.NaN);
    else return 'missing_feature';
  }
  if (column.one_hot) {
    const text = String(value);
    for (let c = 0; c < column.one_hot.length; c++) put(data, at + c, column.one_hot[c] === text ? 1 : 0);
    return null;
  }
  if (column.ordinal) {
    const index = column.ordinal.indexOf(String(value));
    return put(data, at, index >= 0 ? index : (column.unknown ?? -1));
  }
  if (dtype === 'string') return put(data, at, typeof value === 'string' ? value : String(value));
  if (typeof value === 'number') return put(data, at, value);
  if (typeof value === 'boolean') return put(data, at, value ? 1 : 0);
  // Booleans arrive stored as the text "true"/"false" (core/event.ts).
  if (value === 'true') return put(data, at, 1);
  if (value === 'false') return put(data, at, 0);
  return 'type_mismatch';
}

function allocate(dtype: InputDtype, size: number): TensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int64':
      return new BigInt64Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'bool':
      return new Uint8Array(size);
    case 'string':
      return new Array<string>(size);
  }
}

function put(data: TensorData, at: number, cell: Cell): null {
  if (Array.isArray(data)) data[at] = String(cell);
  else if (data instanceof BigInt64Array) data[at] = BigInt(Math.trunc(Number(cell)));
  else if (data instanceof Int32Array || data instanceof Uint8Array) data[at] = Math.trunc(Number(cell));
  else data[at] = Number(cell);
  return null;
}

export function encodeBatch(inputs: readonly InputSpec[], rows: readonly FeatureRow[]): EncodedBatch {
  const widths = inputs.map(inputWidth);
  const buffers = inputs.map((input, i) => allocate(input.dtype, rows.length * widths[i]));
  const kept: number[] = [];
  const skipped: EncodedBatch['skipped'] = [];
  for (let r = 0; r < rows.length; r++) {
    // A skipped event's cells are overwritten by the next kept one.
    let problem: SkipReason | null = null;
    for (let i = 0; i < inputs.length && problem === null; i++) {
      const input = inputs[i];
      let at = kept.length * widths[i];
      for (const column of input.columns) {
        problem = writeColumn(column, input.dtype, rows[r], buffers[i], at);
        if (problem !== null) break;
        at += column.one_hot ? column.one_hot.length : 1;
      }
    }
    if (problem === null) kept.push(r);
    else skipped.push({ index: r, reason: problem });
  }
  const encoded = inputs.map((input, i): EncodedInput => {
    const size = kept.length * widths[i];
    const buffer = buffers[i];
    const data = Array.isArray(buffer) ? buffer.slice(0, size) : size === buffer.length ? buffer : buffer.subarray(0, size);
    return { name: input.name, dtype: input.dtype, data, dims: [kept.length, widths[i]] };
  });
  return { inputs: encoded, kept, skipped };
}
