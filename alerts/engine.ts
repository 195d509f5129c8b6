import type { Metrics } from '../core/metrics.ts';
import { loadAlertStates, saveAlertEvents, saveAlertStates, type AlertEvent, type StoredState } from '../store/alerts.ts';
import type { Sql } from '../store/sql.ts';
import type { AlertmanagerClient, AlertNotice, WebhookSender } from './notify.ts';
import { parseMetric, type Rule } from './rules.ts';
import { signalsFor, type WindowResults } from './signals.ts';
import { INACTIVE, step, type SeriesState } from './state.ts';

export interface AlertEngineDeps {
  sql: Sql;
  metrics: Metrics;
  log: { error: (obj: object, msg: string) => void };
  alertmanager: AlertmanagerClient | null;
  webhooks: WebhookSender;
  now?: () => number;
  /** ALERT_NOTIFY_MAX_AGE: a backfill's window older than this when evaluated is replayed, never notified. */
  notifyMaxAgeMs?: number;
}

/** What the engine needs to know of a scheduler run (analyzers/scheduler.ts WindowRun). */
export interface AlertRun {
  reason: 'live' | 'backfill' | 'late';
  carry: Map<string, unknown>;
}

/** A backfill's alerts: the replay's own series states, and what it recorded and sent. */
export interface AlertReplay {
  states: Map<string, StoredState>;
  transitions: number;
  notified: number;
}

const REPLAY = 'alerts';

/** The alert replay a backfill run carries, made at its first window. */
export function replayOf(carry: Map<string, unknown>): AlertReplay {
  let replay = carry.get(REPLAY) as AlertReplay | undefined;
  if (!replay) carry.set(REPLAY, (replay = { states: new Map(), transitions: 0, notified: 0 }));
  return replay;
}

const keyOf = (rule: string, model: string, subject: string) => `${rule}\u0000${model}\u0000${subject}`;

/**
 * Runs the rules over each analysed window's results. The state of every
 * series that is not inactive lives in memory and in the store
 * (alert_states), written before anyone is told, so a restart resumes where
 * it stopped: a firing alert stays firing, and a window already evaluated is
 * never evaluated again (which would count a breach twice or fire twice).
 */
export class AlertEngine {
  private readonly states = new Map<string, StoredState>();
  /** Per model, the end of the newest window the live states were stepped for. */
  private readonly evaluated = new Map<string, number>();
  private loaded = false;

  constructor(
    private readonly deps: AlertEngineDeps,
    private readonly rules: readonly Rule[],
  ) {}

  get ruleList(): readonly Rule[] {
    return this.rules;
  }

  /** Loads the stored states; series of rules no longer in the file are dropped. */
  async start(): Promise<void> {
    const names = new Set(this.rules.map((r) => r.name));
    for (const s of await loadAlertStates(this.deps.sql)) {
      if (names.has(s.rule)) this.states.set(keyOf(s.rule, s.model, s.subject), s);
      this.evaluated.set(s.model, Math.max(this.evaluated.get(s.model) ?? 0, s.window_end));
    }
    this.loaded = true;
    this.publish();
    this.notifyAlertmanager([]);
  }

  /** Drops every series of a deleted model (its stored states are deleted with it). */
  forgetModel(model: string): void {
    for (const [key, s] of this.states) if (s.model === model) this.states.delete(key);
    this.publish();
    this.notifyAlertmanager([]);
  }

  /** Series that are pending or firing (or resolved in the last window). */
  active(): StoredState[] {
    return [...this.states.values()].sort((a, b) => a.rule.localeCompare(b.rule) || a.model.localeCompare(b.model) || a.subject.localeCompare(b.subject));
  }

  /**
   * Evaluates every rule for one window's results; returns the transitions it stored.
   *
   * A live window advances the live states and notifies. A backfill's window
   * (docs/backfill.md) does so too only when it closed less than
   * `notifyMaxAgeMs` ago and the live states have not reached it yet; any
   * other is replayed on states of the backfill's own, carried from window
   * to window in `run.carry`: its transitions go to the history, the live
   * states and the receivers never hear of it. A late re-analysis of a
   * window the rules saw already changes nothing here.
   */
  async runWindow(window: { from: number; to: number }, results: WindowResults, run?: AlertRun): Promise<AlertEvent[]> {
    if (!this.loaded) await this.start();
    const at = this.deps.now ? this.deps.now() : Date.now();
    if (run?.reason === 'late') return [];
    const replay = run?.reason === 'backfill' ? replayOf(run.carry) : null;
    const models = new Set([...results.drift.map((r) => r.model), ...results.performance.keys(), ...results.shadow.map((r) => r.model)]);
    const live =
      !replay || (at - window.to < (this.deps.notifyMaxAgeMs ?? 0) && [...models].every((m) => (this.evaluated.get(m) ?? 0) < window.to));
    if (!live) {
      const { events } = this.evaluate(window, results, replay.states, at);
      await saveAlertEvents(this.deps.sql, events);
      replay.transitions += events.length;
      return events;
    }
    const { changed, events, notices } = this.evaluate(window, results, this.states, at);
    for (const m of models) this.evaluated.set(m, Math.max(this.evaluated.get(m) ?? 0, window.to));
    for (const e of events) this.deps.metrics.alertTransitions.inc({ rule: e.rule, to: e.to_status });
    // Stored before anyone hears of it: a crash after this line re-sends, never re-fires.
    await saveAlertStates(this.deps.sql, changed, at);
    await saveAlertEvents(this.deps.sql, events);
    this.publish();
    for (const { notice, to } of notices) this.deps.webhooks.send(notice, to);
    this.notifyAlertmanager(notices.filter((n) => n.to === 'resolved').map((n) => n.notice));
    if (replay) {
      replay.transitions += events.length;
      replay.notified += notices.length;
    }
    return events;
  }

  /** Steps every series the rules and `states` know for one window; `states` is changed in place. */
  private evaluate(window: { from: number; to: number }, results: WindowResults, states: Map<string, StoredState>, at: number) {
    const changed: StoredState[] = [];
    const events: AlertEvent[] = [];
    const notices: { notice: AlertNotice; to: 'firing' | 'resolved' }[] = [];
    for (const rule of this.rules) {
      const values = new Map(signalsFor(rule, results).map((s) => [keyOf(rule.name, s.model, s.subject), s]));
      const keys = new Set(values.keys());
      for (const [key, s] of states) if (s.rule === rule.name && this.covered(rule, s, results)) keys.add(key);
      for (const key of keys) {
        const signal = values.get(key);
        const stored = states.get(key);
        const prev: SeriesState = stored ?? INACTIVE;
        if (prev.window_end >= window.to) continue;
        const [, model, subject] = key.split('\u0000');
        const next = step(prev, signal ? signal.value : null, rule, window.to);
        const state: StoredState = { ...next, rule: rule.name, model, subject, severity: rule.severity };
        if (next.status === 'inactive') states.delete(key);
        else states.set(key, state);
        if (stored || next.status !== 'inactive') changed.push(state);
        if (next.status !== prev.status) {
          events.push({
            at,
            rule: rule.name,
            model,
            subject,
            from_status: prev.status,
            to_status: next.status,
            value: next.value,
            threshold: next.status === 'firing' || next.status === 'pending' ? rule.threshold : rule.resolve_threshold,
            severity: rule.severity,
            window_start: window.from,
            window_end: window.to,
          });
          if (next.status === 'firing' || next.status === 'resolved') notices.push({ notice: { rule, model, subject, state: next }, to: next.status });
        }
      }
    }
    return { changed, events, notices };
  }

  /**
   * Whether this window's results speak about the series at all: a model
   * whose analysis failed, or a shadow not reported, leaves its alerts as
   * they are instead of resolving them for lack of a value.
   */
  private covered(rule: Rule, s: StoredState, results: WindowResults): boolean {
    const metric = parseMetric(rule.metric);
    if (typeof metric === 'string') return false;
    switch (metric.family) {
      case 'performance':
        return results.performance.has(s.model);
      case 'shadow':
        return results.shadow.some((r) => r.model === s.model && r.shadow === s.subject);
      case 'ingest':
        return results.kafkaLag !== null;
      default:
        return results.drift.some((r) => r.model === s.model);
    }
  }

  private notifyAlertmanager(resolved: AlertNotice[]): void {
    if (!this.deps.alertmanager) return;
    const rules = new Map(this.rules.map((r) => [r.name, r]));
    const firing = [...this.states.values()]
      .filter((s) => s.status === 'firing')
      .map((s) => ({ rule: rules.get(s.rule)!, model: s.model, subject: s.subject, state: s }));
    this.deps.alertmanager.update(firing, resolved);
  }

  private publish(): void {
    const gauge = this.deps.metrics.alertState;
    gauge.reset();
    for (const s of this.states.values()) {
      if (s.status === 'pending' || s.status === 'firing') gauge.set({ rule: s.rule, model: s.model, subject: s.subject, severity: s.severity, state: s.status }, 1);
    }
  }
}
