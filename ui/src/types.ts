/** The parts of the /v1 answers the UI reads (api/schemas.ts has them all). */

export interface Distribution {
  kind: 'numeric' | 'categorical';
  edges?: number[];
  categories?: string[];
  reference: number[];
  current: number[];
  other?: { reference: number; current: number };
}

export interface FeatureDrift {
  feature: string;
  kind: 'numeric' | 'categorical';
  n_reference?: number;
  n_current?: number;
  metrics?: Record<string, number | null>;
  method?: string;
  score: number | null;
  threshold: number | null;
  drifted: boolean;
  status: 'ok' | 'insufficient_data' | 'no_data';
  new_categories?: { value: string; share: number }[];
  distribution?: Distribution;
  /** Share of what moves the model's output (docs/statistics.md#drift-impact); null when unknown. */
  impact?: number | null;
}

export interface DriftImpact {
  method: string;
  share: number;
  ranking: { feature: string; impact: number | null; score: number | null }[];
  prediction_drifted: boolean | null;
}

export interface QualityFeature {
  feature: string;
  kind: string;
  present_share: number;
  missing_share: number;
  type_violation_share: number;
  out_of_range_share?: number;
  /** Each share beside the baseline's with its verdict (absent for an older baseline). */
  checks?: Partial<Record<'missing' | 'type_violation' | 'out_of_range', ShareCheck>>;
}

export interface ShareCheck {
  share: number;
  baseline: number;
  p_value: number;
  drifted: boolean;
}

/** Drift of the joint distribution of the numeric features (PCA reconstruction error). */
export interface MultivariateDrift {
  features: string[];
  n_components: number;
  n_current: number;
  reconstruction_error: number | null;
  reference_error: number;
  lower_threshold: number | null;
  upper_threshold: number | null;
  change: number | null;
  drifted: boolean;
  status: 'ok' | 'insufficient_data' | 'no_data';
}

export interface Performance {
  task: string | null;
  n_events: number;
  n_labelled: number;
  label_coverage: number;
  metrics: Record<string, number | null>;
  baseline_metrics: Record<string, number | null> | null;
  change?: Record<string, number | null>;
  from?: string;
  to?: string;
}

export interface DriftReport {
  model: string;
  baseline_id: string;
  from: string;
  to: string;
  computed_at?: string;
  segment: { tag: string; value: string } | null;
  n_events: number;
  features: FeatureDrift[];
  drifted_features: string[];
  drifted_share: number;
  dataset_drifted: boolean;
  prediction: FeatureDrift | null;
  performance: Performance | null;
  data_quality: { n_events: number; features: QualityFeature[]; absent_features: string[]; new_features: string[]; flagged_features?: string[] } | null;
  multivariate?: MultivariateDrift | null;
  estimated_performance?: EstimatedPerformance | null;
  segments?: DriftReport[];
  segment_tags?: string[];
  impact_method?: string | null;
  drift_impact?: DriftImpact | null;
}

export interface ModelRow {
  model: string;
  events: number;
  labels: number;
  first_event: string;
  last_event: string;
  versions: string[];
  summary?: {
    event_rate_per_s: number;
    last_window: { from: string; to: string; n_events: number; drifted_features: string[]; drifted_share: number; dataset_drifted: boolean } | null;
    label_coverage: number | null;
    firing_alerts: number | null;
  };
}

export interface BaselineSummary {
  baseline_id: string;
  segment: { tag: string; value: string } | null;
  parent_baseline_id: string | null;
  created_at: string;
  from: string;
  to: string;
  n_events: number;
  /** Set by PATCH or at freeze; null without one. */
  name?: string | null;
  /** The baseline the model is analysed against when none is picked. */
  active?: boolean;
  /** Frozen by a rolling policy. */
  rolled?: boolean;
}

export interface AlertTransition {
  at: string;
  rule: string;
  model: string;
  subject: string;
  from_status: string;
  to_status: string;
  value: number | null;
  threshold: number;
  severity: string;
  window_start: string;
  window_end: string;
}

export interface ShadowSummary {
  name: string;
  role: string;
  revision: string;
  sample_share: number;
  registered_at: string;
}

export interface ShadowReport {
  shadow: string;
  role: string;
  n_sampled: number;
  n_scored: number;
  comparison: { mismatch_share: number | null; n_compared: number; mean_abs_diff: number | null; max_abs_diff: number | null; class_agreement: number | null };
  prediction_drift: { method: string; score: number | null; status: string } | null;
  performance: { n_labelled: number; champion: Record<string, number>; shadow: Record<string, number> };
}

/** What the report page carries inline (api/report-page.ts). */
export interface ReportData {
  report: DriftReport;
  baseline: { baseline_id: string; from: string; to: string; n_events: number };
  generated_at: string;
}

/** Performance estimated before labels (CBPE, api/schemas-estimated.ts). */
export interface EstimatedPerformance {
  method: 'cbpe';
  task: 'binary' | 'classification';
  n_events: number;
  n_labelled: number;
  band_sigmas: number;
  metrics: Record<string, { value: number; sampling_error: number | null; lower: number | null; upper: number | null; realized: number | null; reference: number | null }>;
}

/** GET /v1/models/{model}/drift/series (api/routes/series.ts): drift over time, per feature and step. */
export interface SeriesStep {
  from: string;
  to: string;
  n_events: number | null;
  /** unavailable: neither the pre-aggregates nor the raw budget answered it; its values are null. */
  source: 'preaggregates' | 'raw' | 'unavailable';
}

export interface FeatureSeries {
  feature: string;
  kind: 'numeric' | 'categorical';
  n: (number | null)[];
  psi: (number | null)[];
  drifted: (boolean | null)[];
}

export interface DriftSeries {
  model: string;
  baseline_id: string;
  from: string;
  to: string;
  step_ms: number;
  steps: SeriesStep[];
  features: FeatureSeries[];
}
