import type { Metrics } from '../core/metrics.ts';
import type { Sql } from './sql.ts';

export interface DetachedPart {
  table: string;
  name: string;
  reason: string;
  path: string;
}

/**
 * Parts of the service's tables the engine has set aside in `detached/`
 * (a damaged part found at start is renamed broken-on-start_<name>): rows
 * no query sees. Parts an operator detached by hand have no reason and are
 * left out.
 */
export async function detachedParts(sql: Sql): Promise<DetachedPart[]> {
  return sql.query<DetachedPart>(
    "SELECT table, name, reason, path FROM system.detached_parts WHERE database = currentDatabase() AND reason != '' ORDER BY table, name",
  );
}

/** Damaged-part reasons: rows the engine holds and no query sees, an operator must look at. */
const DAMAGED = /^(broken|unexpected|covered-by-broken|noquorum)/;

/**
 * Says loudly, once a start, which parts the engine detached: an error line
 * naming each damaged one, and the count per reason as a gauge.
 */
export async function reportDetachedParts(sql: Sql, deps: { metrics: Metrics; log: { error: (obj: object, msg: string) => void } }): Promise<DetachedPart[]> {
  const parts = await detachedParts(sql);
  deps.metrics.storeDetachedParts.reset();
  for (const part of parts) {
    deps.metrics.storeDetachedParts.inc({ reason: part.reason });
    if (DAMAGED.test(part.reason)) {
      deps.log.error(
        { table: part.table, part: part.name, reason: part.reason, path: part.path },
        `the engine detached part ${part.name} of table ${part.table} (${part.reason}): its rows are not visible; see docs/operations.md, "Durability and a full disk"`,
      );
    }
  }
  return parts;
}
