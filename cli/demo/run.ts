import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import type { DriftReport } from '../../analyzers/drift.ts';
import { parseConfig } from '../../core/config.ts';
import { UsageError } from '../args.ts';
import { startService } from '../service.ts';
import { Draw, LABEL_SHARE, makeEvent, makeLabel, MODEL, rng, SHIFTED_FEATURES } from './credit-risk.ts';
import { driftTable } from './table.ts';

export interface DemoOptions {
  /** Unused for config (the demo must not touch a real service's store); kept for symmetry with serve. */
  env?: Record<string, string | undefined>;
  flags: Record<string, string>;
  extra: Record<string, string>;
  out: Writable;
  seed?: number;
  signal?: AbortSignal;
}

export interface WindowCheck {
  from: number;
  to: number;
  expected: string[];
  flagged: string[];
  matched: boolean;
}

export interface DemoOutcome {
  windows: WindowCheck[];
  allMatched: boolean;
  eventsSent: number;
  labelsSent: number;
}

const MARKER = '.driftwatch-demo';
const REFERENCE_WINDOWS = 2;

/** The demo's store starts empty every run; a folder is only wiped if an earlier demo made it. */
function prepareDataDir(dir: string): void {
  const path = resolve(dir);
  if (existsSync(path) && readdirSync(path).length > 0) {
    if (!existsSync(join(path, MARKER))) {
      throw new UsageError(`${path} is not empty and was not made by the demo; pick another --data-dir`);
    }
    rmSync(path, { recursive: true, force: true });
  }
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, MARKER), 'made by `driftwatch demo`; wiped at its next run\n');
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((done) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      done();
    });
  });

async function post(url: string, body: unknown[]): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${await response.text()}`);
  const result = (await response.json()) as { rejected: unknown[] };
  if (result.rejected.length > 0) throw new Error(`demo events rejected: ${JSON.stringify(result.rejected.slice(0, 3))}`);
}

/**
 * Runs the service on a fresh embedded store, sends a reference period,
 * freezes a baseline from it, then shifts SHIFTED_FEATURES and prints each
 * analysed window's drift table with a check against what was shifted.
 */
export async function runDemo(options: DemoOptions): Promise<DemoOutcome> {
  const write = (line: string) => options.out.write(line + '\n');
  const duration = options.extra.duration !== undefined ? Number(options.extra.duration) : Infinity;
  const rate = options.extra.rate !== undefined ? Number(options.extra.rate) : 2000;
  if (!(duration > 0)) throw new UsageError('--duration must be a positive number of seconds');
  if (!(rate > 0 && rate <= 200_000)) throw new UsageError('--rate must be between 1 and 200000 events per second');
  const config = parseConfig({
    PORT: '0',
    DATA_DIR: './data-demo',
    ANALYSIS_WINDOW: '10s',
    ANALYSIS_GRACE: '1s',
    LOG_LEVEL: 'warn',
    ...options.flags,
  });
  prepareDataDir(config.DATA_DIR);
  const service = await startService(config);
  const windowMs = config.ANALYSIS_WINDOW;
  const draw = new Draw(rng(options.seed ?? Date.now()));

  const started = Date.now();
  // The reference period: at least REFERENCE_WINDOWS whole windows, ending on a window boundary.
  const shiftAt = (Math.floor(started / windowMs) + REFERENCE_WINDOWS + 1) * windowMs;
  const stopAt = started + duration * 1000;
  const outcome: DemoOutcome = { windows: [], allMatched: true, eventsSent: 0, labelsSent: 0 };
  let baselineId: string | null = null;

  write(`driftwatch demo: model "${MODEL}", ${rate} events/s, analysis window ${windowMs / 1000}s`);
  write(`API ${service.url} · store ${resolve(config.DATA_DIR)}`);
  write(`reference traffic until ${new Date(shiftAt).toISOString()}, then shifting: ${SHIFTED_FEATURES.join(', ')}`);
  write('');

  service.scheduler.onReport((report: DriftReport) => {
    const expected = report.from >= shiftAt ? [...SHIFTED_FEATURES].sort() : [];
    const flagged = [...report.drifted_features].sort();
    const matched = expected.join() === flagged.join();
    outcome.windows.push({ from: report.from, to: report.to, expected, flagged, matched });
    if (!matched) outcome.allMatched = false;
    write('');
    write(driftTable(report, expected));
    write(matched ? 'OK: flagged exactly the expected features' : `MISMATCH: flagged ${flagged.join(', ') || 'none'}`);
    write('');
  });

  const pendingLabels: { due: number; label: object }[] = [];
  let sequence = 0;
  let lastProgress = started;
  let sentAtLastProgress = 0;
  const tickMs = 100;
  try {
    while (Date.now() < stopAt && !options.signal?.aborted) {
      const tickStart = Date.now();
      const events = [];
      const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
      for (let i = 0; i < perTick; i++) {
        const ts = Date.now();
        const event = makeEvent(draw, `evt-${started.toString(36)}-${sequence++}`, ts, ts >= shiftAt);
        events.push(event);
        if (draw.random() < LABEL_SHARE) {
          pendingLabels.push({ due: ts + 2000 + draw.random() * 6000, label: makeLabel(draw, event) });
        }
      }
      await post(`${service.url}/v1/events`, events);
      outcome.eventsSent += events.length;

      const due = pendingLabels.filter((l) => l.due <= tickStart);
      if (due.length > 0) {
        pendingLabels.splice(0, pendingLabels.length, ...pendingLabels.filter((l) => l.due > tickStart));
        await post(`${service.url}/v1/labels`, due.map((l) => l.label));
        outcome.labelsSent += due.length;
      }

      if (baselineId === null && Date.now() >= shiftAt) {
        const response = await fetch(`${service.url}/v1/models/${MODEL}/baselines`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ from: started, to: shiftAt }),
        });
        const body = (await response.json()) as { baseline_id: string; n_events: number; features: unknown[] };
        if (response.status !== 201) throw new Error(`freezing the baseline failed: ${JSON.stringify(body)}`);
        baselineId = body.baseline_id;
        write(`baseline ${baselineId} frozen from ${body.n_events.toLocaleString('en-US')} reference events (${body.features.length} features); shift starts now`);
      }

      if (Date.now() - lastProgress >= 2000) {
        const models = (await (await fetch(`${service.url}/v1/models`)).json()) as { models: { events: number; labels: number }[] };
        const stored = models.models[0] ?? { events: 0, labels: 0 };
        const perSecond = ((outcome.eventsSent - sentAtLastProgress) * 1000) / (Date.now() - lastProgress);
        write(
          `t=${Math.round((Date.now() - started) / 1000)}s  sent ${outcome.eventsSent.toLocaleString('en-US')} events (${Math.round(perSecond).toLocaleString('en-US')}/s), ` +
            `${outcome.labelsSent.toLocaleString('en-US')} labels · stored ${stored.events.toLocaleString('en-US')} events, ` +
            `${stored.labels.toLocaleString('en-US')} labels · ${Date.now() < shiftAt ? 'reference' : 'shifted'}`,
        );
        lastProgress = Date.now();
        sentAtLastProgress = outcome.eventsSent;
      }
      await sleep(tickMs - (Date.now() - tickStart), options.signal);
    }
  } finally {
    await service.close();
  }
  const matched = outcome.windows.filter((w) => w.matched).length;
  write(`demo finished: ${outcome.windows.length} windows analysed, ${matched} flagged exactly what was shifted`);
  return outcome;
}
