/**
 * Command-line flags, declared once per subcommand: the parser and the --help text are both
 * made from the declaration, so they cannot disagree.
 *
 *   --name value   --name=value   --flag (booleans)   positional arguments
 *
 * A mistake (an unknown flag, a missing or malformed value) is a UsageError: the command prints
 * it with a pointer to --help and exits with status 2.
 */

export type FlagKind = 'string' | 'integer' | 'number' | 'boolean';

export interface FlagSpec {
  name: string;
  kind: FlagKind;
  /** One line for --help. */
  help: string;
  /** Shown in --help as the value's placeholder: --epochs <n>. */
  placeholder?: string;
  /** Shown in --help. */
  defaultText?: string;
}

export interface CommandSpec {
  /** e.g. 'fusedoptim train' */
  usage: string;
  /** A paragraph saying what the command does. */
  description: string;
  flags: FlagSpec[];
  /** Names of positional arguments, in order (all required). */
  positionals?: string[];
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ParsedArgs {
  flags: Record<string, string | number | boolean>;
  positionals: string[];
  help: boolean;
}

export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const flags: Record<string, string | number | boolean> = {};
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const flag = spec.flags.find((f) => f.name === name);
    if (!flag) throw new UsageError(`unknown option --${name}`);
    if (flag.kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    // `--epochs --seed 1` is a forgotten value, not the value "--seed".
    const raw = eq >= 0 ? arg.slice(eq + 1) : argv[i + 1]?.startsWith('--') ? undefined : argv[++i];
    if (raw === undefined) throw new UsageError(`--${name} needs a value (${flag.placeholder ?? flag.kind})`);
    flags[name] = convert(flag, raw);
  }
  if (!help) {
    const expected = spec.positionals ?? [];
    if (positionals.length !== expected.length) {
      throw new UsageError(
        expected.length === 0
          ? `unexpected argument ${JSON.stringify(positionals[0])}`
          : `expected ${expected.map((p) => `<${p}>`).join(' ')}, got ${positionals.length} argument(s)`,
      );
    }
  }
  return { flags, positionals, help };
}

function convert(flag: FlagSpec, raw: string): string | number {
  if (flag.kind === 'string') return raw;
  const value = Number(raw);
  const ok = raw.trim() !== '' && Number.isFinite(value) && (flag.kind !== 'integer' || Number.isInteger(value));
  if (!ok) throw new UsageError(`--${flag.name}: expected ${flag.kind === 'integer' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
  return value;
}

export function helpText(spec: CommandSpec): string {
  const lines = [`usage: ${spec.usage}${(spec.positionals ?? []).map((p) => ` <${p}>`).join('')} [options]`, '', spec.description, ''];
  const options = [...spec.flags, { name: 'help', kind: 'boolean' as const, help: 'show this help' }];
  const left = options.map((f) => `  --${f.name}${f.kind === 'boolean' ? '' : ` <${f.placeholder ?? f.kind}>`}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  lines.push('options:');
  options.forEach((f, i) => {
    const def = 'defaultText' in f && f.defaultText !== undefined ? ` (default: ${f.defaultText})` : '';
    lines.push(left[i].padEnd(width) + f.help + def);
  });
  return lines.join('\n') + '\n';
}
