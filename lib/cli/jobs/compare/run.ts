/**
 * `npm run compare` (`fusedoptim compare`): the textbook's optimizer table on its least-squares
 * problem, with its own numbers beside ours, and the exercise-3 schedule comparison on the
 * digits MLP. Writes under the output folder (default runs/compare/):
 *
 *   quadratic.svg   convergence: log(loss − optimal loss) per step for the seven optimizers
 *   schedules.svg   cosine vs warm restarts: lr, validation loss and accuracy
 *   compare.json    every number printed
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../../../train/atomic';
import { stringifyNumbers } from '../../../train/history';
import { LineChart, multiPanelSvg } from '../../../train/plot';
import { LbfgsRow, QuadraticRow, StateDtypeRow, loadQuadraticReference, runLbfgsOnQuadratic, runQuadraticComparison, runStateDtypeComparison } from './least_squares';
import type { StateDtypeOption } from '../../../compact/state_storage';
import { ScheduleRun, runScheduleComparison } from './schedules';
import { displayPath } from '../package_files';

export interface CompareOptions {
  /** Default runs/compare. */
  outDir?: string;
  /** Skip the digits schedules (the least-squares table alone takes milliseconds). */
  skipSchedules?: boolean;
  epochs?: number;
  seed?: number;
  /** How AdamW stores its moments in the digits schedule runs. Default 'float32'. */
  stateDtype?: StateDtypeOption;
  output?: NodeJS.WritableStream;
}

export interface CompareResult {
  quadratic: QuadraticRow[];
  stateDtypes: StateDtypeRow[];
  lbfgs: LbfgsRow[];
  schedules: ScheduleRun[] | null;
  files: string[];
}

export async function runCompare(options: CompareOptions = {}): Promise<CompareResult> {
  const out = options.output ?? process.stdout;
  const say = (line = '') => out.write(line + '\n');
  const outDir = path.resolve(options.outDir ?? path.join('runs', 'compare'));
  fs.mkdirSync(outDir, { recursive: true });
  const files: string[] = [];

  const ref = loadQuadraticReference();
  const rows = runQuadraticComparison(ref);
  say(`Least squares 0.5·|Ax - b|^2 (A: ${ref.A.length}x${ref.A[0].length}, seed 42), ${ref.num_steps} steps from x = 0, float64; optimal loss ${ref.optimal_loss}`);
  say('final loss = loss after 999 steps, gap = final loss - optimal loss (the textbook\'s definitions)');
  say();
  say(quadraticTable(rows));
  const stateDtypes = runStateDtypeComparison(ref);
  say();
  say('The same with float32 params, the state stored as float32, bfloat16 or 8 bits (stateDtype; every tensor 8-bit):');
  say();
  say(stateDtypeTable(stateDtypes));
  const lbfgs = runLbfgsOnQuadratic(ref);
  say();
  say('LBFGS (PyTorch defaults: lr 1, maxIter 20 iterations per step, historySize 100) on the same problem, from x = 0, until gap < 1e-12:');
  say();
  say(lbfgsTable(lbfgs));
  const quadraticSvg = path.join(outDir, 'quadratic.svg');
  await writeFileAtomic(quadraticSvg, quadraticChart(rows, ref.optimal_loss));
  files.push(quadraticSvg);

  let schedules: ScheduleRun[] | null = null;
  if (!options.skipSchedules) {
    say();
    const state = options.stateDtype !== undefined && options.stateDtype !== 'float32' ? `, ${options.stateDtype} state` : '';
    say(`Exercise 3: cosine annealing vs cosine with warm restarts, digits MLP, AdamW${state} (same seed, data order and epochs)`);
    schedules = await runScheduleComparison({ epochs: options.epochs, seed: options.seed, stateDtype: options.stateDtype });
    say();
    say(scheduleTable(schedules));
    const schedulesSvg = path.join(outDir, 'schedules.svg');
    await writeFileAtomic(schedulesSvg, scheduleChart(schedules));
    files.push(schedulesSvg);
  }
  const json = path.join(outDir, 'compare.json');
  await writeFileAtomic(
    json,
    stringifyNumbers(
      {
        quadratic: rows.map((r) => ({ name: r.name, finalLoss: r.finalLoss, gap: r.gap, textbookFinalLoss: r.reference.finalLoss, textbookGap: r.reference.gap })),
        stateDtypes,
        lbfgs,
        schedules: schedules?.map(({ history: _h, ...summary }) => summary) ?? null,
      },
      1,
    ) + '\n',
  );
  files.push(json);
  say();
  say(`wrote ${files.map(displayPath).join(', ')}`);
  return { quadratic: rows, stateDtypes, lbfgs, schedules, files };
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

const exp = (v: number) => (Number.isFinite(v) ? v.toExponential(6) : String(v));

export function quadraticTable(rows: QuadraticRow[]): string {
  return table(
    ['optimizer', 'final loss', 'textbook final loss', 'gap', 'textbook gap', 'relative difference'],
    rows.map((r) => [
      r.name,
      r.finalLoss.toPrecision(16),
      r.reference.finalLoss.toPrecision(16),
      exp(r.gap),
      exp(r.reference.gap),
      exp(Math.abs(r.finalLoss - r.reference.finalLoss) / r.reference.finalLoss),
    ]),
  );
}

export function stateDtypeTable(rows: StateDtypeRow[]): string {
  const relative = (r: StateDtypeRow, d: 'bfloat16' | 'int8') => exp((r.finalLoss[d] - r.finalLoss.float32) / r.finalLoss.float32);
  return table(
    ['optimizer', 'float32 state', 'bfloat16 state', 'int8 state', 'bfloat16 vs float32', 'int8 vs float32'],
    rows.map((r) => [r.name, exp(r.finalLoss.float32), exp(r.finalLoss.bfloat16), exp(r.finalLoss.int8), relative(r, 'bfloat16'), relative(r, 'int8')]),
  );
}

export function lbfgsTable(rows: LbfgsRow[]): string {
  return table(
    ['optimizer', 'steps', 'iterations', 'closure calls', 'final loss', 'gap'],
    rows.map((r) => [r.name, String(r.steps), String(r.iterations), String(r.evaluations), r.finalLoss.toPrecision(16), exp(r.gap)]),
  );
}

export function scheduleTable(runs: ScheduleRun[]): string {
  return table(
    ['schedule', 'final val loss', 'best val loss', 'final val accuracy', 'best-loss val accuracy', 'seconds'],
    runs.map((r) => [
      r.name,
      r.finalValLoss.toFixed(4),
      r.bestValLoss.toFixed(4),
      `${(100 * r.finalValAccuracy).toFixed(2)}%`,
      `${(100 * r.bestValAccuracy).toFixed(2)}%`,
      r.seconds.toFixed(1),
    ]),
  );
}

function quadraticChart(rows: QuadraticRow[], optimalLoss: number): string {
  const panels: LineChart[] = [
    {
      title: 'convergence: loss − optimal loss (log scale)',
      xLabel: 'step',
      yLabel: 'gap',
      logY: true,
      width: 720,
      height: 420,
      series: rows.map((r) => ({ name: r.name, ys: r.losses.map((l) => l - optimalLoss) })),
    },
    {
      title: 'agreement with the textbook: |ours − NumPy| / NumPy',
      xLabel: 'step',
      yLabel: 'relative difference',
      logY: true,
      width: 720,
      height: 420,
      series: rows.map((r) => ({ name: r.name, ys: r.losses.map((l, k) => Math.abs(l - r.reference.losses[k]) / r.reference.losses[k]) })),
    },
  ];
  return multiPanelSvg(panels, { columns: 2, title: 'The textbook\'s seven optimizers on 0.5·‖Ax − b‖²' });
}

function scheduleChart(runs: ScheduleRun[]): string {
  const atEpochEnds = (run: ScheduleRun, ys: number[]) => ys.map((y, e) => [run.history.epochEndStep[e], y] as [number, number]);
  const panels: LineChart[] = [
    { title: 'learning rate', xLabel: 'optimizer step', yLabel: 'lr', series: runs.map((r) => ({ name: r.name, ys: r.history.learningRate })) },
    { title: 'validation loss', xLabel: 'optimizer step', yLabel: 'cross-entropy', logY: true, series: runs.map((r) => ({ name: r.name, points: atEpochEnds(r, r.history.valLoss) })) },
    { title: 'validation accuracy', xLabel: 'optimizer step', yLabel: 'accuracy', series: runs.map((r) => ({ name: r.name, points: atEpochEnds(r, r.history.valMetrics.accuracy) })) },
  ];
  return multiPanelSvg(panels, { columns: 3, title: 'Exercise 3: cosine annealing vs warm restarts (digits MLP, AdamW)' });
}
