import { esc, num } from './format.ts';
import type { EstimatedPerformance } from './types.ts';

const SHOWN = ['accuracy', 'f1', 'roc_auc'];

/**
 * The window view's card for performance estimated before labels: each
 * estimate with its band, the realized value once labels are in, and the
 * baseline's. "bad" when a band lies wholly below the baseline's value.
 */
export function estimatedCard(e: EstimatedPerformance | null | undefined): [string, string, string?] | null {
  if (!e) return null;
  let below = false;
  const lines = SHOWN.filter((name) => e.metrics[name]).map((name) => {
    const m = e.metrics[name];
    if (m.upper !== null && m.reference !== null && m.upper < m.reference) below = true;
    const band = m.lower !== null && m.upper !== null ? ` <span class="muted">[${num(m.lower, 3)}–${num(m.upper, 3)}]</span>` : '';
    const realized = m.realized !== null ? ` · realized ${num(m.realized, 3)}` : '';
    const reference = m.reference !== null ? ` <span class="muted">(baseline ${num(m.reference, 3)})</span>` : '';
    return `<span class="estimated" data-metric="${esc(name)}">${esc(name)} ${num(m.value, 3)}${band}${realized}${reference}</span>`;
  });
  return ['Estimated performance (no labels needed)', lines.join('<br>') || '–', below ? 'bad' : undefined];
}
