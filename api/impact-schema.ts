/**
 * The OpenAPI schemas of drift impact (analyzers/impact/): spread into the
 * feature, report and baseline schemas of api/schemas.ts.
 */
const METHODS = ['permutation', 'spearman', 'mutual_information', 'spearman+mutual_information'] as const;

export const FeatureImpactProperties = {
  impact: {
    type: ['number', 'null'],
    description:
      "How much this feature moves the model's output, as its share of all features' (they sum to 1): permutation importance through the reference ONNX model, else association with the logged prediction (see the report's impact_method). null when it could not be measured.",
  },
} as const;

export const ReportImpactProperties = {
  impact_method: {
    type: ['string', 'null'],
    enum: [...METHODS, null],
    description:
      'How impact was measured: permutation (the registered reference ONNX model), or, without one, association with the logged prediction: spearman (numeric features, numeric prediction), mutual_information (categorical features or a predicted class), or both. null: no reference model and no logged prediction.',
  },
  drift_impact: {
    anyOf: [
      {
        type: 'object',
        description: "Which share of what moves the model's output sits on the features that drifted in this window.",
        properties: {
          method: { type: 'string', enum: [...METHODS] },
          share: { type: 'number', description: 'Sum of the impacts of the drifted features, 0..1.' },
          ranking: {
            type: 'array',
            description: 'The drifted features, highest impact first.',
            items: { type: 'object', properties: { feature: { type: 'string' }, impact: { type: ['number', 'null'] }, score: { type: ['number', 'null'] } } },
          },
          prediction_drifted: { type: ['boolean', 'null'], description: 'Whether the prediction drifted in this window; null without a prediction in the baseline.' },
        },
      },
      { type: 'null' },
    ],
  },
} as const;

export const BaselineImpactProperties = {
  impact: {
    anyOf: [
      {
        type: 'object',
        description: 'Feature impacts, measured on a sample of the baseline on first use and kept with it; measured again when the reference model changes.',
        properties: {
          method: { type: ['string', 'null'], enum: [...METHODS, null] },
          source: { type: 'string', description: '"onnx:<shadow name>:<revision>" or "association".' },
          output: { type: 'string', enum: ['score', 'class'], description: 'Permutation: the output whose change is measured.' },
          n_sample: { type: 'integer' },
          computed_at: { type: 'string', format: 'date-time' },
          impacts: { type: 'object', additionalProperties: { type: 'number' } },
          raw: { type: 'object', additionalProperties: { type: 'number' } },
          error: { type: 'string', description: 'Why the reference model could not be used (impact fell back to association).' },
        },
      },
      { type: 'null' },
    ],
  },
} as const;
