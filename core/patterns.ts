/**
 * Name patterns, as alert rules select models and features and API keys
 * limit models: "*" is anything, "prefix*" a prefix, anything else exactly.
 * One definition, so that "credit-*" means the same in both files.
 */
export function matches(patterns: readonly string[], value: string): boolean {
  return patterns.some((p) => p === '*' || p === value || (p.endsWith('*') && value.startsWith(p.slice(0, -1))));
}

/** Whether some name matches both a pattern of `a` and one of `b`. */
export function overlaps(a: readonly string[], b: readonly string[]): boolean {
  const prefix = (p: string) => (p.endsWith('*') ? { text: p.slice(0, -1), open: true } : { text: p, open: false });
  return a.some((pa) =>
    b.some((pb) => {
      const x = prefix(pa);
      const y = prefix(pb);
      if (x.open && y.open) return x.text.startsWith(y.text) || y.text.startsWith(x.text);
      if (x.open) return y.text.startsWith(x.text);
      if (y.open) return x.text.startsWith(y.text);
      return x.text === y.text;
    }),
  );
}
