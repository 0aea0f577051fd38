/**
 * The boundary fuzzer's runner: cases of one seed in child processes (child.ts), one after
 * another, for a time budget. A child that dies (a crash, an abort, a sanitizer's report) is
 * reported with the case it was running, and the next child goes on after it.
 *
 *   npm run fuzz -- --seconds 60 --seed 7      run for a minute from seed 7 (default: 30 s, a random seed)
 *   npm run fuzz -- --seed 7 --case 1234       replay one case (in this process, to debug it)
 *
 * Prints the figures and every failure with the command that replays it; exits 1 if any.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { runCase } from './cases';

export interface FuzzFigures {
  seed: number;
  cases: number;
  returned: number;
  refused: number;
  crashes: number;
  failures: string[];
  seconds: number;
}

const CHILD = path.join(__dirname, 'child.ts');
const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * Runs cases of `seed` in child processes, `batch` per child at most: for about `seconds`, or,
 * given `cases`, exactly cases 0 .. cases-1 (the same calls on every machine).
 */
export function fuzz(seed: number, seconds: number, options: { cases?: number; batch?: number; env?: NodeJS.ProcessEnv } = {}): FuzzFigures {
  const { cases, batch = 20_000, env = process.env } = options;
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const figures: FuzzFigures = { seed, cases: 0, returned: 0, refused: 0, crashes: 0, failures: [], seconds: 0 };
  let next = 0;
  const more = (): boolean => (cases !== undefined ? next < cases : Date.now() < deadline || figures.cases === 0);
  while (more()) {
    const count = cases !== undefined ? Math.min(batch, cases - next) : batch;
    const until = cases !== undefined ? Number.MAX_SAFE_INTEGER : Math.max(deadline, Date.now() + 1000);
    const child = spawnSync(process.execPath, ['-r', 'ts-node/register', CHILD, String(seed), String(next), String(count), String(until)], {
      cwd: REPO_ROOT,
      env: { TS_NODE_TRANSPILE_ONLY: 'true', ...env },
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    });
    const lines = child.stdout.split('\n').filter(Boolean);
    let last = next - 1;
    let done = false;
    for (const line of lines) {
      const [kind, ...rest] = line.split(' ');
      if (kind === 'case') last = Number(rest[0]);
      else if (kind === 'problem') {
        const p = JSON.parse(rest.join(' ')) as { index: number; target: string; problem: string };
        figures.failures.push(`seed ${seed} case ${p.index} (${p.target}): ${p.problem}; replay: npm run fuzz -- --seed ${seed} --case ${p.index}`);
      } else if (kind === 'done') {
        done = true;
        figures.cases += Number(rest[0]);
        figures.returned += Number(rest[1]);
        figures.refused += Number(rest[2]);
      }
    }
    if (!done) {
      // The child died in case `last`: count the cases before it, report it, go on after it.
      figures.crashes++;
      figures.cases += last - next + 1;
      const how = child.signal ?? `exit status ${child.status}`;
      const tail = child.stderr.split('\n').filter(Boolean).slice(-12).join('\n        ');
      figures.failures.push(`seed ${seed} case ${last}: the process died (${how}); replay: npm run fuzz -- --seed ${seed} --case ${last}\n        ${tail}`);
    }
    next = last + 1;
  }
  figures.seconds = (Date.now() - started) / 1000;
  return figures;
}

export function summary(f: FuzzFigures): string {
  return (
    `fuzz: seed ${f.seed}: ${f.cases} calls in ${f.seconds.toFixed(1)} s (${f.returned} returned, ${f.refused} refused with a coded error), ` +
    `${f.crashes} crashes, ${f.failures.length} failures`
  );
}

function option(args: string[], name: string): number | undefined {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = Number(args[i + 1]);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name}: expected a non-negative integer, got ${args[i + 1]}`);
  return value;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const seed = option(args, 'seed') ?? Math.floor(Math.random() * 2 ** 31);
  const replay = option(args, 'case');
  if (replay !== undefined) {
    const result = await runCase(seed, replay);
    console.log(JSON.stringify(result));
    process.exit(result.problem ? 1 : 0);
  }
  const figures = fuzz(seed, option(args, 'seconds') ?? 30);
  for (const failure of figures.failures) console.log(`FAIL ${failure}`);
  console.log(summary(figures));
  process.exit(figures.failures.length > 0 ? 1 : 0);
}

if (require.main === module) void main();
