/** A tiny argv parser: `command positional... --flag value --switch`. */
export interface ParsedArgs {
  command: string | undefined;
  positionals: string[];
  options: Map<string, string | true>;
}

const SWITCHES = new Set(['json', 'help', 'version']);

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const [key, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (inline !== undefined) options.set(key, inline);
    else if (SWITCHES.has(key) || i + 1 >= argv.length || argv[i + 1].startsWith('--')) options.set(key, true);
    else options.set(key, argv[++i]);
  }
  return { command: positionals.shift(), positionals, options };
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function stringOption(args: ParsedArgs, key: string): string | undefined {
  const value = args.options.get(key);
  if (value === true) throw new UsageError(`--${key} needs a value`);
  return value;
}

export function numberOption(args: ParsedArgs, key: string, fallback: number): number {
  const value = stringOption(args, key);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${key} expects a number, got "${value}"`);
  return n;
}

/** A `--key` value that must be one of `allowed`; undefined when the option is absent. */
export function choiceOption<T extends string>(args: ParsedArgs, key: string, allowed: readonly T[]): T | undefined {
  const value = stringOption(args, key);
  if (value === undefined) return undefined;
  const match = allowed.find((candidate) => candidate === value);
  if (match === undefined) throw new UsageError(`--${key} must be one of ${allowed.join(', ')}, got "${value}"`);
  return match;
}
