/**
 * The boundary fuzzer's runner: cases of one seed in child processes (child.ts), one after
 * another, for a time budget or a case count. A child that dies (a crash, an abort, a
 * sanitizer's report) or stalls is reported with the case it was in and the call that case
 * made, and the next child goes on after it.
 *
 *   npm run fuzz -- --seconds 60 --seed 7      run for a minute from seed 7 (default: 30 s, a random seed)
 *   npm run fuzz -- --seed 7 --cases 50000     run exactly cases 0 .. 49999 of seed 7
 *   npm run fuzz -- --case-seconds 20          a case may run 20 s before it counts as stalled (default 5)
 *   npm run fuzz -- --seed 7 --case 1234       replay one case (in this process, to debug it)
 *
 * Prints the figures and every failure with the command that replays it; exits 1 if any.
 *
 * The watchdog. A call that never returns (a native loop over a count the fuzzer drew large,
 * a lock that is never released) blocks the thread it runs on, so no timer on that thread can
 * fire; the watchdog lives here, in the parent, which runs no case. The child writes
 * `case <index>` before each case; each such line (re)arms a timer of `caseSeconds`, and when
 * one fires the parent kills the child (SIGKILL: a blocked thread cannot handle anything
 * gentler) and reports that case as stalled. A child process rather than a worker thread, because
 * a crash or an abort in a worker would take the supervisor down with it.
 */
import { spawn, spawnSync } from 'child_process';
import * as path from 'path';
import { describeCase, runCase } from './cases';

export interface FuzzFigures {
  seed: number;
  cases: number;
  returned: number;
  refused: number;
  crashes: number;
  stalls: number;
  failures: string[];
  seconds: number;
}

export interface FuzzOptions {
  /** Run exactly cases 0 .. cases-1 (the same calls on every machine) instead of for a time. */
  cases?: number;
  /** Cases per child process at most. */
  batch?: number;
  env?: NodeJS.ProcessEnv;
  /** A case still running after this many seconds is a stall: its child is killed and the case reported. */
  caseSeconds?: number;
  /** The watchdog's own test: this case spins forever instead of running. */
  stallAt?: number;
}

export const DEFAULT_CASE_SECONDS = 5;

const CHILD = path.join(__dirname, 'child.ts');
const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** How long a child may take to start (ts-node compiles the library first) before its first case. */
const STARTUP_SECONDS = 120;

interface ChildExit {
  /** The watchdog killed it: a case (or its start) took too long. */
  stalled: boolean;
  status: number | null;
  signal: NodeJS.Signals | null;
  /** The end of what it wrote to stderr. */
  stderr: string;
}

function childArgs(args: string[]): string[] {
  return ['-r', 'ts-node/register', CHILD, ...args];
}

function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { TS_NODE_TRANSPILE_ONLY: 'true', ...env };
}

/**
 * Runs a child, handing each stdout line to `onLine` as it comes, and kills it when it has been
 * in one case for `caseMs` (or has not started its first case in STARTUP_SECONDS).
 */
function superviseChild(args: string[], env: NodeJS.ProcessEnv, caseMs: number, onLine: (line: string) => void): Promise<ChildExit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, childArgs(args), { cwd: REPO_ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stalled = false;
    const watch = (ms: number) => setTimeout(() => {
      stalled = true;
      child.kill('SIGKILL');
    }, ms);
    let timer = watch(STARTUP_SECONDS * 1000);
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        // A new case (or the end, which is followed by the child's exit) restarts the clock.
        if (line.startsWith('case ') || line.startsWith('done ')) {
          clearTimeout(timer);
          timer = watch(caseMs);
        }
        onLine(line);
      }
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-16_384)));
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ stalled, status, signal, stderr });
    });
    // It could not be started at all (it then never prints a case, which stops the run).
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ stalled, status: null, signal: null, stderr: `${stderr}\n${err.message}` });
    });
  });
}

/** The call case `index` of `seed` makes, built in a child of its own (the one that ran it may be dead or stuck). */
function describeInChild(seed: number, index: number, env: NodeJS.ProcessEnv): string {
  const child = spawnSync(process.execPath, childArgs(['describe', String(seed), String(index)]), {
    cwd: REPO_ROOT,
    env: childEnv(env),
    encoding: 'utf8',
    timeout: STARTUP_SECONDS * 1000,
  });
  const text = child.stdout.trim();
  return child.status === 0 && text ? text : `(could not be described: ${child.error?.message ?? child.signal ?? `exit status ${child.status}`})`;
}

/**
 * Runs cases of `seed` in child processes, `batch` per child at most: for about `seconds`, or,
 * given `cases`, exactly cases 0 .. cases-1 (the same calls on every machine).
 */
export async function fuzz(seed: number, seconds: number, options: FuzzOptions = {}): Promise<FuzzFigures> {
  const { cases, batch = 20_000, env = process.env, caseSeconds = DEFAULT_CASE_SECONDS, stallAt = -1 } = options;
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const figures: FuzzFigures = { seed, cases: 0, returned: 0, refused: 0, crashes: 0, stalls: 0, failures: [], seconds: 0 };
  const replay = (index: number) => `replay: npm run fuzz -- --seed ${seed} --case ${index}`;
  let next = 0;
  const more = (): boolean => (cases !== undefined ? next < cases : Date.now() < deadline || figures.cases === 0);
  while (more()) {
    const count = cases !== undefined ? Math.min(batch, cases - next) : batch;
    const until = cases !== undefined ? Number.MAX_SAFE_INTEGER : Math.max(deadline, Date.now() + 1000);
    let last = next - 1;
    let done = false;
    const exit = await superviseChild([seed, next, count, until, stallAt].map(String), env, caseSeconds * 1000, (line) => {
      const [kind, ...rest] = line.split(' ');
      if (kind === 'case') last = Number(rest[0]);
      else if (kind === 'problem') {
        const p = JSON.parse(rest.join(' ')) as { index: number; target: string; problem: string };
        figures.failures.push(`seed ${seed} case ${p.index} (${p.target}): ${p.problem}; ${replay(p.index)}`);
      } else if (kind === 'done') {
        done = true;
        figures.cases += Number(rest[0]);
        figures.returned += Number(rest[1]);
        figures.refused += Number(rest[2]);
      }
    });
    if (done) {
      next = last + 1;
      continue;
    }
    const tail = exit.stderr.split('\n').filter(Boolean).slice(-12).join('\n        ');
    if (last < next) {
      // Not a case's doing: the child could not start. Going on would only start it again.
      const how = exit.stalled ? `started no case in ${STARTUP_SECONDS} s` : `died before its first case (${exit.signal ?? `exit status ${exit.status}`})`;
      figures.failures.push(`seed ${seed}: the fuzz child ${how}\n        ${tail}`);
      break;
    }
    // The child died or stalled in case `last`: count the cases before it, report it, go on after it.
    figures.cases += last - next + 1;
    let what: string;
    if (exit.stalled) {
      figures.stalls++;
      what = `still running after ${caseSeconds} s (the watchdog killed it)`;
    } else {
      figures.crashes++;
      // A child exits 0 without finishing only when the loop ran dry under an await: a promise that never settles.
      what = exit.status === 0 && exit.signal === null ? 'its promise never settled' : `the process died (${exit.signal ?? `exit status ${exit.status}`})`;
    }
    const call = describeInChild(seed, last, env);
    figures.failures.push(`seed ${seed} case ${last}: ${what}; the call: ${call}; ${replay(last)}${tail ? `\n        ${tail}` : ''}`);
    next = last + 1;
  }
  figures.seconds = (Date.now() - started) / 1000;
  return figures;
}

export function summary(f: FuzzFigures): string {
  return (
    `fuzz: seed ${f.seed}: ${f.cases} calls in ${f.seconds.toFixed(1)} s (${f.returned} returned, ${f.refused} refused with a coded error), ` +
    `${f.crashes} crashes, ${f.stalls} stalls, ${f.failures.length} failures`
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
    console.log(`seed ${seed} case ${replay}: ${describeCase(seed, replay)}`);
    const result = await runCase(seed, replay);
    console.log(JSON.stringify(result));
    process.exit(result.problem ? 1 : 0);
  }
  const caseSeconds = option(args, 'case-seconds') ?? DEFAULT_CASE_SECONDS;
  if (caseSeconds < 1) throw new Error(`--case-seconds: expected at least 1, got ${caseSeconds}`);
  const figures = await fuzz(seed, option(args, 'seconds') ?? 30, { cases: option(args, 'cases'), caseSeconds });
  for (const failure of figures.failures) console.log(`FAIL ${failure}`);
  console.log(summary(figures));
  process.exit(figures.failures.length > 0 ? 1 : 0);
}

if (require.main === module) void main();
