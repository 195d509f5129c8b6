import type { FastifyInstance } from 'fastify';
import type { AlertEngine } from '../../alerts/engine.ts';
import type { AlertStatus } from '../../alerts/state.ts';
import { redactWebhook } from '../../alerts/redact.ts';
import { overlaps } from '../../core/patterns.ts';
import { alertHistory } from '../../store/alerts.ts';
import type { Sql } from '../../store/sql.ts';
import { mayUse, modelForbidden } from '../access.ts';
import { ErrorResponse } from '../schemas.ts';
import { iso, parseHistoryRange } from '../time.ts';

const when = (ms: number | null) => (ms === null ? null : iso(ms));
const NullableTime = { type: ['string', 'null'], format: 'date-time' } as const;

const Series = {
  type: 'object',
  properties: {
    rule: { type: 'string' },
    model: { type: 'string' },
    subject: { type: 'string' },
    severity: { type: 'string' },
    status: { type: 'string' },
    value: { type: ['number', 'null'] },
    breaches: { type: 'integer' },
    clears: { type: 'integer' },
    active_since: NullableTime,
    fired_at: NullableTime,
    resolved_at: NullableTime,
    window_end: { type: 'string', format: 'date-time' },
  },
} as const;

const Transition = {
  type: 'object',
  properties: {
    at: { type: 'string', format: 'date-time' },
    rule: { type: 'string' },
    model: { type: 'string' },
    subject: { type: 'string' },
    from_status: { type: 'string' },
    to_status: { type: 'string' },
    value: { type: ['number', 'null'] },
    threshold: { type: 'number' },
    severity: { type: 'string' },
    window_start: { type: 'string', format: 'date-time' },
    window_end: { type: 'string', format: 'date-time' },
  },
} as const;

/** Alerts: what is pending or firing now, and the history of transitions. */
export async function alertRoutes(app: FastifyInstance, options: { sql: Sql; engine: AlertEngine }): Promise<void> {
  app.get<{ Querystring: { from?: string; to?: string; model?: string; status?: AlertStatus; limit: number } }>(
    '/v1/alerts',
    {
      config: { scope: 'read', models: 'filtered' },
      schema: {
        summary: 'Alert series that are pending or firing now, and the transitions of windows ending in [from, to), newest first',
        tags: ['alerts'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { type: 'string', maxLength: 64 },
            to: { type: 'string', maxLength: 64 },
            model: { type: 'string', maxLength: 128 },
            status: { type: 'string', enum: ['pending', 'firing', 'resolved', 'inactive'] },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: {
          200: { type: 'object', properties: { active: { type: 'array', items: Series }, history: { type: 'array', items: Transition } } },
          400: ErrorResponse,
        },
      },
    },
    async (request) => {
      const { model, status, limit } = request.query;
      const range = parseHistoryRange(request.query.from, request.query.to);
      const { grant } = request;
      if (model !== undefined && !mayUse(grant, model)) throw modelForbidden(grant, model);
      const history = await alertHistory(options.sql, { ...range, model, status, limit, models: grant.models });
      const active = options.engine
        .active()
        .filter((s) => (model === undefined || s.model === model) && mayUse(grant, s.model) && s.status !== 'resolved' && (status === undefined || s.status === status));
      return {
        active: active.map((s) => ({ ...s, active_since: when(s.active_since), fired_at: when(s.fired_at), resolved_at: when(s.resolved_at), window_end: iso(s.window_end) })),
        history: history.map((e) => ({ ...e, at: iso(e.at), window_start: iso(e.window_start), window_end: iso(e.window_end) })),
      };
    },
  );

  app.get(
    '/v1/alerts/rules',
    {
      config: { scope: 'read', models: 'filtered' },
      schema: {
        summary: 'The alert rules in force (ALERT_RULES_FILE, or the shipped defaults)',
        tags: ['alerts'],
        response: { 200: { type: 'object', properties: { rules: { type: 'array', items: { type: 'object', additionalProperties: true } } } } },
      },
    },
    // A key limited to models sees the rules that can apply to one of them.
    async (request) => ({
      rules: options.engine.ruleList
        .filter((r) => request.grant.models === undefined || overlaps(r.models, request.grant.models))
        .map(({ webhook, ...r }) => ({ ...r, webhook: webhook ? redactWebhook(webhook) : undefined })),
    }),
  );
}
