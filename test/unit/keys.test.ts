import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envKeys, KeysError, loadKeys, parseKeysFile } from '../../api/keys.ts';
import { parseConfig } from '../../core/config.ts';
import { matches, overlaps } from '../../core/patterns.ts';
import { tempDir } from '../helpers.ts';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const problems = (text: string) => {
  try {
    parseKeysFile(text, 'keys.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(KeysError);
    return (err as KeysError).problems;
  }
  throw new Error('expected a KeysError');
};

describe('keys file', () => {
  it('reads YAML and JSON entries, keeping only digests', () => {
    const yaml = parseKeysFile(`
keys:
  - name: ingest-credit
    secret: a-long-enough-secret-value
    scopes: [ingest]
    models: [credit-*, scoring]
  - name: dashboards
    sha256: ${hex('dashboards-secret-0000')}
    scopes: [read, read]
`);
    expect(yaml.map((k) => ({ ...k, digest: k.digest.toString('hex') }))).toEqual([
      { name: 'ingest-credit', digest: hex('a-long-enough-secret-value'), scopes: ['ingest'], models: ['credit-*', 'scoring'] },
      { name: 'dashboards', digest: hex('dashboards-secret-0000'), scopes: ['read'], models: ['*'] },
    ]);
    const json = parseKeysFile(JSON.stringify({ keys: [{ name: 'ops', sha256: hex('x'.repeat(20)), scopes: ['admin', 'read'] }] }));
    expect(json[0].scopes).toEqual(['admin', 'read']);
  });

  it('names each problem by its place', () => {
    expect(problems('keys: [{ name: a, secret: short, scopes: [read] }]')).toEqual(['keys[0].secret: at least 16 characters']);
    expect(problems(`keys: [{ name: a, secret: ${'s'.repeat(16)}, sha256: ${hex('s')}, scopes: [read] }]`)).toEqual(['keys[0]: give exactly one of secret and sha256']);
    expect(problems(`keys: [{ name: a, sha256: abc, scopes: [write], models: ["fraud*x"] }]`)).toEqual([
      'keys[0].sha256: the hex SHA-256 of the secret: 64 of 0-9 a-f',
      expect.stringMatching(/^keys\[0\]\.scopes\[0\]: .*"ingest"\|"read"\|"admin"/),
      'keys[0].models[0]: a model name, a prefix ending in *, or *',
    ]);
    expect(problems(`keys: [{ name: a, secret: ${'s'.repeat(16)}, scopes: [] , models: [] , extra: 1}]`)).toEqual([
      expect.stringMatching(/^keys\[0\]\.scopes: /),
      expect.stringMatching(/^keys\[0\]\.models: /),
      'keys[0]: Unrecognized key: "extra"',
    ]);
    expect(problems('keys: [')[0]).toMatch(/at line 1/);
    expect(problems('')).toEqual([expect.stringMatching(/^keys: /)]);
  });
});

describe('API_KEYS', () => {
  it('are keys with every scope for every model, by secret or sha256:<hex>', () => {
    const [plain, digest] = envKeys(['k1', `sha256:${hex('k2')}`]);
    expect(plain).toMatchObject({ name: 'API_KEYS[1]', scopes: ['ingest', 'read', 'admin'], models: ['*'] });
    expect(plain.digest.toString('hex')).toBe(hex('k1'));
    expect(digest.digest.toString('hex')).toBe(hex('k2'));
    expect(() => envKeys(['sha256:1234'])).toThrow(/entry 1: sha256: needs 64 hex digits/);
  });

  it('join the file, and two keys of one name or one secret stop start-up', () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, 'keys.yaml');
      writeFileSync(file, `keys:\n  - { name: a, secret: ${'s'.repeat(16)}, scopes: [read] }\n  - { name: a, secret: ${'t'.repeat(16)}, scopes: [read] }\n`);
      expect(() => loadKeys({ API_KEYS: [], API_KEYS_FILE: file })).toThrow(/key name "a" is used twice/);
      writeFileSync(file, `keys:\n  - { name: a, secret: ${'s'.repeat(16)}, scopes: [read] }\n`);
      expect(() => loadKeys({ API_KEYS: ['s'.repeat(16)], API_KEYS_FILE: file })).toThrow(/keys "API_KEYS\[1\]" and "a" have the same secret/);
      expect(loadKeys({ API_KEYS: ['other'], API_KEYS_FILE: file }).map((k) => k.name)).toEqual(['API_KEYS[1]', 'a']);
      expect(() => loadKeys({ API_KEYS: [], API_KEYS_FILE: join(dir.path, 'missing.yaml') })).toThrow(/cannot read the file/);
    } finally {
      dir.remove();
    }
  });

  it('settings default to no file and /metrics, /docs/json needing a read key', () => {
    const config = parseConfig({});
    expect(config.API_KEYS_FILE).toBeUndefined();
    expect(config.METRICS_DOCS_ACCESS).toBe('read');
    expect(parseConfig({ METRICS_DOCS_ACCESS: 'open' }).METRICS_DOCS_ACCESS).toBe('open');
    expect(() => parseConfig({ METRICS_DOCS_ACCESS: 'public' })).toThrow(/METRICS_DOCS_ACCESS/);
  });
});

describe('model patterns', () => {
  it('overlap when some name matches both', () => {
    const cases: [string[], string[], boolean][] = [
      [['*'], ['credit-a'], true],
      [['credit-*'], ['credit-a'], true],
      [['credit-*'], ['cred*'], true],
      [['credit-*'], ['fraud'], false],
      [['credit-*'], ['fraud-*', 'credit'], false],
      [['credit'], ['credit'], true],
      [['credit'], ['credit-*'], false],
    ];
    for (const [a, b, expected] of cases) {
      expect(`${a} ~ ${b}: ${overlaps(a, b)}`).toBe(`${a} ~ ${b}: ${expected}`);
      expect(overlaps(b, a)).toBe(expected);
      // An overlap is a name that both match, and none without one.
      for (const name of ['credit', 'credit-a', 'fraud', 'cred']) if (matches(a, name) && matches(b, name)) expect(overlaps(a, b)).toBe(true);
    }
  });
});
