import { ok, reject, type Outcome } from '../core/outcome.ts';

export type BodyFormat = 'json' | 'ndjson';

/** One element of a request body: parsed, or the reason it could not be. */
export type BodyItem = Outcome<unknown>;

export type BodyParse = { ok: true; items: BodyItem[] } | { ok: false; reason: string };

const NEWLINE = 0x0a;

/**
 * Splits a request body into items. A JSON body must be an array (a broken
 * array fails the whole request: there is no telling where elements start);
 * NDJSON is judged line by line, so one bad line costs only itself.
 */
export function parseBody(body: Buffer, format: BodyFormat): BodyParse {
  if (format === 'json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (err) {
      return { ok: false, reason: `body is not valid JSON: ${(err as Error).message}` };
    }
    if (!Array.isArray(parsed)) {
      return { ok: false, reason: 'body must be a JSON array of objects (or NDJSON with Content-Type application/x-ndjson)' };
    }
    return { ok: true, items: parsed.map((value) => ok(value)) };
  }

  const items: BodyItem[] = [];
  let start = 0;
  while (start < body.length) {
    let end = body.indexOf(NEWLINE, start);
    if (end === -1) end = body.length;
    const item = parseLine(body, start, end);
    if (item) items.push(item);
    start = end + 1;
  }
  return { ok: true, items };
}

/** One NDJSON line, body[start, end): null when blank. */
export function parseLine(body: Buffer, start: number, end: number): BodyItem | null {
  const line = body.toString('utf8', start, end).trim();
  if (line.length === 0) return null;
  try {
    return ok(JSON.parse(line));
  } catch (err) {
    return reject('invalid_json', `line is not valid JSON: ${(err as Error).message}`);
  }
}
