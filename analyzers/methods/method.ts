export type FeatureKind = 'numeric' | 'categorical';

/**
 * What every drift method declares about itself, so reports, alert rules and
 * dashboards can treat methods uniformly.
 */
export interface MethodDescriptor {
  name: string;
  appliesTo: FeatureKind[];
  /** Score at or beyond which a feature counts as drifted, when this method decides. */
  defaultThreshold: number;
  /** true: higher scores mean more drift (distances); false: lower means drift (p-values). */
  higherIsDrift: boolean;
  description: string;
}
