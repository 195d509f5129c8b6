import { parseDocument } from 'yaml';
import type { z } from 'zod';

/**
 * A settings file people write (alert rules, API keys): YAML, of which JSON
 * is a part, checked by a zod schema. The problems are each named by their
 * place (`rules[2].threshold: ...`, or the line for a syntax error), so one
 * start-up reports all of them.
 */
export function parseSettingsFile<S extends z.ZodType>(text: string, schema: S): { ok: true; value: z.output<S> } | { ok: false; problems: string[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) return { ok: false, problems: doc.errors.map((e) => e.message.split('\n')[0]) };
  const result = schema.safeParse(doc.toJS() ?? {});
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => {
      const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
      return `${path || '(file)'}: ${issue.message}`;
    }),
  };
}
