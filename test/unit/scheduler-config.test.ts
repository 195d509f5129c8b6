import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config.ts';

describe('ANALYSIS_MODEL_TIMEOUT', () => {
  it('defaults to one ANALYSIS_WINDOW, at least 5m, and takes a duration instead', () => {
    expect(parseConfig({}).ANALYSIS_MODEL_TIMEOUT).toBe(5 * 60_000);
    expect(parseConfig({ ANALYSIS_WINDOW: '1h' }).ANALYSIS_MODEL_TIMEOUT).toBe(3_600_000);
    // Short windows (tests, demos) keep the floor: a model's analysis is not cut at a second.
    expect(parseConfig({ ANALYSIS_WINDOW: '1s' }).ANALYSIS_MODEL_TIMEOUT).toBe(5 * 60_000);
    expect(parseConfig({ ANALYSIS_MODEL_TIMEOUT: '90s' }).ANALYSIS_MODEL_TIMEOUT).toBe(90_000);
    expect(() => parseConfig({ ANALYSIS_MODEL_TIMEOUT: 'soon' })).toThrow(/ANALYSIS_MODEL_TIMEOUT: expected a duration/);
  });
});
