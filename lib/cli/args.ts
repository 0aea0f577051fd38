/**
 * Command-line flags, declared once per subcommand: the parser and the --help text are both
 * made from the declaration, so they cannot disagree.
 *
 *   --name value   --name=value   --flag (booleans)   positional arguments
 *
 * A mistake (an unknown flag, a missing value, a value out of the flag's range or choices) is a
 * UsageError naming the flag as the user typed it (`--epochs must be an integer >= 1, got -1`):
 * the command prints it with a pointer to --help and exits with status 2. A flag declares its
 * range, so a bad value is refused here, in the user's words, before any library call would
 * refuse it in its own (`options.config.epochs: ...`).
 */
import { NumberRule, obeys, rangeText } from '../validate';

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
  /** integer and number flags: the values allowed (an integer flag is integer whatever this says). */
  range?: Omit<NumberRule, 'integer' | 'allowInfinity'>;
  /** string flags: the values allowed. */
  choices?: readonly string[];
}

export interface CommandSpec {
  /** e.g. 'fusedoptim train' */
  usage: string;
  /** A paragraph saying what the command does. */
  description: string;
  flags: FlagSpec[];
  /** Names of positional arguments, in order (all required). */
  positionals?: string[];
  /** Exit statuses of this command besides EXIT_STATUS's (train's 130 / 143), shown in --help. */
  moreExitStatus?: string[];
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
    if (raw === undefined) throw new UsageError(`--${name} needs a value (${placeholderOf(flag)})`);
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
  if (flag.kind === 'string') {
    if (flag.choices !== undefined && !flag.choices.includes(raw)) throw new UsageError(`--${flag.name} must be one of ${flag.choices.join(', ')}, got ${JSON.stringify(raw)}`);
    return raw;
  }
  const rule: NumberRule = { ...flag.range, integer: flag.kind === 'integer' };
  const value = Number(raw);
  if (raw.trim() === '' || !obeys(value, rule)) {
    // A number as typed (-1), anything else quoted ("abc").
    throw new UsageError(`--${flag.name} must be ${rangeText(rule)}, got ${raw.trim() !== '' && !Number.isNaN(value) ? raw : JSON.stringify(raw)}`);
  }
  return value;
}

/** How the commands end: the same for each, and said in each --help. */
export const EXIT_STATUS = ['0 done', '1 an error while running (a damaged checkpoint, a missing file; the message says which)', '2 a usage mistake (an unknown flag, a bad value: the message names the flag)'];

export function helpText(spec: CommandSpec): string {
  const lines = [`usage: ${spec.usage}${(spec.positionals ?? []).map((p) => ` <${p}>`).join('')} [options]`, '', spec.description, ''];
  const options = [...spec.flags, { name: 'help', kind: 'boolean' as const, help: 'show this help' }];
  const left = options.map((f) => `  --${f.name}${f.kind === 'boolean' ? '' : ` <${placeholderOf(f)}>`}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  lines.push('options:');
  options.forEach((f, i) => {
    const def = 'defaultText' in f && f.defaultText !== undefined ? ` (default: ${f.defaultText})` : '';
    lines.push(left[i].padEnd(width) + f.help + def);
  });
  lines.push('', 'exit status:', ...[...EXIT_STATUS, ...(spec.moreExitStatus ?? [])].map((line) => `  ${line}`));
  return lines.join('\n') + '\n';
}

/** The value's placeholder in --help and in "needs a value": given, else the choices, else the kind. */
function placeholderOf(flag: FlagSpec): string {
  return flag.placeholder ?? flag.choices?.join('|') ?? flag.kind;
}
