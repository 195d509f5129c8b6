import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../core/metrics.ts';

describe('metric names', () => {
  it('names the process metrics driftwatch_process_* once, and every metric driftwatch_*', async () => {
    const { registry } = createMetrics();
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toContain('driftwatch_process_cpu_seconds_total');
    expect(names).toContain('driftwatch_process_resident_memory_bytes');
    expect(names).toContain('driftwatch_nodejs_eventloop_lag_seconds');
    expect(names.filter((n) => n.includes('process_process'))).toEqual([]);
    expect(names.filter((n) => !n.startsWith('driftwatch_'))).toEqual([]);
  });
});
