import { validateEvent, type EventRow } from '../core/event.ts';

/** Synthetic prediction events for benchmarks: by default 15 numeric and 5 categorical features (20 in all). */
export function makeEvents(
  count: number,
  options: { model?: string; start?: number; stepMs?: number; shift?: number; prefix?: string; numeric?: number; categorical?: number } = {},
) {
  const { model = 'bench', start = Date.now() - 3_600_000, stepMs = 1, shift = 0, prefix = 'e', numeric = 15, categorical = 5 } = options;
  let seed = 12345;
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const categories = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
  const events = new Array(count);
  for (let i = 0; i < count; i++) {
    const features: Record<string, number | string> = {};
    for (let f = 0; f < numeric; f++) features[`num_${f}`] = Number((normal() * ((f % 15) + 1) + shift).toFixed(5));
    for (let f = 0; f < categorical; f++) features[`cat_${f}`] = categories[Math.floor(random() * (shift > 0 ? 6 : 4))];
    events[i] = {
      event_id: `${prefix}${i}`,
      model,
      model_version: 'v1',
      timestamp: start + Math.floor(i * stepMs),
      features,
      prediction: Number(random().toFixed(5)),
      latency_ms: 4.2,
      tags: { region: 'eu' },
    };
  }
  return events;
}

/** The same events as stored rows (validated as ingest would), for timing the store on its own. */
export function makeRows(count: number, options: Parameters<typeof makeEvents>[1] = {}): EventRow[] {
  const limits = { now: Date.now(), maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 };
  return makeEvents(count, options).map((e) => {
    const checked = validateEvent(e, limits);
    if (!checked.ok) throw new Error(checked.reason);
    return checked.value;
  });
}
