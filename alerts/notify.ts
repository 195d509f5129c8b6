import type { Metrics } from '../core/metrics.ts';
import { redactUrl } from './redact.ts';
import type { Rule } from './rules.ts';
import { subjectLabel } from './signals.ts';
import type { SeriesState } from './state.ts';

/**
 * Telling people: Alertmanager (ALERTMANAGER_URL) and, per rule, a plain
 * JSON webhook for teams without one. Both run beside the analysis, never
 * in its way: a slow or dead receiver costs retries in the background, not
 * a late window.
 */
export interface AlertNotice {
  rule: Rule;
  model: string;
  subject: string;
  state: SeriesState;
}

export type Fetch = typeof fetch;

export interface NotifyDeps {
  metrics: Metrics;
  log: { warn: (obj: object, msg: string) => void };
  fetch?: Fetch;
}

/** Prometheus-style labels of an alert series. */
export function alertLabels(n: AlertNotice): Record<string, string> {
  const labels: Record<string, string> = { alertname: n.rule.name, severity: n.rule.severity, ...n.rule.labels };
  if (n.model !== '') labels.model = n.model;
  const subject = subjectLabel(n.rule);
  if (subject && n.subject !== '') labels[subject] = n.subject;
  return labels;
}

const show = (v: number | null) => (v === null ? 'n/a' : Number.isInteger(v) ? String(v) : v.toPrecision(4));

/** Annotations with {{model}}, {{feature}}, {{shadow}}, {{value}}, {{threshold}}, {{for_windows}} filled in. */
export function renderAnnotations(n: AlertNotice): Record<string, string> {
  const vars: Record<string, string> = {
    model: n.model,
    feature: n.subject,
    shadow: n.subject,
    value: show(n.state.value),
    threshold: String(n.rule.threshold),
    resolve_threshold: String(n.rule.resolve_threshold),
    for_windows: String(n.rule.for_windows),
    metric: n.rule.metric,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(n.rule.annotations)) out[k] = v.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, name: string) => vars[name] ?? m);
  return out;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Posts alerts to Alertmanager's v2 API. Firing alerts carry an end time a
 * few resend intervals ahead and are posted again on every evaluation and
 * every `resendMs`, as Prometheus does: if driftwatch dies, Alertmanager
 * resolves them by itself instead of paging forever. Only the newest set is
 * kept: a post that fails is retried with back-off until a newer one
 * replaces it.
 */
export class AlertmanagerClient {
  private firing: AlertNotice[] = [];
  private resolved: AlertNotice[] = [];
  private pending = false;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly stop = new AbortController();

  constructor(
    private readonly url: string,
    private readonly deps: NotifyDeps,
    private readonly options: { resendMs: number; generatorUrl: string; retry: { initialMs: number; maxMs: number } },
  ) {
    this.timer = setInterval(() => this.kick(), options.resendMs);
    this.timer.unref();
  }

  /** The alerts firing now, and those that resolved since the last update. */
  update(firing: AlertNotice[], resolved: AlertNotice[]): void {
    this.firing = firing;
    this.resolved = [...this.resolved, ...resolved];
    this.kick();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.stop.abort();
    await this.running;
  }

  private payload(now: number) {
    const at = (ms: number) => new Date(ms).toISOString();
    const alert = (n: AlertNotice, endsAt: number) => ({
      labels: alertLabels(n),
      annotations: renderAnnotations(n),
      startsAt: at(n.state.fired_at ?? now),
      endsAt: at(endsAt),
      generatorURL: `${this.options.generatorUrl}/v1/alerts?model=${encodeURIComponent(n.model)}`,
    });
    return [
      ...this.firing.map((n) => alert(n, now + 4 * this.options.resendMs)),
      ...this.resolved.map((n) => alert(n, Math.min(now, n.state.resolved_at ?? now))),
    ];
  }

  private kick(): void {
    if (this.firing.length === 0 && this.resolved.length === 0) return;
    this.pending = true;
    this.running ??= this.drain().finally(() => {
      this.running = null;
    });
  }

  private async drain(): Promise<void> {
    const fetchFn = this.deps.fetch ?? fetch;
    let delay = this.options.retry.initialMs;
    while (this.pending && !this.stop.signal.aborted) {
      this.pending = false;
      const resolved = this.resolved;
      const body = JSON.stringify(this.payload(Date.now()));
      try {
        const response = await fetchFn(`${this.url.replace(/\/$/, '')}/api/v2/alerts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(10_000)]),
        });
        if (!response.ok) throw new Error(`Alertmanager answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
        this.deps.metrics.alertNotifications.inc({ channel: 'alertmanager', outcome: 'sent' });
        // Resolved alerts are told once; firing ones again on the next resend.
        this.resolved = this.resolved.filter((n) => !resolved.includes(n));
        delay = this.options.retry.initialMs;
      } catch (err) {
        if (this.stop.signal.aborted) return;
        this.deps.metrics.alertNotifications.inc({ channel: 'alertmanager', outcome: 'retried' });
        this.deps.log.warn({ err: (err as Error).message }, 'posting alerts to Alertmanager failed; retrying');
        this.pending = true;
        await sleep(delay, this.stop.signal);
        delay = Math.min(delay * 2, this.options.retry.maxMs);
      }
    }
  }
}

/**
 * Per-rule webhooks: one JSON POST per transition to firing or resolved,
 * retried with exponential back-off up to `maxAttempts`, from a bounded
 * queue (the oldest notice is dropped, and counted, when it is full).
 */
export class WebhookSender {
  private readonly queue: { url: string; headers: Record<string, string>; body: string; attempts: number }[] = [];
  private running: Promise<void> | null = null;
  private readonly stop = new AbortController();

  constructor(
    private readonly deps: NotifyDeps,
    private readonly options: { maxQueue: number; maxAttempts: number; retry: { initialMs: number; maxMs: number } },
  ) {}

  send(n: AlertNotice, status: 'firing' | 'resolved'): void {
    const hook = n.rule.webhook;
    if (!hook) return;
    const body = JSON.stringify({
      status,
      rule: n.rule.name,
      metric: n.rule.metric,
      severity: n.rule.severity,
      labels: alertLabels(n),
      annotations: renderAnnotations(n),
      value: n.state.value,
      threshold: n.rule.threshold,
      resolve_threshold: n.rule.resolve_threshold,
      fired_at: n.state.fired_at === null ? null : new Date(n.state.fired_at).toISOString(),
      resolved_at: n.state.resolved_at === null ? null : new Date(n.state.resolved_at).toISOString(),
    });
    if (this.queue.length >= this.options.maxQueue) {
      this.queue.shift();
      this.deps.metrics.alertNotifications.inc({ channel: 'webhook', outcome: 'dropped' });
    }
    this.queue.push({ url: hook.url, headers: hook.headers, body, attempts: 0 });
    this.running ??= this.drain().finally(() => {
      this.running = null;
    });
  }

  /** Waits for the queue to empty (tests), or until `close`. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }

  private async drain(): Promise<void> {
    const fetchFn = this.deps.fetch ?? fetch;
    while (this.queue.length > 0 && !this.stop.signal.aborted) {
      const item = this.queue[0];
      item.attempts++;
      try {
        const response = await fetchFn(item.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...item.headers },
          body: item.body,
          signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(10_000)]),
        });
        if (!response.ok) throw new Error(`webhook answered ${response.status}`);
        this.queue.shift();
        this.deps.metrics.alertNotifications.inc({ channel: 'webhook', outcome: 'sent' });
      } catch (err) {
        if (this.stop.signal.aborted) return;
        if (item.attempts >= this.options.maxAttempts) {
          this.queue.shift();
          this.deps.metrics.alertNotifications.inc({ channel: 'webhook', outcome: 'failed' });
          this.deps.log.warn({ err: (err as Error).message, url: redactUrl(item.url) }, 'alert webhook failed; giving up on this notice');
          continue;
        }
        this.deps.metrics.alertNotifications.inc({ channel: 'webhook', outcome: 'retried' });
        const delay = Math.min(this.options.retry.initialMs * 2 ** (item.attempts - 1), this.options.retry.maxMs);
        await sleep(delay, this.stop.signal);
      }
    }
  }
}
