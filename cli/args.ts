import { CONFIG_KEYS, flagFor } from '../core/config.ts';

export class UsageError extends Error {}

export interface ParsedArgs {
  command: string | undefined;
  /** Config keys set by flags (--data-dir x -> DATA_DIR=x). */
  config: Record<string, string>;
  /** Command-specific flags (--duration 60 -> duration=60). */
  extra: Record<string, string>;
  /** Arguments after the command that are not flags (driftwatch import PATH), up to the number allowed. */
  positionals: string[];
  help: boolean;
}

const CONFIG_FLAGS = new Map(CONFIG_KEYS.map((key) => [flagFor(key), key as string]));

/**
 * Splits argv into a command, config flags and the command's own flags
 * (`allowed` take a value; `switches` take none and are set to "true").
 */
export function parseArgs(argv: readonly string[], allowed: readonly string[], switches: readonly string[] = [], maxPositionals = 0): ParsedArgs {
  const out: ParsedArgs = { command: undefined, config: {}, extra: {}, positionals: [], help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      if (out.command === undefined) out.command = arg;
      else if (out.positionals.length < maxPositionals) out.positionals.push(arg);
      else throw new UsageError(`unexpected argument "${arg}"`);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    if (eq === -1 && switches.includes(flag.slice(2))) {
      out.extra[flag.slice(2)] = 'true';
      continue;
    }
    let value = eq === -1 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      i++;
    }
    const key = CONFIG_FLAGS.get(flag);
    if (key) out.config[key] = value;
    else if (allowed.includes(flag.slice(2))) out.extra[flag.slice(2)] = value;
    else throw new UsageError(`unknown option ${flag}`);
  }
  return out;
}
