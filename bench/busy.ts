/**
 * The busy-machine section: AdamW over one float32 tensor with the default
 * team (OpenMP's default size) against one thread, interleaved, first as the
 * machine is, then beside a neighbour: a child process that spins on one
 * core, as a service's own work or another tenant would. The neighbour is
 * bounded twice: it exits by itself after NEIGHBOUR_LIMIT_MS, and it is killed
 * as soon as the section ends. What it shows is native/drivers/team.h's purpose: a
 * team that does not wait for a thread the system has taken away.
 */
import { ChildProcess, spawn } from 'child_process';
import { addonInfo } from '../lib/info';
import { AdamW } from '../lib/optim/adam';
import { getNumThreads, setNumThreads } from '../lib/threads';
import { makeTensors } from './layouts';
import { measureInterleaved } from './measure';
import type { BenchOptions } from './options';
import type { BusyRow } from './results';
import { summarize } from './stats';
import { policyFor } from './suite';

/**
 * Repetitions per member: at least MIN_REPS, and at least MIN_PARAMS_STEPPED
 * params' worth of steps (256 steps at 1M). A paced team (native/drivers/team.h)
 * tries the team again now and then, and on a crowded machine such a try costs
 * many steps' time: the means must cover the back-off it sets, not only its start.
 */
const MIN_REPS = 30;
const MIN_PARAMS_STEPPED = 2 ** 28;
/** The neighbour stops by itself after this long, even if the bench is killed. */
const NEIGHBOUR_LIMIT_MS = 300_000;
const SPIN = `process.stdout.write('ready\\n'); const end = Date.now() + Number(process.argv[1]); while (Date.now() < end);`;

/** Starts the spinning neighbour and resolves once it spins. */
function startNeighbour(): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SPIN, String(NEIGHBOUR_LIMIT_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.once('error', reject);
    child.stdout!.once('data', () => resolve(child));
  });
}

function compare(params: number, team: number, neighbour: boolean, opts: BenchOptions): BusyRow {
  const lengths = [params];
  const grads = makeTensors('float32', lengths, 2);
  const opt = new AdamW(makeTensors('float32', lengths, 1));
  const step = () => opt.step(grads);
  const samples = measureInterleaved(
    [
      { id: 'team', run: step, before: () => setNumThreads(team) },
      { id: 'one', run: step, before: () => setNumThreads(1) },
    ],
    { ...policyFor(opts), minReps: Math.max(MIN_REPS, Math.ceil(MIN_PARAMS_STEPPED / params)) },
  );
  const perParam = (id: string) => samples.get(id)!.perCallNs.map((ns) => ns / params);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const teamTime = summarize(perParam('team'));
  const oneTime = summarize(perParam('one'));
  return {
    params,
    neighbour,
    team,
    reps: Math.min(teamTime.n, oneTime.n),
    teamNsPerParam: teamTime.median,
    oneThreadNsPerParam: oneTime.median,
    ratio: teamTime.median / oneTime.median,
    meanRatio: mean(perParam('team')) / mean(perParam('one')),
  };
}

/** Runs the section at every size of opts.busyParams; returns its rows and notes. */
export async function runBusy(opts: BenchOptions, log: (line: string) => void): Promise<{ rows: BusyRow[]; notes: string[] }> {
  const team = addonInfo().defaultThreads;
  const rows: BusyRow[] = [];
  const notes: string[] = [];
  const previousThreads = getNumThreads();
  for (const params of opts.busyParams) {
    log(`busy machine: AdamW ${params} params, team of ${team} vs 1 thread, no neighbour`);
    rows.push(compare(params, team, false, opts));
  }
  const neighbour = await startNeighbour();
  try {
    for (const params of opts.busyParams) {
      log(`busy machine: AdamW ${params} params, team of ${team} vs 1 thread, beside a spinning neighbour`);
      rows.push(compare(params, team, true, opts));
    }
    if (neighbour.exitCode !== null) {
      notes.push(`Busy machine: the neighbour stopped (after its ${NEIGHBOUR_LIMIT_MS / 1000} s limit) before the section ended; its rows mix busy and idle time.`);
    }
  } finally {
    neighbour.kill('SIGKILL');
    setNumThreads(previousThreads);
  }
  if (team < 2) notes.push(`Busy machine: the default team is ${team} thread, so both columns measure the same thing.`);
  return { rows, notes };
}
