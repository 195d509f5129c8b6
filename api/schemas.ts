import eventSchema from '../core/event.schema.json' with { type: 'json' };
import labelSchema from '../core/label.schema.json' with { type: 'json' };
import { BaselineImpactProperties, FeatureImpactProperties, ReportImpactProperties } from './impact-schema.ts';
import { EstimatedPerformanceSchema } from './schemas-estimated.ts';

/** JSON Schemas of request and response bodies: they validate, serialise and feed /docs/json. */
const { $schema: _e, $id: _ei, ...event } = eventSchema;
const { $schema: _l, $id: _li, ...label } = labelSchema;
export const EventSchema = event;
export const LabelSchema = label;

export const ModelParams = {
  type: 'object',
  required: ['model'],
  properties: { model: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$' } },
} as const;

export const ErrorResponse = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' },
  },
} as const;

export const IngestResponse = {
  type: 'object',
  required: ['accepted', 'rejected'],
  properties: {
    accepted: { type: 'integer', description: 'Items stored.' },
    rejected: {
      type: 'array',
      description: 'Items refused, by position in the request (0-based array index or NDJSON line among non-empty lines).',
      items: {
        type: 'object',
        required: ['index', 'reason'],
        properties: { index: { type: 'integer' }, reason: { type: 'string' } },
      },
    },
  },
} as const;

const TimeRange = {
  from: { type: 'string', description: 'Start, inclusive: RFC 3339 or epoch milliseconds.' },
  to: { type: 'string', description: 'End, exclusive: RFC 3339 or epoch milliseconds.' },
} as const;

const TagName = { type: 'string', minLength: 1, maxLength: 256 } as const;

/** A baseline's name: printable, up to 128 characters. */
const BaselineName = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
} as const;

export const BaselineRequest = {
  type: 'object',
  required: ['from', 'to'],
  additionalProperties: false,
  properties: {
    from: { anyOf: [{ type: 'string', maxLength: 64 }, { type: 'integer' }] },
    to: { anyOf: [{ type: 'string', maxLength: 64 }, { type: 'integer' }] },
    segment_by: { ...TagName, description: 'Also freeze one baseline per value of this tag (the MAX_SEGMENTS most frequent).' },
    name: BaselineName,
    activate: { type: 'boolean', default: false, description: 'Make it the active baseline at once (else the active one stays; without any choice the newest is active).' },
  },
} as const;


export const BaselinePatch = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { anyOf: [BaselineName, { type: 'null' }], description: 'The new name; null removes it.' } },
} as const;

export const RollingPolicyRequest = {
  type: 'object',
  required: ['every', 'lookback'],
  additionalProperties: false,
  properties: {
    every: { type: 'string', maxLength: 32, description: 'How often to refreeze: a duration such as 1d, 6h or 30s (at least 1s).' },
    lookback: { type: 'string', maxLength: 32, description: 'The range each refreeze is frozen from: the duration before the refreeze (e.g. 7d).' },
    segment_by: { ...TagName, description: 'Also freeze one baseline per value of this tag with each refreeze.' },
    keep: { type: 'integer', minimum: 1, maximum: 1000, default: 10, description: 'Rolled baselines kept, the newest; older rolled ones are deleted (baselines frozen by hand never are).' },
    name: BaselineName,
  },
} as const;

const Refreeze = {
  type: 'object',
  properties: {
    at: { type: 'string', format: 'date-time' },
    outcome: { type: 'string', enum: ['ok', 'failed'] },
    baseline_id: { type: ['string', 'null'] },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    n_events: { type: 'integer' },
    reason: { type: 'string' },
  },
} as const;

export const RollingPolicyResponse = {
  type: 'object',
  properties: {
    policy: {
      anyOf: [
        {
          type: 'object',
          properties: {
            model: { type: 'string' },
            every: { type: 'string' },
            lookback: { type: 'string' },
            segment_by: { type: ['string', 'null'] },
            keep: { type: 'integer' },
            name: { type: ['string', 'null'] },
            updated_at: { type: 'string', format: 'date-time' },
            last_refreeze: { type: ['string', 'null'], format: 'date-time' },
            next_refreeze: { type: 'string', format: 'date-time' },
          },
        },
        { type: 'null' },
      ],
    },
    refreezes: { type: 'array', items: Refreeze },
  },
} as const;

export const DeleteEventsRequest = {
  type: 'object',
  required: ['event_ids'],
  additionalProperties: false,
  properties: {
    event_ids: { type: 'array', minItems: 1, maxItems: 10_000, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 256 } },
    purge: {
      type: 'boolean',
      default: false,
      description: 'Also rewrite the parts that held the rows without them before answering: a plain delete hides them at once and drops them from disk at the next merge.',
    },
  },
} as const;

export const Deleted = {
  type: 'object',
  properties: { deleted: { type: 'object', additionalProperties: { type: 'integer' }, description: 'Rows deleted, per table.' } },
} as const;

// null stands for NaN (a statistic undefined on this data, e.g. ROC AUC with one class), as in JSON.
const NumberMap = { type: 'object', additionalProperties: { type: ['number', 'null'] } } as const;

const FeatureReference = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    kind: { type: 'string', enum: ['numeric', 'categorical'] },
    n: { type: 'integer' },
    min: { type: 'number' },
    max: { type: 'number' },
    mean: { type: 'number' },
    std: { type: 'number' },
    edges: { type: 'array', items: { type: 'number' } },
    counts: { anyOf: [{ type: 'array', items: { type: 'number' } }, NumberMap] },
    sample_n: { type: 'integer' },
    other: { type: 'integer' },
  },
} as const;

const Segment = { anyOf: [{ type: 'object', properties: { tag: { type: 'string' }, value: { type: 'string' } } }, { type: 'null' }] } as const;

export const BaselineSummary = {
  type: 'object',
  properties: {
    segment: Segment,
    parent_baseline_id: { type: ['string', 'null'], description: 'For a segment baseline, the model-wide baseline frozen with it.' },
    baseline_id: { type: 'string', format: 'uuid' },
    model: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    n_events: { type: 'integer' },
    name: { type: ['string', 'null'] },
    rolled: { type: 'boolean', description: 'Frozen by a rolling policy.' },
    active: { type: 'boolean', description: 'The baseline the model is analysed against (in lists).' },
  },
} as const;

export const BaselineResponse = {
  type: 'object',
  properties: {
    ...BaselineSummary.properties,
    features: { type: 'array', items: FeatureReference },
    performance: { anyOf: [{ type: 'object', additionalProperties: true }, { type: 'null' }] },
    multivariate: {
      anyOf: [{ type: 'object', additionalProperties: true }, { type: 'null' }],
      description: 'The frozen PCA multivariate drift is measured against: scaler, components, the reference error (docs/statistics.md).',
    },
    quality: { type: 'object', additionalProperties: true, description: "The reference's own missing and type-violation shares per feature." },
    ...BaselineImpactProperties,
    segments: {
      type: 'array',
      items: { type: 'object', properties: { value: { type: 'string' }, baseline_id: { type: 'string' }, n_events: { type: 'integer' } } },
    },
  },
} as const;

export const FeatureDrift = {
  type: 'object',
  properties: {
    feature: { type: 'string' },
    kind: { type: 'string', enum: ['numeric', 'categorical'] },
    n_reference: { type: 'integer' },
    n_current: { type: 'integer' },
    metrics: NumberMap,
    method: { type: 'string' },
    score: { type: ['number', 'null'] },
    threshold: { type: ['number', 'null'], description: 'null when there is no verdict (status no_data).' },
    drifted: { type: 'boolean' },
    status: { type: 'string', enum: ['ok', 'insufficient_data', 'no_data'] },
    new_categories: {
      type: 'array',
      items: { type: 'object', properties: { value: { type: 'string' }, share: { type: 'number' } } },
    },
    distribution: {
      type: 'object',
      description:
        'With include=distributions: both histograms on the baseline\'s bins. numeric: counts below edges[0], between each pair of edges, above the last (length edges+1); categorical: counts per category, and the pooled rest beyond the baseline\'s category cap.',
      properties: {
        kind: { type: 'string', enum: ['numeric', 'categorical'] },
        edges: { type: 'array', items: { type: 'number' } },
        categories: { type: 'array', items: { type: 'string' } },
        reference: { type: 'array', items: { type: 'number' } },
        current: { type: 'array', items: { type: 'number' } },
        other: { type: 'object', properties: { reference: { type: 'number' }, current: { type: 'number' } } },
      },
    },
    ...FeatureImpactProperties,
  },
} as const;

export const Performance = {
  type: 'object',
  properties: {
    task: { type: ['string', 'null'], enum: ['binary', 'classification', 'regression', null] },
    n_events: { type: 'integer' },
    n_labelled: { type: 'integer' },
    label_coverage: { type: 'number' },
    label_delay_p50_s: { type: ['number', 'null'] },
    label_delay_p90_s: { type: ['number', 'null'] },
    metrics: NumberMap,
    baseline_metrics: { anyOf: [NumberMap, { type: 'null' }] },
    change: NumberMap,
  },
} as const;

const ShareCheck = {
  type: 'object',
  properties: {
    share: { type: 'number' },
    baseline: { type: 'number', description: "The baseline's share; for out of range 2/(n+1), what fresh reference values give (docs/statistics.md)." },
    p_value: { type: 'number' },
    drifted: { type: 'boolean' },
  },
} as const;

export const MultivariateDrift = {
  anyOf: [
    {
      type: 'object',
      description: "Drift of the joint distribution of the numeric features: the window's mean PCA reconstruction error against the band a stationary window of its size stays in (docs/statistics.md).",
      properties: {
        method: { type: 'string', enum: ['pca_reconstruction_error'] },
        features: { type: 'array', items: { type: 'string' } },
        n_components: { type: 'integer' },
        explained_variance: { type: 'number' },
        n_current: { type: 'integer', description: 'Events the error was averaged over (the window sampled down to MULTIVARIATE_WINDOW_SAMPLE_MAX).' },
        reconstruction_error: { type: ['number', 'null'] },
        reference_error: { type: 'number' },
        reference_std: { type: 'number' },
        lower_threshold: { type: ['number', 'null'] },
        upper_threshold: { type: ['number', 'null'] },
        change: { type: ['number', 'null'], description: 'Relative to reference_error.' },
        drifted: { type: 'boolean' },
        status: { type: 'string', enum: ['ok', 'insufficient_data', 'no_data'] },
      },
    },
    { type: 'null' },
  ],
} as const;

const DriftReportBase = {
  type: 'object',
  properties: {
    segment: Segment,
    model: { type: 'string' },
    baseline_id: { type: ['string', 'null'], format: 'uuid', description: 'null when compared with a reference range (reference_from, reference_to).' },
    reference: {
      type: 'object',
      description: 'The range the reference covers: the baseline frozen from it, or the reference range given.',
      properties: { from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' }, frozen: { type: 'boolean' } },
    },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    computed_at: { type: 'string', format: 'date-time' },
    n_events: { type: 'integer' },
    features: { type: 'array', items: FeatureDrift },
    drifted_features: { type: 'array', items: { type: 'string' } },
    drifted_share: { type: 'number' },
    dataset_drifted: { type: 'boolean' },
    prediction: { anyOf: [FeatureDrift, { type: 'null' }], description: 'Drift of the model output (feature name "@prediction").' },
    performance: { anyOf: [Performance, { type: 'null' }] },
    multivariate: MultivariateDrift,
    ...ReportImpactProperties,
    estimated_performance: EstimatedPerformanceSchema,
    errors: {
      type: 'object',
      description: 'Failed predictions (events sent with status "error") among all the window\'s events: left out of drift and performance unless ANALYSIS_INCLUDE_FAILED.',
      properties: {
        events: { type: 'integer', description: 'Every event of the window, failed ones included.' },
        failed: { type: 'integer' },
        rate: { type: ['number', 'null'], description: 'failed / events; null without events.' },
        types: {
          type: 'array',
          description: 'The 20 most frequent error_type values, most frequent first.',
          items: { type: 'object', properties: { error_type: { type: 'string' }, n: { type: 'integer' } } },
        },
      },
    },
    data_quality: {
      anyOf: [
        {
          type: 'object',
          properties: {
            n_events: { type: 'integer' },
            features: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  feature: { type: 'string' },
                  kind: { type: 'string' },
                  present_share: { type: 'number' },
                  missing_share: { type: 'number' },
                  type_violation_share: { type: 'number' },
                  out_of_range_share: { type: 'number', description: 'Numeric features: share of the values below the reference minimum or above its maximum.' },
                  checks: {
                    type: 'object',
                    description:
                      "Each share beside the baseline's, with its verdict: a one-sided binomial test at DRIFT_ALPHA and a rise of at least QUALITY_MIN_EFFECT (docs/statistics.md). Absent for a baseline frozen before verdicts existed.",
                    properties: { missing: ShareCheck, type_violation: ShareCheck, out_of_range: ShareCheck },
                  },
                },
              },
            },
            absent_features: { type: 'array', items: { type: 'string' } },
            new_features: { type: 'array', items: { type: 'string' } },
            flagged_features: { type: 'array', items: { type: 'string' }, description: 'Features with at least one drifted check.' },
          },
        },
        { type: 'null' },
      ],
    },
  },
} as const;

export const DriftReport = {
  type: 'object',
  properties: {
    ...DriftReportBase.properties,
    segment_tags: { type: 'array', items: { type: 'string' }, description: 'With include=segment_tags (GET /drift only).' },
    segments: { type: 'array', items: DriftReportBase, description: 'One report per segment, with segment_by.' },
  },
} as const;

export const ModelSummary = {
  type: 'object',
  description: 'With include=summary.',
  properties: {
    event_rate_per_s: { type: 'number', description: 'Events per second over the last ANALYSIS_WINDOW before now.' },
    last_window: {
      anyOf: [
        {
          type: 'object',
          description: 'The newest window the scheduled analysis stored.',
          properties: {
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            n_events: { type: 'integer' },
            drifted_features: { type: 'array', items: { type: 'string' } },
            drifted_share: { type: 'number' },
            dataset_drifted: { type: 'boolean' },
          },
        },
        { type: 'null' },
      ],
    },
    label_coverage: { type: ['number', 'null'], description: "Share of the newest stored performance window's events with a label." },
    firing_alerts: { type: ['integer', 'null'], description: 'Alert series of this model firing now; null when alerting is off.' },
  },
} as const;

export const DriftQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...TimeRange,
    baseline_id: { type: 'string', format: 'uuid' },
    reference_from: { type: 'string', description: 'With reference_to: compare with this range instead of a baseline, built in memory the way a frozen one is and stored nowhere.' },
    reference_to: { type: 'string' },
    segment_by: { ...TagName, description: "Also report each segment of this tag against its own baseline (frozen with segment_by)." },
    include: {
      type: 'array',
      items: { type: 'string', enum: ['distributions', 'segment_tags'] },
      description:
        "Opt-in parts of the answer (repeat the parameter for several). distributions: each feature (and the prediction) also carries its reference and current histogram on the baseline's bins (`distribution`). segment_tags: the report names the tags its baseline has segment baselines for (`segment_tags`), for segment_by.",
    },
  },
} as const;

export const HistoryQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { ...TimeRange, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
} as const;

export const DriftHistoryQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...HistoryQuery.properties,
    segment_by: { ...TagName, description: 'Also return the stored reports of each segment of this tag (segment baselines frozen with segment_by).' },
    segment: { type: 'string', maxLength: 256, description: 'Only this value of the segment_by tag.' },
    compact: {
      type: 'boolean',
      default: false,
      description:
        'true: each feature (and the prediction) with its verdict only (feature, kind, score, threshold, drifted, status), and data quality listing only the features with missing values or type violations: what a heatmap of a wide model needs, a fraction of the size.',
    },
  },
} as const;

const FEATURE_NAME = { type: 'string', minLength: 1, maxLength: 256 } as const;

export const ShadowParams = {
  type: 'object',
  required: ['model', 'name'],
  properties: { model: ModelParams.properties.model, name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' } },
} as const;

const OutputRef = {
  output: { type: 'string', minLength: 1, maxLength: 256, description: 'Name of a graph output.' },
  index: { type: 'integer', minimum: 0, maximum: 100_000, description: 'Column of a [batch, k] output (e.g. 1 = probability of class 1).' },
} as const;

export const ShadowRequest = {
  type: 'object',
  required: ['name', 'role', 'inputs'],
  additionalProperties: false,
  properties: {
    name: ShadowParams.properties.name,
    role: { type: 'string', enum: ['reference', 'challenger'], description: 'reference: what should be serving (parity); challenger: a candidate.' },
    model_base64: { type: 'string', minLength: 1, description: 'The ONNX file, base64.' },
    model_path: { type: 'string', minLength: 1, maxLength: 1024, description: 'Or: an ONNX file under SHADOW_MODEL_DIR on the service host.' },
    sample_share: { type: 'number', minimum: 0, maximum: 1, description: 'Share of events re-scored; SHADOW_SAMPLE_SHARE when absent.' },
    inputs: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      items: {
        type: 'object',
        required: ['name', 'dtype', 'columns'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 256 },
          dtype: { type: 'string', enum: ['float32', 'float64', 'int64', 'int32', 'string', 'bool'] },
          columns: {
            type: 'array',
            minItems: 1,
            maxItems: 10_000,
            items: {
              type: 'object',
              required: ['feature'],
              additionalProperties: false,
              properties: {
                feature: FEATURE_NAME,
                default: { anyOf: [{ type: 'number' }, { type: 'string' }, { type: 'boolean' }] },
                missing: { type: 'string', enum: ['skip', 'nan'] },
                one_hot: { type: 'array', minItems: 1, maxItems: 10_000, items: { type: 'string' } },
                ordinal: { type: 'array', minItems: 1, maxItems: 10_000, items: { type: 'string' } },
                unknown: { type: 'number' },
              },
            },
          },
        },
      },
    },
    score: {
      type: 'object',
      required: ['output', 'compare_to'],
      additionalProperties: false,
      properties: {
        ...OutputRef,
        compare_to: { type: 'string', minLength: 1, maxLength: 300, description: '"prediction", or "scores.<class>" for one class\'s logged score.' },
        tolerance: { type: 'number', minimum: 0, description: 'Absolute difference still counted as equal (default 1e-4).' },
        threshold: { type: 'number', description: "Without a class output: a binary model's class is 1 where the score (of class 1) is at or above this (default 0.5)." },
      },
    },
    class: { type: 'object', required: ['output'], additionalProperties: false, properties: OutputRef },
  },
} as const;

const GraphValue = {
  type: 'object',
  properties: { name: { type: 'string' }, isTensor: { type: 'boolean' }, type: { type: 'string' }, shape: { type: 'array', items: { type: ['integer', 'string'] } } },
} as const;

export const ShadowSummary = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    name: { type: 'string' },
    revision: { type: 'string' },
    role: { type: 'string' },
    registered_at: { type: 'string', format: 'date-time' },
    source: { type: 'string' },
    model_bytes: { type: 'integer' },
    sample_share: { type: 'number' },
    spec: { type: 'object', additionalProperties: true },
    graph: { type: 'object', properties: { inputs: { type: 'array', items: GraphValue }, outputs: { type: 'array', items: GraphValue } } },
  },
} as const;

const NullableNumber = { type: ['number', 'null'] } as const;

export const ShadowReport = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    shadow: { type: 'string' },
    revision: { type: 'string' },
    role: { type: 'string' },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    computed_at: { type: 'string', format: 'date-time' },
    sample_share: { type: 'number' },
    n_sampled: { type: 'integer' },
    n_scored: { type: 'integer' },
    skipped: { type: 'object', additionalProperties: { type: 'integer' } },
    comparison: {
      type: 'object',
      properties: {
        tolerance: { type: 'number' },
        n_checked: { type: 'integer' },
        mismatch_share: NullableNumber,
        n_compared: { type: 'integer' },
        mean_abs_diff: NullableNumber,
        max_abs_diff: NullableNumber,
        n_class: { type: 'integer' },
        class_agreement: NullableNumber,
      },
    },
    prediction_drift: {
      type: ['object', 'null'],
      properties: {
        method: { type: 'string' },
        score: NullableNumber,
        n_reference: { type: 'integer' },
        n_current: { type: 'integer' },
        status: { type: 'string' },
      },
    },
    performance: {
      type: 'object',
      properties: {
        n_labelled: { type: 'integer' },
        threshold: NullableNumber,
        champion: { type: 'object', additionalProperties: { type: 'number' } },
        shadow: { type: 'object', additionalProperties: { type: 'number' } },
      },
    },
  },
} as const;
