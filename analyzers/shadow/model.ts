import { InferenceSession, Tensor } from 'onnxruntime-node';
import { encodeBatch, type FeatureRow, type SkipReason } from './encode.ts';
import { checkSignature, type Graph, type OutputRef, type ShadowSpec } from './spec.ts';

/**
 * The only file that talks to onnxruntime. A loaded model scores a batch of
 * events in one `run` call; when that call throws, the batch is retried row
 * by row so one poisonous event is a counted skip, not a lost batch.
 */
export interface ShadowPrediction {
  score: number | null;
  cls: string | null;
}

export type RowResult = { ok: true; prediction: ShadowPrediction } | { ok: false; reason: SkipReason; detail?: string };

export interface LoadedModel {
  graph: Graph;
  /** Scores rows in one run; results line up with `rows`. */
  score(spec: ShadowSpec, rows: readonly FeatureRow[]): Promise<RowResult[]>;
  /** One run per row: what batching is measured against (bench/shadow.ts). */
  scoreEach(spec: ShadowSpec, rows: readonly FeatureRow[]): Promise<RowResult[]>;
  close(): Promise<void>;
}

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

/** Loads ONNX bytes; throws ModelLoadError with onnxruntime's reason when they are not a usable model. */
export async function loadModel(bytes: Uint8Array, options: { threads?: number } = {}): Promise<LoadedModel> {
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(bytes, {
      // Scoring shares the machine with ingest and the store: one thread, no spinning.
      intraOpNumThreads: options.threads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    throw new ModelLoadError(`not a usable ONNX model: ${(err as Error).message}`);
  }
  const graph: Graph = {
    inputs: session.inputMetadata.map((v) => ({ name: v.name, isTensor: v.isTensor, ...(v.isTensor ? { type: v.type, shape: v.shape } : {}) })),
    outputs: session.outputMetadata.map((v) => ({ name: v.name, isTensor: v.isTensor, ...(v.isTensor ? { type: v.type, shape: v.shape } : {}) })),
  };

  const runRows = async (spec: ShadowSpec, rows: readonly FeatureRow[]): Promise<RowResult[]> => {
    const results = new Array<RowResult>(rows.length);
    const batch = encodeBatch(spec.inputs, rows);
    for (const s of batch.skipped) results[s.index] = { ok: false, reason: s.reason };
    if (batch.kept.length === 0) return results;
    const feeds: Record<string, Tensor> = {};
    for (const input of batch.inputs) feeds[input.name] = new Tensor(input.dtype, input.data, input.dims);
    const fetches = [...new Set([spec.score?.output, spec.class?.output].filter((o): o is string => o !== undefined))];
    const out = await session.run(feeds, fetches);
    const scores = spec.score ? column(out[spec.score.output], spec.score, batch.kept.length) : null;
    const classes = spec.class ? column(out[spec.class.output], spec.class, batch.kept.length) : null;
    batch.kept.forEach((row, k) => {
      const score = scores ? Number(scores[k]) : null;
      if (score !== null && !Number.isFinite(score)) {
        results[row] = { ok: false, reason: 'nan_output' };
        return;
      }
      results[row] = { ok: true, prediction: { score, cls: classes ? String(classes[k]) : null } };
    });
    return results;
  };

  const isolate = async (spec: ShadowSpec, rows: readonly FeatureRow[]): Promise<RowResult[]> => {
    const results: RowResult[] = [];
    for (const row of rows) {
      try {
        results.push(...(await runRows(spec, [row])));
      } catch (err) {
        results.push({ ok: false, reason: 'run_error', detail: (err as Error).message });
      }
    }
    return results;
  };

  return {
    graph,
    async score(spec, rows) {
      try {
        return await runRows(spec, rows);
      } catch {
        return isolate(spec, rows);
      }
    },
    scoreEach: isolate,
    async close() {
      await session.release();
    },
  };
}

/** Column `ref.index` of a [n] or [n, k] output tensor, as plain values. */
function column(tensor: Tensor | undefined, ref: OutputRef, n: number): (number | bigint | string)[] {
  if (!tensor) throw new Error(`output "${ref.output}" missing from the run`);
  const data = tensor.data as ArrayLike<number | bigint | string>;
  const width = tensor.dims.length === 2 ? tensor.dims[1] : 1;
  const index = ref.index ?? 0;
  const out = new Array<number | bigint | string>(n);
  for (let i = 0; i < n; i++) out[i] = data[i * width + index];
  return out;
}

/** Loads the model and checks the spec against it; the problems are why it cannot be registered. */
export async function checkModel(bytes: Uint8Array, spec: ShadowSpec): Promise<{ model: LoadedModel; problems: string[] }> {
  const model = await loadModel(bytes);
  const problems = checkSignature(spec, model.graph);
  return { model, problems };
}
