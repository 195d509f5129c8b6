/**
 * What a registered shadow model is: how event features become the ONNX
 * graph's input tensors, and which outputs are compared with what the
 * serving stack logged. Checked against the graph itself at registration
 * (checkSignature), so a model that cannot be fed is refused up front
 * instead of failing on every event later.
 */
export type Role = 'reference' | 'challenger';
export type InputDtype = 'float32' | 'float64' | 'int64' | 'int32' | 'string' | 'bool';

export interface ColumnSpec {
  feature: string;
  /** Used when the event lacks the feature or sent null. */
  default?: number | string | boolean;
  /** Without a default: skip the event (counted), or feed NaN (float inputs only; tree models route NaN). */
  missing?: 'skip' | 'nan';
  /** Categorical to indicator columns, one per category in this order; unknown values give all zeros. */
  one_hot?: string[];
  /** Categorical to its index in this list; unknown values give `unknown`. */
  ordinal?: string[];
  unknown?: number;
}

export interface InputSpec {
  /** The graph input's name. */
  name: string;
  dtype: InputDtype;
  /** Left to right, the columns of a [batch, width] tensor. */
  columns: ColumnSpec[];
}

export interface OutputRef {
  output: string;
  /** Column of a [batch, k] output, e.g. 1 for the positive class's probability. */
  index?: number;
}

export interface ShadowSpec {
  name: string;
  role: Role;
  /** Share of the model's events to re-score, 0..1; the service default when absent. */
  sample_share?: number;
  inputs: InputSpec[];
  /**
   * A numeric output compared with the logged prediction, or with one class's
   * logged score ("scores.<class>"). Without a class output, a binary model's
   * class is 1 where the score (of class 1) is at or above `threshold`.
   */
  score?: OutputRef & { compare_to: string; tolerance?: number; threshold?: number };
  /** The predicted class, compared as text with the logged prediction. */
  class?: OutputRef;
}

/** The graph's signature as onnxruntime reports it (InferenceSession.inputMetadata/outputMetadata). */
export interface GraphValue {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: ReadonlyArray<number | string>;
}

export interface Graph {
  inputs: readonly GraphValue[];
  outputs: readonly GraphValue[];
}

export const DEFAULT_TOLERANCE = 1e-4;
export const DEFAULT_THRESHOLD = 0.5;

/** Columns a spec input feeds: one-hot columns expand to one per category. */
export const inputWidth = (input: InputSpec) =>
  input.columns.reduce((width, c) => width + (c.one_hot ? c.one_hot.length : 1), 0);

const FLOAT = new Set<InputDtype>(['float32', 'float64']);
const NUMERIC = new Set<InputDtype>(['float32', 'float64', 'int64', 'int32', 'bool']);
/** Output types that hold scores, not labels (onnxruntime's names). */
const FLOAT_OUTPUT = new Set(['float16', 'float32', 'float64', 'bfloat16']);

/** The logged value a score is compared with: the prediction, or one class's score. */
export function comparedField(compareTo: string): { kind: 'prediction' } | { kind: 'score'; cls: string } | null {
  if (compareTo === 'prediction') return { kind: 'prediction' };
  if (compareTo.startsWith('scores.') && compareTo.length > 'scores.'.length) return { kind: 'score', cls: compareTo.slice(7) };
  return null;
}

/** Everything that keeps `spec` from feeding and reading `graph`, each as a sentence; empty when it fits. */
export function checkSignature(spec: ShadowSpec, graph: Graph): string[] {
  const problems: string[] = [];
  const graphInputs = new Map(graph.inputs.map((v) => [v.name, v]));
  const fed = new Set<string>();
  for (const input of spec.inputs) {
    const where = `input "${input.name}"`;
    if (fed.has(input.name)) problems.push(`${where} is mapped twice`);
    fed.add(input.name);
    const value = graphInputs.get(input.name);
    if (!value) {
      problems.push(`${where} is not an input of the model (it has: ${[...graphInputs.keys()].join(', ')})`);
      continue;
    }
    if (!value.isTensor) {
      problems.push(`${where} is not a tensor`);
      continue;
    }
    if (value.type !== input.dtype) problems.push(`${where} is ${value.type} in the model, not ${input.dtype}`);
    const shape = value.shape ?? [];
    if (shape.length !== 2) {
      problems.push(`${where} has shape [${shape.join(', ')}]; only [batch, columns] inputs can be fed from events`);
    } else if (typeof shape[1] === 'number' && shape[1] !== inputWidth(input)) {
      problems.push(`${where} takes ${shape[1]} columns but the mapping gives ${inputWidth(input)}`);
    }
    for (const column of input.columns) {
      const at = `${where}, feature "${column.feature}"`;
      if (column.one_hot && column.ordinal) problems.push(`${at}: one_hot and ordinal exclude each other`);
      if ((column.one_hot || column.ordinal) && !NUMERIC.has(input.dtype)) problems.push(`${at}: encodings need a numeric input`);
      if (column.missing === 'nan' && !FLOAT.has(input.dtype)) problems.push(`${at}: missing "nan" needs a float input`);
      if (column.default !== undefined && input.dtype === 'string' && typeof column.default !== 'string') {
        problems.push(`${at}: the default of a string input must be a string`);
      }
      if (column.default !== undefined && input.dtype !== 'string' && typeof column.default === 'string' && !column.one_hot && !column.ordinal) {
        problems.push(`${at}: the default of a numeric input must be a number or boolean`);
      }
    }
  }
  for (const value of graph.inputs) {
    if (!fed.has(value.name)) problems.push(`model input "${value.name}" is not mapped from any feature`);
  }
  const graphOutputs = new Map(graph.outputs.map((v) => [v.name, v]));
  const checkOutput = (what: string, ref: OutputRef | undefined) => {
    if (!ref) return;
    const value = graphOutputs.get(ref.output);
    if (!value) {
      problems.push(`${what} output "${ref.output}" is not an output of the model (it has: ${[...graphOutputs.keys()].join(', ')})`);
      return;
    }
    if (!value.isTensor) {
      problems.push(`${what} output "${ref.output}" is not a tensor (a ZipMap? export classifiers with zipmap=False)`);
      return;
    }
    const shape = value.shape ?? [];
    if (shape.length > 2) problems.push(`${what} output "${ref.output}" has ${shape.length} dimensions; 1 or 2 are supported`);
    const width = shape.length === 2 ? shape[1] : 1;
    const index = ref.index ?? 0;
    if (typeof width === 'number' && index >= width) problems.push(`${what} output "${ref.output}" has ${width} columns; index ${index} is out of range`);
    if (what === 'score' && value.type === 'string') problems.push(`score output "${ref.output}" is text; use it as the class output`);
    // A class is compared as text with a logged label: "0.87" never equals "1", so every event would count as wrong.
    if (what === 'class' && FLOAT_OUTPUT.has(value.type ?? '')) {
      problems.push(`class output "${ref.output}" is ${value.type}, a score rather than a class label; map it as the score (its class is the score at or above score.threshold)`);
    }
  };
  if (!spec.score && !spec.class) problems.push('nothing to compare: give a score output, a class output, or both');
  checkOutput('score', spec.score);
  checkOutput('class', spec.class);
  if (spec.score && !comparedField(spec.score.compare_to)) {
    problems.push(`score compare_to "${spec.score.compare_to}" must be "prediction" or "scores.<class>"`);
  }
  // Both would be compared with the one logged prediction: a probability on one side, a class label on the other.
  if (spec.score?.compare_to === 'prediction' && spec.class) {
    problems.push('the score and the class output are both compared with the logged prediction, which cannot be a probability and a class label at once: compare the score with "scores.<class>", or drop the class output (a binary class is then the score at or above score.threshold)');
  }
  return problems;
}
