/** The drift report's estimated_performance (analyzers/estimated/estimation.ts EstimatedPerformance). */
const EstimatedMetric = {
  type: 'object',
  properties: {
    value: { type: 'number', description: 'Estimated from calibrated scores alone.' },
    sampling_error: { type: ['number', 'null'], description: "Standard error of the metric at the window's size, from the baseline's labelled events." },
    lower: { type: ['number', 'null'], description: 'value - band_sigmas x sampling_error, at least 0.' },
    upper: { type: ['number', 'null'], description: 'value + band_sigmas x sampling_error, at most 1.' },
    realized: { type: ['number', 'null'], description: 'The metric from the labels that have arrived for the window; null without labels.' },
    reference: { type: ['number', 'null'], description: "The baseline's realized value; null when the baseline lacks it." },
  },
} as const;

export const EstimatedPerformanceSchema = {
  anyOf: [
    {
      type: 'object',
      description:
        "Performance estimated before labels arrive (CBPE): the baseline's isotonic calibrators applied to the window's scores. Absent or null when the baseline has no estimator (fewer than 100 labelled reference events, no scores, or regression).",
      properties: {
        method: { type: 'string', enum: ['cbpe'] },
        task: { type: 'string', enum: ['binary', 'classification'] },
        n_events: { type: 'integer', description: 'Events estimated: with a score (binary), or with a score for every class and a predicted class.' },
        n_labelled: { type: 'integer', description: 'Labelled events behind the realized values.' },
        band_sigmas: { type: 'number' },
        metrics: {
          type: 'object',
          description: 'accuracy, precision, recall, f1 (the positive class "1", or macro-averaged over classes) and roc_auc (one class against the rest, averaged).',
          additionalProperties: EstimatedMetric,
        },
      },
    },
    { type: 'null' },
  ],
} as const;
