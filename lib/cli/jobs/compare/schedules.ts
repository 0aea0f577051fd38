/**
 * The textbook's exercise 3: cosine annealing against cosine annealing with warm restarts
 * (SGDR) on the digits MLP. Both runs share everything else: the seed (so the same initial
 * weights, split and batch order), AdamW with the main job's peak lr, weight decay and clipping,
 * and the number of epochs; only the lr schedule differs.
 *
 *   cosine:    CosineAnnealingLR, one half-cosine from the peak down to minLr over the whole run
 *   restarts:  CosineAnnealingWarmRestarts, cycles of T0, 2·T0, 4·T0 ... steps (T0 = 2 epochs),
 *              so with 14 epochs the last cycle ends exactly at the end of training
 */
import { AdamW } from '../../../optim/adam';
import type { StateDtypeOption } from '../../../compact/state_storage';
import { CosineAnnealingLR, CosineAnnealingWarmRestarts } from '../../../schedulers';
import { History } from '../../../train/history';
import { TrainScheduler, train } from '../../../train/loop';
import { DEFAULT_DIGITS_CONFIG, DigitsConfig, digitsSetup } from '../digits/job';

export interface ScheduleRun {
  name: string;
  history: History;
  finalValLoss: number;
  bestValLoss: number;
  finalValAccuracy: number;
  bestValAccuracy: number;
  seconds: number;
}

export interface ScheduleComparisonOptions {
  /** Default 14: cycles of 2 + 4 + 8 epochs. */
  epochs?: number;
  seed?: number;
  /** How AdamW stores its moments. Default 'float32'. */
  stateDtype?: StateDtypeOption;
  /** Epochs in the first restart cycle. Default 2. */
  firstCycleEpochs?: number;
}

export async function runScheduleComparison(options: ScheduleComparisonOptions = {}): Promise<ScheduleRun[]> {
  const config: DigitsConfig = {
    ...DEFAULT_DIGITS_CONFIG,
    hidden: [...DEFAULT_DIGITS_CONFIG.hidden],
    epochs: options.epochs ?? 14,
    seed: options.seed ?? DEFAULT_DIGITS_CONFIG.seed,
    stateDtype: options.stateDtype ?? DEFAULT_DIGITS_CONFIG.stateDtype,
  };
  const firstCycle = options.firstCycleEpochs ?? 2;
  const schedules: Array<[string, (opt: AdamW, stepsPerEpoch: number) => TrainScheduler]> = [
    ['cosine', (opt, n) => new CosineAnnealingLR(opt, { TMax: config.epochs * n, etaMin: config.minLr })],
    ['cosine with warm restarts', (opt, n) => new CosineAnnealingWarmRestarts(opt, { T0: firstCycle * n, TMult: 2, etaMin: config.minLr })],
  ];
  const runs: ScheduleRun[] = [];
  for (const [name, makeScheduler] of schedules) {
    const setup = digitsSetup(config);
    const { model, validation } = setup;
    const optimizer = new AdamW(model.params, { lr: config.peakLr, weightDecay: config.weightDecay, stateDtype: config.stateDtype });
    const result = await train(model, setup.trainBatches, [validation], {
      optimizer,
      scheduler: makeScheduler(optimizer, setup.stepsPerEpoch),
      epochs: config.epochs,
      maxGradNorm: config.maxGradNorm,
      evaluate: () => ({ accuracy: model.accuracy(validation) }),
      quiet: true,
    });
    const h = result.history;
    const accuracy = h.valMetrics.accuracy;
    const best = h.valLoss.indexOf(Math.min(...h.valLoss));
    runs.push({
      name,
      history: h,
      finalValLoss: h.valLoss[h.valLoss.length - 1],
      bestValLoss: h.valLoss[best],
      finalValAccuracy: accuracy[accuracy.length - 1],
      bestValAccuracy: accuracy[best],
      seconds: result.seconds,
    });
  }
  return runs;
}
