import { describe, expect, it } from 'vitest';
import { parseBody } from '../../ingest/body.ts';

describe('parseBody', () => {
  it('reads a JSON array', () => {
    const parsed = parseBody(Buffer.from('[{"a":1},{"b":2}]'), 'json');
    expect(parsed).toEqual({ ok: true, items: [{ ok: true, value: { a: 1 } }, { ok: true, value: { b: 2 } }] });
  });
  it('fails a truncated JSON body as a whole', () => {
    const parsed = parseBody(Buffer.from('[{"a":1},{"b":'), 'json');
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.reason).toMatch(/not valid JSON/);
  });
  it('fails a JSON body that is not an array', () => {
    const parsed = parseBody(Buffer.from('{"a":1}'), 'json');
    expect(!parsed.ok && parsed.reason).toMatch(/must be a JSON array/);
  });
  it('judges NDJSON line by line, skipping blank lines', () => {
    const parsed = parseBody(Buffer.from('{"a":1}\n\n{broken\r\n{"c":3}\n'), 'ndjson');
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.items.map((i) => i.ok)).toEqual([true, false, true]);
    expect(parsed.items[1]).toMatchObject({ ok: false, code: 'invalid_json' });
    expect(parsed.items[2]).toEqual({ ok: true, value: { c: 3 } });
  });
  it('keeps multi-byte characters intact', () => {
    const parsed = parseBody(Buffer.from('{"city":"Zürich ✓"}\n'), 'ndjson');
    expect(parsed.ok && parsed.items[0]).toEqual({ ok: true, value: { city: 'Zürich ✓' } });
  });
});
