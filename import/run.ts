import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EventLimits } from '../core/event.ts';
import type { Metrics } from '../core/metrics.ts';
import type { JobContext } from '../jobs/registry.ts';
import { EVENT_COLUMNS, LABEL_COLUMNS } from '../store/events.ts';
import type { Sql } from '../store/sql.ts';
import { csvValue, jsonValue, typedValue, type Column } from './columns.ts';
import { buildPlan, type ImportMapping, type Plan } from './mapping.ts';
import { describeSource, engineReason, stageSource, UnreadableError } from './stage.ts';
import type { ImportFormat, Source } from './source.ts';

/** Rejected rows the answer lists with their reason (all are counted). */
export const FIRST_REJECTED = 20;

export interface ImportRequest {
  model: string;
  source: Source;
  format: ImportFormat;
  mapping: ImportMapping;
  /** A folder of this import's own (an upload's), removed when it ends. */
  ownDir?: string;
}

export interface ImportResult {
  rows: number;
  accepted: number;
  rejected: number;
  rejected_by_reason: Record<string, number>;
  first_rejected: { row: number; code: string; reason: string }[];
  labels: number;
  features: string[];
  ignored_columns: string[];
  derived_ids: boolean;
  seconds: number;
}

/** An import whose file was read and whose mapping fits it, ready to run. */
export interface PreparedImport {
  request: ImportRequest;
  columns: Column[];
  plan: Plan;
}

export interface ImporterDeps {
  sql: Sql;
  metrics: Metrics;
  limits: () => EventLimits;
  /** Why writes are refused now (a full disk), or null. */
  writesRefused?: () => string | null;
}

export interface ImporterOptions {
  /** Where staged parts (and uploads) are kept while an import runs: DATA_DIR/import. */
  dir: string;
  /** Rows per part: per statement into the store, per progress step. */
  chunkRows: number;
}

/**
 * Imports files of past events into the store, the engine doing all the
 * reading, mapping and validation in SQL (import/mapping.ts): the file is
 * staged once into parts (import/stage.ts), then each part is judged and
 * its good rows inserted into events (and labels), counted by reason.
 */
export class Importer {
  constructor(
    private readonly deps: ImporterDeps,
    private readonly options: ImporterOptions,
  ) {
    // One process holds DATA_DIR (the engine locks it), so anything here is a crashed run's.
    rmSync(options.dir, { recursive: true, force: true });
    mkdirSync(options.dir, { recursive: true });
  }

  /** A fresh folder for one import (an upload is written into it). */
  newDir(): string {
    return mkdtempSync(join(this.options.dir, 'job-'));
  }

  /**
   * Reads the file's columns and builds the mapping: what can be refused
   * before anything runs is refused here (UnreadableError, MappingError,
   * SourceError), so the route answers 4xx rather than a failed job.
   */
  async prepare(request: ImportRequest): Promise<PreparedImport> {
    const columns = await describeSource(this.deps.sql, request.source, request.format);
    const limits = this.deps.limits();
    const valueOf =
      request.format === 'ndjson'
        ? (_c: Column, i: number) => jsonValue(`k${i}`)
        : request.format === 'csv'
          ? csvValue
          : typedValue;
    const plan = buildPlan(
      columns,
      valueOf,
      request.mapping,
      { maxFeatures: limits.maxFeatures, minMs: limits.now - limits.maxAgeMs, maxMs: limits.now + limits.maxFutureSkewMs },
      { json: request.format === 'ndjson' },
    );
    plan.params.model = request.model;
    if (request.format === 'ndjson') columns.forEach((c, i) => (plan.params[`k${i}`] = c.name));
    return { request, columns, plan };
  }

  async run(prepared: PreparedImport, ctx: JobContext): Promise<ImportResult> {
    const started = Date.now();
    const { request, plan } = prepared;
    const dir = request.ownDir ?? this.newDir();
    const { sql, metrics } = this.deps;
    const step = () => {
      if (ctx.signal.aborted) throw new Error('cancelled');
      const refused = this.deps.writesRefused?.();
      if (refused) throw new Error(`writes are refused: ${refused}`);
    };
    try {
      step();
      const parts = await stageSource(sql, request.source, request.format, prepared.columns, dir, this.options.chunkRows);
      const total = parts.reduce((n, p) => n + p.rows, 0);
      ctx.progress(0, total);
      const result: ImportResult = {
        rows: total,
        accepted: 0,
        rejected: 0,
        rejected_by_reason: {},
        first_rejected: [],
        labels: 0,
        features: plan.features,
        ignored_columns: plan.ignored,
        derived_ids: plan.derivedIds,
        seconds: 0,
      };
      let done = 0;
      for (const part of parts) {
        step();
        const judged = `(SELECT ${plan.select} FROM file({part:String}, 'Native'))`;
        const params = { ...plan.params, part: part.file };
        const outcome = await sql.query<{ code: string; n: number; labels: number; first: [number, string][] }>(
          `SELECT splitByChar(':', reason, 2)[1] AS code, count() AS n,
                  countIf(label_num IS NOT NULL OR label_cat IS NOT NULL) AS labels,
                  groupArrayIf(${FIRST_REJECTED})((row, substring(reason, length(code) + 2)), reason != '') AS first
           FROM ${judged} GROUP BY code`,
          params,
        );
        step();
        const good = outcome.find((o) => o.code === '');
        // A part with no bad row (the common case) is inserted without judging its rows again.
        const allGood = Number(good?.n ?? 0) === part.rows;
        if (good) {
          await sql.command(
            `INSERT INTO events (${EVENT_COLUMNS.join(', ')}) SELECT ${EVENT_COLUMNS.join(', ')} FROM ${judged}${allGood ? '' : " WHERE reason = ''"}`,
            params,
          );
        }
        if (plan.hasLabel && Number(good?.labels ?? 0) > 0) {
          await sql.command(
            `INSERT INTO labels (${LABEL_COLUMNS.join(', ')}) SELECT ${LABEL_COLUMNS.join(', ')} FROM ${judged}
             WHERE reason = '' AND (label_num IS NOT NULL OR label_cat IS NOT NULL)`,
            params,
          );
        }
        for (const o of outcome) {
          const n = Number(o.n);
          if (o.code === '') {
            result.accepted += n;
            result.labels += Number(o.labels);
            continue;
          }
          result.rejected += n;
          result.rejected_by_reason[o.code] = (result.rejected_by_reason[o.code] ?? 0) + n;
          metrics.ingestRejected.inc({ stream: 'events', reason: o.code }, n);
          for (const [row, reason] of o.first) result.first_rejected.push({ row: Number(row), code: o.code, reason });
        }
        result.first_rejected.sort((a, b) => a.row - b.row).splice(FIRST_REJECTED);
        metrics.ingestItems.inc({ stream: 'events', source: 'import', outcome: 'accepted' }, Number(good?.n ?? 0));
        metrics.ingestItems.inc({ stream: 'events', source: 'import', outcome: 'rejected' }, part.rows - Number(good?.n ?? 0));
        if (plan.hasLabel) metrics.ingestItems.inc({ stream: 'labels', source: 'import', outcome: 'accepted' }, Number(good?.labels ?? 0));
        rmSync(part.file, { force: true });
        done += part.rows;
        ctx.progress(done, total);
      }
      result.seconds = (Date.now() - started) / 1000;
      return result;
    } catch (err) {
      // The job's error is read by a person: the engine's sentence, not its stack.
      if (ctx.signal.aborted || err instanceof UnreadableError) throw err;
      throw new Error(engineReason(err));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
