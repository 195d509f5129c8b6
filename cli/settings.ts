import { CONFIG_FIELDS, CONFIG_KEYS, ConfigError, ingestAckFor, parseConfig } from '../core/config.ts';

// Settings whose value is a credential: shown as set or not, never printed.
const SECRET = /PASSWORD|SECRET|TOKEN|API_KEY/;

interface ZodLike {
  def: { type: string; in?: ZodLike; innerType?: ZodLike; defaultValue?: unknown };
}

/** A setting's default as it would be written (5m, not 300000): read from its schema in core/config.ts. */
function defaultOf(schema: ZodLike): string | undefined {
  const { def } = schema;
  if (def.type === 'pipe' && def.in) return defaultOf(def.in);
  if (def.type === 'default') return String(typeof def.defaultValue === 'function' ? def.defaultValue() : def.defaultValue);
  return undefined;
}

const masked = (key: string, value: string) => {
  if (SECRET.test(key)) return value === '' ? '' : '********';
  // A URL may carry a password in it (http://user:pass@host).
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]+):[^@/]*@/i, '$1:********@');
};

const shown = (value: string) => (value === '' ? '(empty)' : value);

export interface SettingRow {
  key: string;
  default: string;
  current: string;
  from: 'flag' | 'env' | 'default';
}

/** Every setting with its default and the value this environment and these flags give it. */
export function settingRows(env: Record<string, string | undefined>, flags: Record<string, string>): SettingRow[] {
  return CONFIG_KEYS.map((key) => {
    const fallback = defaultOf(CONFIG_FIELDS[key] as unknown as ZodLike);
    const given = flags[key] ?? (env[key] === '' ? undefined : env[key]);
    const from = flags[key] !== undefined ? 'flag' : given !== undefined ? 'env' : 'default';
    let current = given ?? fallback ?? '(unset)';
    // The one default that depends on another setting.
    if (key === 'INGEST_ACK' && given === undefined) current = ingestAckFor({ CLICKHOUSE_URL: flags.CLICKHOUSE_URL ?? env.CLICKHOUSE_URL });
    return {
      key,
      default:
        key === 'INGEST_ACK'
          ? 'journaled (embedded) | stored (CLICKHOUSE_URL)'
          : key === 'ALERT_NOTIFY_MAX_AGE'
            ? 'ANALYSIS_WINDOW + ANALYSIS_GRACE'
            : key === 'ANALYSIS_MODEL_TIMEOUT'
              ? 'ANALYSIS_WINDOW, at least 5m'
              : shown(fallback ?? '(unset)'),
      current: shown(masked(key, current)),
      from,
    };
  });
}

/** The table `driftwatch config` prints, then whether the settings are valid (null) or what is wrong. */
export function settingsReport(env: Record<string, string | undefined>, flags: Record<string, string>): { text: string; problems: string | null } {
  const rows = settingRows(env, flags);
  const header = { key: 'setting', default: 'default', current: 'current', from: 'from' };
  const width = (pick: (r: typeof header) => string) => Math.max(...[header, ...rows].map((r) => pick(r).length));
  const [wk, wd, wc] = [width((r) => r.key), width((r) => r.default), width((r) => r.current)];
  const line = (r: typeof header) => `${r.key.padEnd(wk)}  ${r.default.padEnd(wd)}  ${r.current.padEnd(wc)}  ${r.from}`.trimEnd();
  const text = [line(header), ...rows.map(line)].join('\n') + '\n';
  try {
    parseConfig({ ...env, ...flags });
    return { text, problems: null };
  } catch (err) {
    if (err instanceof ConfigError) return { text, problems: err.message };
    throw err;
  }
}
