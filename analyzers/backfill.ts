import { replayOf } from '../alerts/engine.ts';
import type { Metrics } from '../core/metrics.ts';
import type { JobView, Jobs } from '../jobs/registry.ts';
import type { DriftReport } from './drift.ts';
import { lastClosedWindow, type AnalysisScheduler, type Window } from './scheduler.ts';

export interface BackfillOptions {
  windowMs: number;
  graceMs: number;
  /** BACKFILL_MAX_WINDOWS: the most windows one backfill may cover. */
  maxWindows: number;
}

export interface BackfillDeps {
  jobs: Jobs;
  /** The live scheduler: a backfill runs its per-window code path, not a copy of it. */
  scheduler: Pick<AnalysisScheduler, 'runWindow'>;
  metrics: Metrics;
  now?: () => number;
}

/** A range a backfill cannot cover, and why (for a 400). */
export class BackfillRangeError extends Error {
  override name = 'BackfillRangeError';
}

export interface DriftedWindow {
  from: string;
  to: string;
  drifted_features: string[];
  prediction_drifted: boolean;
  dataset_drifted: boolean;
}

/** A backfill job's result: what it covered and found. */
export interface BackfillSummary {
  from: string;
  to: string;
  windows: number;
  analysed: number;
  /** Windows with a drifted feature or prediction, oldest first. */
  drifted_windows: DriftedWindow[];
  /** Alert transitions recorded, and notices sent (only for windows younger than ALERT_NOTIFY_MAX_AGE). */
  alert_transitions: number;
  notifications: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Analyses a past range of one model, window by window in order, as the
 * live scheduler analyses each window as it closes: same code, same
 * history tables (a re-run replaces what an earlier one stored, see
 * docs/backfill.md), as a job of the registry. One backfill per model at a
 * time; cancelling stops it between windows.
 */
export class Backfill {
  constructor(
    private readonly deps: BackfillDeps,
    private readonly options: BackfillOptions,
  ) {}

  /**
   * The windows a backfill of [from, to) covers: every window aligned to the
   * epoch that overlaps the range and has closed (ANALYSIS_GRACE after its
   * end, as the live scheduler waits). Throws BackfillRangeError when there
   * is none or more than BACKFILL_MAX_WINDOWS.
   */
  windows(range: { from: number; to: number }): Window[] {
    const { windowMs, graceMs, maxWindows } = this.options;
    const first = Math.floor(range.from / windowMs) * windowMs;
    const closed = lastClosedWindow(this.now(), windowMs, graceMs).to;
    const end = Math.min(Math.ceil(range.to / windowMs) * windowMs, closed);
    const count = (end - first) / windowMs;
    if (count <= 0) {
      throw new BackfillRangeError(`no analysis window of ${windowMs} ms in ${iso(range.from)} - ${iso(range.to)} has closed yet; the newest closed window ends at ${iso(closed)}`);
    }
    if (count > maxWindows) {
      throw new BackfillRangeError(
        `${iso(range.from)} - ${iso(range.to)} covers ${count} analysis windows, more than BACKFILL_MAX_WINDOWS (${maxWindows}): split the range, or raise the setting`,
      );
    }
    return Array.from({ length: count }, (_, k) => ({ from: first + k * windowMs, to: first + (k + 1) * windowMs }));
  }

  /** The model's backfill that is running, if any. */
  running(model: string): JobView | undefined {
    return this.deps.jobs.list({ model, kind: 'analyze' }).find((j) => j.state === 'running');
  }

  /** Starts the job; the caller checked `running` and the model's baseline. */
  start(model: string, windows: readonly Window[]): JobView {
    const { scheduler, metrics } = this.deps;
    return this.deps.jobs.start('analyze', model, 'windows', async ({ signal, progress }) => {
      progress(0, windows.length);
      const carry = new Map<string, unknown>();
      const summary: BackfillSummary = {
        from: iso(windows[0].from),
        to: iso(windows[windows.length - 1].to),
        windows: windows.length,
        analysed: 0,
        drifted_windows: [],
        alert_transitions: 0,
        notifications: 0,
      };
      for (const window of windows) {
        // Between windows only: a window is analysed whole or not at all.
        if (signal.aborted) break;
        let failure: unknown = null;
        const reports = await scheduler.runWindow(window, { reason: 'backfill', models: [model], carry, onFailure: (_m, err) => (failure = err) });
        const report = reports.find((r) => r.model === model);
        if (failure !== null || !report) {
          metrics.backfillWindows.inc({ outcome: 'failed' });
          // What is stored so far stays; a re-run replaces it and goes on.
          const why = failure instanceof Error ? failure.message : failure === null ? 'the model has no baseline any more' : String(failure);
          throw new Error(`window ${iso(window.from)} - ${iso(window.to)} could not be analysed (${summary.analysed} of ${windows.length} done): ${why}`);
        }
        metrics.backfillWindows.inc({ outcome: 'ok' });
        summary.analysed++;
        const drifted = driftedWindow(report);
        if (drifted) summary.drifted_windows.push(drifted);
        const alerts = replayOf(carry);
        summary.alert_transitions = alerts.transitions;
        summary.notifications = alerts.notified;
        progress(summary.analysed);
      }
      return summary;
    });
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }
}

function driftedWindow(report: DriftReport): DriftedWindow | null {
  const prediction = report.prediction?.drifted ?? false;
  if (report.drifted_features.length === 0 && !prediction) return null;
  return { from: iso(report.from), to: iso(report.to), drifted_features: report.drifted_features, prediction_drifted: prediction, dataset_drifted: report.dataset_drifted };
}
