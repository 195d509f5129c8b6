import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseSettingsFile } from '../core/settings-file.ts';

/**
 * API keys: who may do what (scopes) to which models (name patterns, as in
 * core/patterns.ts). Read once at start-up from API_KEYS (keys with every
 * scope, as before scopes existed) and API_KEYS_FILE (YAML or JSON, one entry
 * per key). Secrets are kept only as SHA-256 digests, and a file may hold
 * just the digest, so it need not be a secret itself.
 */
export const SCOPES = ['ingest', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  name: string;
  /** SHA-256 of the secret. */
  digest: Buffer;
  scopes: readonly Scope[];
  /** Model name patterns; ['*'] is every model. */
  models: readonly string[];
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest();

const HEX_DIGEST = /^[0-9a-fA-F]{64}$/;
// A model name (core/event.ts MODEL_NAME), optionally ending in * for a prefix; or * alone.
const MODEL_PATTERN = /^(\*|[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\*?)$/;

const KeyEntry = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, 'a letter or digit, then up to 63 of A-Z a-z 0-9 _ . @ -'),
    // Long enough that guessing is hopeless; `openssl rand -hex 32` gives 64.
    secret: z.string().min(16, 'at least 16 characters').max(1024).optional(),
    sha256: z.string().regex(HEX_DIGEST, 'the hex SHA-256 of the secret: 64 of 0-9 a-f').optional(),
    scopes: z.array(z.enum(SCOPES)).min(1),
    models: z.array(z.string().regex(MODEL_PATTERN, 'a model name, a prefix ending in *, or *')).min(1).default(['*']),
  })
  .strict()
  .refine((k) => (k.secret === undefined) !== (k.sha256 === undefined), { message: 'give exactly one of secret and sha256' });

const KeysFile = z.object({ keys: z.array(KeyEntry).min(1) }).strict();

export class KeysError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid API keys:\n  ${problems.join('\n  ')}`);
    this.name = 'KeysError';
  }
}

/** The keys of a keys file's text (YAML, of which JSON is a part); throws KeysError naming each problem by its place. */
export function parseKeysFile(text: string, source = 'keys'): ApiKey[] {
  const result = parseSettingsFile(text, KeysFile);
  if (!result.ok) throw new KeysError(source, result.problems);
  return result.value.keys.map((k) => ({
    name: k.name,
    digest: k.sha256 !== undefined ? Buffer.from(k.sha256, 'hex') : sha256(k.secret!),
    scopes: [...new Set(k.scopes)],
    models: k.models,
  }));
}

/**
 * API_KEYS entries: a secret, or `sha256:<hex digest>`. Each has every scope
 * and every model, which is what a key meant before scopes.
 */
export function envKeys(entries: readonly string[]): ApiKey[] {
  return entries.map((entry, i) => {
    const hex = /^sha256:(.*)$/i.exec(entry)?.[1];
    if (hex !== undefined && !HEX_DIGEST.test(hex)) throw new KeysError('API_KEYS', [`entry ${i + 1}: sha256: needs 64 hex digits`]);
    return { name: `API_KEYS[${i + 1}]`, digest: hex !== undefined ? Buffer.from(hex, 'hex') : sha256(entry), scopes: SCOPES, models: ['*'] };
  });
}

/** Every configured key; throws KeysError when the file cannot be read or two keys clash. */
export function loadKeys(config: { API_KEYS: readonly string[]; API_KEYS_FILE?: string }): ApiKey[] {
  const keys = envKeys(config.API_KEYS);
  if (config.API_KEYS_FILE) {
    let text: string;
    try {
      text = readFileSync(config.API_KEYS_FILE, 'utf8');
    } catch (err) {
      throw new KeysError(config.API_KEYS_FILE, [`cannot read the file: ${(err as Error).message}`]);
    }
    keys.push(...parseKeysFile(text, config.API_KEYS_FILE));
  }
  checkDistinct(keys);
  return keys;
}

/** Two keys of one name or one secret would make "which key was it" ambiguous. */
function checkDistinct(keys: readonly ApiKey[]): void {
  const problems: string[] = [];
  const names = new Set<string>();
  const digests = new Map<string, string>();
  for (const key of keys) {
    if (names.has(key.name)) problems.push(`key name "${key.name}" is used twice`);
    names.add(key.name);
    const hex = key.digest.toString('hex');
    const other = digests.get(hex);
    if (other !== undefined) problems.push(`keys "${other}" and "${key.name}" have the same secret`);
    digests.set(hex, key.name);
  }
  if (problems.length > 0) throw new KeysError('API keys', problems);
}
