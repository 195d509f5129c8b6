import { PREDICTION, type Window } from '../../store/aggregates.ts';
import { impactSample, saveBaselineImpact } from '../../store/impact.ts';
import { listShadowModels, shadowModelBytes, type ShadowRecord } from '../../store/shadow-models.ts';
import type { Sql } from '../../store/sql.ts';
import type { Baseline } from '../baseline.ts';
import type { FeatureRow } from '../shadow/encode.ts';
import { loadModel, type RowResult } from '../shadow/model.ts';
import { associationImpact, type AssociationMethod } from './association.ts';
import { permutationImportance, type PermutationOutput } from './permutation.ts';

/**
 * A baseline's feature impacts, computed once and kept in its spec: by
 * permutation through the model's registered reference ONNX model when it has
 * one, else by association with the logged prediction. Computed on first use
 * rather than at freeze, so a reference model registered after the baseline
 * was frozen is used as soon as it is there; computed again only when the
 * reference model changes (another revision, or none any more).
 */
export type ImpactMethod = 'permutation' | AssociationMethod;

export interface FrozenImpact {
  /** null: nothing to measure impact against (no reference model and no logged prediction). */
  method: ImpactMethod | null;
  /** What it was computed from: "onnx:<shadow name>:<revision>" or "association"; a change of source recomputes it. */
  source: string;
  /** For permutation: which output moved (a score, or the class). */
  output?: PermutationOutput;
  n_sample: number;
  computed_at: number;
  /** Per feature, its share of the total (impacts sum to 1, or are all 0 when nothing moves the output). */
  impacts: Record<string, number>;
  /** Per feature before normalizing: mean |score change| or class disagreement (permutation), mutual information in nats (association). */
  raw: Record<string, number>;
  /** Why the reference model could not be used, when impact fell back to association. */
  error?: string;
}

export interface ImpactOptions {
  /** Baseline events the impact is measured on (IMPACT_SAMPLE_ROWS). */
  sampleRows: number;
  now?: () => number;
}

export const DEFAULT_IMPACT_SAMPLE_ROWS = 2000;
const RUN_ROWS = 4096;

/**
 * The served model's reference copy: of its registrations with role
 * "reference" (a copy of what serves, docs/shadow.md; a challenger is a
 * different model), the one registered last.
 */
export function referenceModel(records: readonly ShadowRecord[]): ShadowRecord | null {
  const refs = records.filter((r) => r.role === 'reference');
  refs.sort((a, b) => b.registered_at - a.registered_at || (a.name < b.name ? -1 : 1));
  return refs[0] ?? null;
}

const sourceOf = (r: ShadowRecord | null) => (r ? `onnx:${r.name}:${r.revision}` : 'association');

function normalized(raw: Record<string, number>): Record<string, number> {
  const total = Object.values(raw).reduce((a, v) => a + (Number.isFinite(v) && v > 0 ? v : 0), 0);
  return Object.fromEntries(Object.entries(raw).map(([f, v]) => [f, total > 0 && Number.isFinite(v) && v > 0 ? v / total : 0]));
}

async function byPermutation(sql: Sql, record: ShadowRecord, range: Window, inputs: readonly string[], sampleRows: number) {
  const spec = record.spec;
  const output: PermutationOutput = spec.score ? 'score' : 'class';
  const bytes = await shadowModelBytes(sql, record);
  if (!bytes) throw new Error(`reference model "${record.name}" was replaced while impact was computed`);
  const model = await loadModel(bytes);
  try {
    const read = new Set(spec.inputs.flatMap((i) => i.columns.map((c) => c.feature)));
    const sample = await impactSample(sql, range, [...read], sampleRows);
    // In runs of RUN_ROWS: a large IMPACT_SAMPLE_ROWS must not become one tensor of it.
    const predict = async (rows: readonly FeatureRow[]) => {
      const out: RowResult[] = [];
      for (let at = 0; at < rows.length; at += RUN_ROWS) out.push(...(await model.score(spec, rows.slice(at, at + RUN_ROWS))));
      return out;
    };
    const result = await permutationImportance(sample, inputs.filter((f) => read.has(f)), output, predict);
    if (result.n === 0) throw new Error(`reference model "${record.name}" scored none of the ${sample.length} sampled baseline events`);
    // Features the model does not read cannot move its output.
    const raw = Object.fromEntries(inputs.map((f) => [f, result.raw[f] ?? 0]));
    return { raw, n: result.n, output };
  } finally {
    await model.close();
  }
}

/** The baseline's impacts: the frozen ones while their source is current, else computed now (and stored with a stored baseline). */
export async function impactFor(sql: Sql, baseline: Baseline, options: ImpactOptions): Promise<FrozenImpact> {
  const reference = referenceModel(await listShadowModels(sql, baseline.model));
  const source = sourceOf(reference);
  if (baseline.impact && baseline.impact.source === source) return baseline.impact;
  const range: Window = { model: baseline.model, from: baseline.from, to: baseline.to, segment: baseline.segment ?? null };
  const inputs = baseline.features.filter((f) => f.name !== PREDICTION).map((f) => f.name);
  const now = options.now ? options.now() : Date.now();
  let frozen: FrozenImpact | null = null;
  let error: string | undefined;
  if (reference) {
    try {
      const p = await byPermutation(sql, reference, range, inputs, options.sampleRows);
      frozen = { method: 'permutation', source, output: p.output, n_sample: p.n, computed_at: now, impacts: normalized(p.raw), raw: p.raw };
    } catch (err) {
      // Tried once per revision: the association stands in, and says why.
      error = (err as Error).message;
    }
  }
  if (!frozen) {
    const a = await associationImpact(sql, range, baseline.features, options.sampleRows);
    frozen = { method: a.method, source, n_sample: a.n_sample, computed_at: now, impacts: normalized(a.raw), raw: a.raw, ...(error ? { error } : {}) };
  }
  // A baseline built in memory (a comparison of two ranges) is stored nowhere.
  if (!baseline.reference_sample) await saveBaselineImpact(sql, baseline.model, baseline.baseline_id, frozen);
  baseline.impact = frozen;
  return frozen;
}
