/**
 * Running a test fixture on several MPI ranks: `mpirun --allow-run-as-root
 * --oversubscribe -np N node -r ts-node/register/transpile-only <fixture>`,
 * and collecting the JSON report each rank writes (fixtures/distributed/report.ts).
 * Tests that need it skip, saying why, where mpirun or the MPI addon is missing.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describeExit, REPO_ROOT, StartedCommand, startCommand } from './child';

export interface RankResult {
  rank: number;
  size: number;
  failures: string[];
  [key: string]: unknown;
}

export interface MpiRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** One per rank, in rank order. */
  ranks: RankResult[];
}

/** Why the distributed tests cannot run here, or null when they can. */
export function mpiUnavailable(): string | null {
  const launcher = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (launcher.error || launcher.status !== 0) return 'mpirun not found (apt-get install openmpi-bin libopenmpi-dev, then npx node-gyp rebuild)';
  try {
    require('bindings')({ bindings: 'fusedoptim_mpi.node', path: true });
  } catch {
    return 'the MPI addon build/Release/fusedoptim_mpi.node is not built (npx node-gyp rebuild with mpicxx on the PATH)';
  }
  return null;
}

/** Skips the suite (printing the reason once) when MPI cannot run here. */
export function skipWithoutMpi(suite: Mocha.Suite): void {
  suite.beforeAll(function () {
    const reason = mpiUnavailable();
    if (reason !== null) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
  });
}

/**
 * The environment mpirun runs the ranks in: Open MPI's shared-memory transport
 * without its single-copy path (containers forbid the ptrace-based CMA it uses).
 */
export const MPI_ENV = { OMPI_MCA_btl_vader_single_copy_mechanism: 'none', OMPI_MCA_rmaps_base_oversubscribe: '1' };

/** Where and how runRanks starts mpirun, when not plainly here (the two-host test starts it inside a network namespace). */
export interface Launch {
  /** More mpirun options (a hostfile, transports, ...). */
  mpirunArgs?: string[];
  /** Turns the mpirun command line into the one to run. */
  wrap?: (argv: string[]) => string[];
  /** More environment variables for mpirun. */
  env?: Record<string, string>;
}

/**
 * Launches `fixture` (under test/fixtures/distributed) on `np` ranks and waits for it. Ranks on
 * another host (launch) see FUSEDOPTIM_RANK_REPORTS only if mpirun forwards it (`-x`).
 */
export async function runRanks(np: number, fixture: string, args: string[] = [], timeoutMs = 300_000, launch: Launch = {}): Promise<MpiRun> {
  return startRanks(np, fixture, args, timeoutMs, launch).done;
}

/** Ranks started by startRanks: mpirun's process, the reports written so far, and how the run ends. */
export interface StartedRanks {
  mpirun: StartedCommand;
  /** The rank reports written so far, in rank order. */
  reports(): RankResult[];
  done: Promise<MpiRun>;
}

/** runRanks that hands back mpirun's process while the ranks run (to signal it, or watch their output and reports). */
export function startRanks(np: number, fixture: string, args: string[] = [], timeoutMs = 300_000, launch: Launch = {}): StartedRanks {
  const script = path.join(REPO_ROOT, 'test', 'fixtures', 'distributed', fixture);
  const mpirun = ['mpirun', '--allow-run-as-root', '--oversubscribe', ...(launch.mpirunArgs ?? []), '-np', String(np), process.execPath, '-r', 'ts-node/register/transpile-only', script, ...args];
  const [command, ...argv] = launch.wrap ? launch.wrap(mpirun) : mpirun;
  // Each rank writes its report to a file here: mpirun may interleave long stdout lines of several ranks.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-ranks-'));
  const reports = (): RankResult[] =>
    fs
      .readdirSync(dir)
      .filter((file) => file.endsWith('.json'))
      .map((file) => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as RankResult)
      .sort((a, b) => a.rank - b.rank);
  const started = startCommand(command, argv, { env: { ...process.env, ...MPI_ENV, FUSEDOPTIM_RANK_REPORTS: dir, ...launch.env }, timeoutMs });
  const done = started.result
    .then((run) => ({ status: run.status, stdout: run.stdout, stderr: run.stderr, ranks: reports() }))
    .finally(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { mpirun: started, reports, done };
}

/** Asserts-friendly account of a run: exit status, and the tail of stderr. */
export function describeRun(run: MpiRun): string {
  return describeExit({ status: run.status, signal: null, stdout: run.stdout, stderr: run.stderr });
}
