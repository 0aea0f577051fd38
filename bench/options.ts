/** The benchmark's command-line flags: parsed here, once, with a message naming the flag on any mistake. */
import * as os from 'os';
import { Dtype, LAYOUT_IDS, LayoutId } from './layouts';
import { WORKLOAD_IDS } from './workloads';

/** Parts of a run: the main matrix, the compact-state comparison (compact.ts), the busy-machine comparison (busy.ts). */
export type SectionId = 'suite' | 'compact' | 'busy';
export const SECTION_IDS: readonly SectionId[] = ['suite', 'compact', 'busy'];

export interface BenchOptions {
  sizes: number[];
  sections: SectionId[];
  /** Params of the compact-state section's one tensor (16M; quick 1M; else the largest of an explicit --sizes). */
  compactParams: number;
  /** Params of the busy-machine section, one size per comparison (1M and 16M; quick 1M; else an explicit --sizes). */
  busyParams: number[];
  dtypes: Dtype[];
  threads: number[];
  workloads: string[];
  layouts: LayoutId[];
  /** Also time the JavaScript reference backend. */
  js: boolean;
  peers: boolean;
  /** Fixed repetitions per member (else derived from the time budget). */
  reps: number | undefined;
  /** Time budget per member per group, in seconds. */
  budgetSeconds: number;
  /** Per-call overhead of small steps, memory growth and state bytes. */
  extras: boolean;
  /** Steps between the memory readings. */
  memorySteps: number;
  json: string | null;
  svg: string | null;
  quiet: boolean;
  help: boolean;
}

export const USAGE = `Usage: fusedoptim bench [options]

Times every optimizer step, the global norm and the fused clip+step through the
public API, native kernels against the JavaScript reference, beside a memory
bandwidth probe measured in the same run. Prints markdown; writes JSON and SVG.

  --quick               float32, sizes 4K,64K,1M, short budget (about a minute)
  --sizes LIST          params per workload, e.g. 4K,64K,1M,16M (K = 1024, M = 1024²)
  --with-64m            add 64M to the sizes (needs several GB of RAM)
  --dtypes LIST         float32,float64
  --threads LIST        thread counts, e.g. 1,2 (default 1..cores)
  --sections LIST       ${SECTION_IDS.join(',')} (default all): the matrix; AdamW with float32, bfloat16
                        and 8-bit state on each instruction set (16M); the default team against one
                        thread beside a spinning neighbour process (1M, 16M)
  --optimizers LIST     workloads: ${WORKLOAD_IDS.join(',')}
  --layouts LIST        ${LAYOUT_IDS.join(',')} (one tensor; 1000 tensors of size/1000 when that is >= 16; 100 tensors of 1K)
  --no-js               skip the JavaScript reference backend
  --peers               also time PyTorch (if python3 can import torch) and TensorFlow.js
  --mpi                 only the data-parallel figures (bench/mpi.ts), under mpirun -np 2 (--np N)
  --reps N              exactly N timed repetitions per member (default: from the budget)
  --budget SECONDS      time per member per group (default 0.15; quick 0.04)
  --no-extras           skip per-call overhead, memory growth and state bytes
  --json PATH           write the results here (default bench/results/bench-<date>.json)
  --svg PATH            write the chart here (default: the JSON path with .svg)
  --no-files            write neither JSON nor SVG
  --quiet               print nothing on stdout (progress still goes to stderr unless --quiet)
  --help                this text
`;

export class UsageError extends Error {}

const K = 1024;
const M = 1024 * 1024;

/** "4K" → 4096, "16M" → 16777216, "1000" → 1000. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KkMm]?)$/.exec(text.trim());
  if (!match) throw new UsageError(`--sizes: expected sizes like 4K,64K,1M or 1000, got ${JSON.stringify(text)}`);
  const unit = match[2].toUpperCase() === 'K' ? K : match[2].toUpperCase() === 'M' ? M : 1;
  const value = Math.round(Number(match[1]) * unit);
  if (!(value >= 1 && value <= 2 ** 31)) throw new UsageError(`--sizes: ${JSON.stringify(text)} is outside 1..2^31`);
  return value;
}

function listOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new UsageError(`${flag}: expected a comma-separated list`);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new UsageError(`${flag}: unknown value ${JSON.stringify(item)} (expected one of ${allowed.join(', ')})`);
    }
  }
  return [...new Set(items)] as T[];
}

function positiveInt(flag: string, text: string | undefined, max: number): number {
  const value = Number(text);
  if (text === undefined || !Number.isInteger(value) || value < 1 || value > max) {
    throw new UsageError(`${flag}: expected an integer in [1, ${max}], got ${JSON.stringify(text ?? null)}`);
  }
  return value;
}

export function defaultJsonPath(date = new Date()): string {
  return `bench/results/bench-${date.toISOString().replace(/[:.]/g, '-')}.json`;
}

export function parseArgs(argv: readonly string[]): BenchOptions {
  const cores = os.availableParallelism();
  const opts: BenchOptions = {
    sizes: [4 * K, 64 * K, M, 16 * M],
    sections: [...SECTION_IDS],
    compactParams: 16 * M,
    busyParams: [M, 16 * M],
    dtypes: ['float32', 'float64'],
    threads: Array.from({ length: cores }, (_, i) => i + 1),
    workloads: [...WORKLOAD_IDS],
    layouts: [...LAYOUT_IDS],
    js: true,
    peers: false,
    reps: undefined,
    budgetSeconds: 0.15,
    extras: true,
    memorySteps: 200,
    json: defaultJsonPath(),
    svg: null,
    quiet: false,
    help: false,
  };
  let explicitSizes = false;
  let explicitDtypes = false;
  let explicitBudget = false;
  let quick = false;
  let with64m = false;
  let files = true;
  let svgGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`${flag}: expected a value after it`);
      return next;
    };
    switch (flag) {
      case '--help':
      case '-h':
        opts.help = true;
        break;
      case '--quick':
        quick = true;
        break;
      case '--sizes':
        opts.sizes = value().split(',').map(parseSize);
        explicitSizes = true;
        break;
      case '--with-64m':
        with64m = true;
        break;
      case '--dtypes':
        opts.dtypes = listOf(flag, value(), ['float32', 'float64'] as const);
        explicitDtypes = true;
        break;
      case '--threads':
        opts.threads = [...new Set(value().split(',').map((t) => positiveInt(flag, t.trim(), 1024)))];
        break;
      case '--sections':
        opts.sections = listOf(flag, value(), SECTION_IDS);
        break;
      case '--optimizers':
        opts.workloads = listOf(flag, value(), WORKLOAD_IDS);
        break;
      case '--layouts':
        opts.layouts = listOf(flag, value(), LAYOUT_IDS);
        break;
      case '--no-js':
        opts.js = false;
        break;
      case '--peers':
        opts.peers = true;
        break;
      case '--reps':
        opts.reps = positiveInt(flag, value(), 1e6);
        break;
      case '--budget': {
        const text = value();
        const seconds = Number(text);
        if (!(seconds > 0 && seconds <= 600)) throw new UsageError(`--budget: expected seconds in (0, 600], got ${JSON.stringify(text)}`);
        opts.budgetSeconds = seconds;
        explicitBudget = true;
        break;
      }
      case '--no-extras':
        opts.extras = false;
        break;
      case '--json':
        opts.json = value();
        break;
      case '--svg':
        opts.svg = value();
        svgGiven = true;
        break;
      case '--no-files':
        files = false;
        break;
      case '--quiet':
        opts.quiet = true;
        break;
      default:
        throw new UsageError(`unknown flag ${JSON.stringify(flag)} (see --help)`);
    }
  }
  if (explicitSizes) {
    opts.compactParams = Math.max(...opts.sizes);
    opts.busyParams = [...new Set(opts.sizes)].sort((a, b) => a - b);
  }
  if (quick) {
    if (!explicitSizes) {
      opts.sizes = [4 * K, 64 * K, M];
      opts.compactParams = M;
      opts.busyParams = [M];
    }
    if (!explicitDtypes) opts.dtypes = ['float32'];
    if (!explicitBudget) opts.budgetSeconds = 0.04;
    opts.memorySteps = 50;
  }
  if (with64m && !opts.sizes.includes(64 * M)) opts.sizes.push(64 * M);
  opts.sizes = [...new Set(opts.sizes)].sort((a, b) => a - b);
  if (!files) {
    opts.json = null;
    opts.svg = null;
  } else if (!svgGiven && opts.json !== null) {
    opts.svg = opts.json.replace(/\.json$/i, '') + '.svg';
  }
  return opts;
}
