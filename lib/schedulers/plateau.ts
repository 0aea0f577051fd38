/**
 * ReduceLROnPlateau: the one scheduler driven by a metric instead of a step
 * count, so it stands beside LRScheduler rather than under it (it cannot be
 * composed by SequentialLR or ChainedScheduler: their step() has no metric to give).
 */
import { ErrorCodes, makeError } from '../errors';
import { describe } from '../validate';
import { FieldReader, NON_NEGATIVE } from './fields';
import { ParamGroup, SchedulableOptimizer } from './scheduler';
import { checkOptimizer } from './param_groups';
import { SchedulerStateDict, checkSchedulerName, checkingStateDict, fromJsonNumber, toJsonNumber } from './state_dict';

/** Whether the metric should go down ('min', a loss) or up ('max', an accuracy). */
export type PlateauMode = 'min' | 'max';
/** Whether an improvement is measured relative to the best value ('rel') or in absolute terms ('abs'). */
export type ThresholdMode = 'rel' | 'abs';

/** The options of ReduceLROnPlateau, PyTorch's in camelCase. */
export interface ReduceLROnPlateauOptions {
  /** 'min': the metric should go down (a loss); 'max': up (an accuracy). Default 'min'. */
  mode?: PlateauMode;
  /** new lr = lr · factor, in [0, 1). Default 0.1. */
  factor?: number;
  /** How many steps without improvement are tolerated before reducing (integer >= 0). Default 10. */
  patience?: number;
  /** How much better than the best counts as an improvement (>= 0). Default 1e-4. */
  threshold?: number;
  /** 'rel': better than best · (1 ∓ threshold); 'abs': better than best ∓ threshold. Default 'rel'. */
  thresholdMode?: ThresholdMode;
  /** Steps after a reduction during which bad steps are not counted (integer >= 0). Default 0. */
  cooldown?: number;
  /** The lowest lr (>= 0), one for all groups or one per group. Default 0. */
  minLr?: number | number[];
  /** A reduction smaller than eps is skipped (>= 0). Default 1e-8. */
  eps?: number;
}

type PlateauSettings = {
  mode: PlateauMode;
  factor: number;
  patience: number;
  threshold: number;
  thresholdMode: ThresholdMode;
  cooldown: number;
  minLr: number[];
  eps: number;
};

const KIND = 'ReduceLROnPlateau';
const OPTION_NAMES = ['mode', 'factor', 'patience', 'threshold', 'thresholdMode', 'cooldown', 'minLr', 'eps'] as const;
const STEPS = { integer: true, min: 0 };

function readPlateauSettings(fields: FieldReader, groupCount: number): PlateauSettings {
  const mode = fields.choice('mode', ['min', 'max'] as const, 'min');
  const thresholdMode = fields.choice('thresholdMode', ['rel', 'abs'] as const, 'rel');
  // In 'min' mode a relative threshold of 1 or more asks for a metric below best · (1 − threshold) <= 0: never met.
  const relativeMin = mode === 'min' && thresholdMode === 'rel';
  return {
    mode,
    factor: fields.number('factor', { min: 0, max: 1, maxExclusive: true }, 0.1),
    patience: fields.number('patience', STEPS, 10),
    threshold: fields.number('threshold', relativeMin ? { min: 0, max: 1, maxExclusive: true } : NON_NEGATIVE, 1e-4),
    thresholdMode,
    cooldown: fields.number('cooldown', STEPS, 0),
    minLr: fields.perGroupNumbers('minLr', groupCount, NON_NEGATIVE, 0),
    eps: fields.number('eps', NON_NEGATIVE, 1e-8),
  };
}

/** What step() carries from one call to the next. */
interface PlateauCounters {
  /** The best metric so far; ±Infinity (the worst for the mode) before the first. */
  best: number;
  numBadEpochs: number;
  cooldownCounter: number;
}

/**
 * Reduces the lr when a metric stops improving (PyTorch's ReduceLROnPlateau).
 * At each step(metric):
 *
 *   better       = 'min','rel': metric < best·(1 − threshold)    'min','abs': metric < best − threshold
 *                  'max','rel': metric > best·(1 + threshold)    'max','abs': metric > best + threshold
 *   better ? (best = metric, bad = 0) : bad += 1
 *   in cooldown ? (cooldown −= 1, bad = 0)
 *   bad > patience ? (lr = max(lr·factor, minLr) where that lowers it by more than eps;
 *                     cooldown = its setting, bad = 0)
 *
 * A NaN metric is never better (every comparison with NaN is false, as in
 * PyTorch): it counts as a bad step. ±Infinity compare as numbers.
 * Unlike LRScheduler, construction leaves the lr as it is (there is no step 0 to be at).
 */
export class ReduceLROnPlateau {
  /** The name this scheduler declares, as LRScheduler's `kind`: what checkpoints store. */
  readonly kind = KIND;
  /** The optimizer whose param groups this scheduler sets the lr of. */
  readonly optimizer: SchedulableOptimizer;
  /** The number of step() calls so far (PyTorch's `last_epoch`). */
  lastEpoch = 0;
  private settings: PlateauSettings;
  private counters: PlateauCounters;
  private lastLr: number[];

  constructor(optimizer: SchedulableOptimizer, options?: ReduceLROnPlateauOptions) {
    const fields = FieldReader.forOptions(KIND, options, OPTION_NAMES);
    this.optimizer = checkOptimizer(KIND, optimizer);
    this.settings = readPlateauSettings(fields, this.optimizer.paramGroups.length);
    this.counters = { best: worstFor(this.settings.mode), numBadEpochs: 0, cooldownCounter: 0 };
    this.lastLr = this.optimizer.paramGroups.map((group) => group.lr);
  }

  /** The best metric seen so far (±Infinity before any). */
  get best(): number {
    return this.counters.best;
  }

  /** Consecutive steps without improvement, outside cooldown. */
  get numBadEpochs(): number {
    return this.counters.numBadEpochs;
  }

  /** True during the cooldown after a reduction, when no further reduction can happen. */
  get inCooldown(): boolean {
    return this.counters.cooldownCounter > 0;
  }

  /** Takes the metric of the step just finished (a validation loss, an accuracy...). */
  step(metric: number): void {
    if (typeof metric !== 'number') {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${KIND}: step: metric: expected a number, got ${describe(metric)}`);
    }
    const groups = this.optimizer.paramGroups;
    if (groups.length !== this.settings.minLr.length) {
      throw makeError(
        ErrorCodes.SHAPE_MISMATCH,
        `${KIND}: the optimizer has ${groups.length} param groups, the scheduler was built for ${this.settings.minLr.length} ` +
          `(add param groups before constructing the scheduler)`,
      );
    }
    const { patience, cooldown } = this.settings;
    let { best, numBadEpochs, cooldownCounter } = this.counters;
    if (this.isBetter(metric, best)) {
      best = metric;
      numBadEpochs = 0;
    } else {
      numBadEpochs += 1;
    }
    if (cooldownCounter > 0) {
      cooldownCounter -= 1;
      numBadEpochs = 0; // bad steps during cooldown do not count
    }
    let lrs = groups.map((group) => group.lr);
    if (numBadEpochs > patience) {
      lrs = this.reducedLrs(groups);
      cooldownCounter = cooldown;
      numBadEpochs = 0;
    }
    groups.forEach((group, i) => {
      group.lr = lrs[i];
    });
    this.counters = { best, numBadEpochs, cooldownCounter };
    this.lastEpoch += 1;
    this.lastLr = lrs;
  }

  /** Each group's lr after the last step. */
  getLastLr(): number[] {
    return this.lastLr.slice();
  }

  /** Settings and counters as plain JSON data (an infinite `best` is saved as the string "Infinity" / "-Infinity"). */
  stateDict(): SchedulerStateDict {
    return {
      scheduler: KIND,
      lastEpoch: this.lastEpoch,
      lastLr: this.lastLr.slice(),
      ...structuredClone(this.settings),
      best: toJsonNumber(this.counters.best),
      numBadEpochs: this.counters.numBadEpochs,
      cooldownCounter: this.counters.cooldownCounter,
    };
  }

  /** Restores a stateDict() (settings included, as PyTorch) and the groups' lr; a call that throws has changed nothing. */
  loadStateDict(stateDict: unknown): void {
    this.checkStateDict(stateDict, `${KIND}: loadStateDict: stateDict`)();
  }

  /** Checks a state dict in full without changing anything, and returns what loads it (as LRScheduler's). */
  checkStateDict(stateDict: unknown, path: string): () => void {
    return checkingStateDict(() => {
      const fields = FieldReader.forStateDict(path, stateDict);
      checkSchedulerName(path, fields.raw('scheduler'), KIND);
      const groupCount = this.optimizer.paramGroups.length;
      const settings = readPlateauSettings(fields, groupCount);
      const counters: PlateauCounters = {
        best: fromJsonNumber(fields.name('best'), fields.raw('best')),
        numBadEpochs: fields.number('numBadEpochs', STEPS),
        cooldownCounter: fields.number('cooldownCounter', STEPS),
      };
      const lastEpoch = fields.number('lastEpoch', STEPS);
      const lastLr = fields.perGroupNumbers('lastLr', groupCount, NON_NEGATIVE);
      return () => {
        this.settings = settings;
        this.counters = counters;
        this.lastEpoch = lastEpoch;
        this.lastLr = lastLr;
        this.optimizer.paramGroups.forEach((group, i) => {
          group.lr = lastLr[i];
        });
      };
    });
  }

  private isBetter(metric: number, best: number): boolean {
    const { mode, threshold, thresholdMode } = this.settings;
    if (mode === 'min') return thresholdMode === 'rel' ? metric < best * (1 - threshold) : metric < best - threshold;
    return thresholdMode === 'rel' ? metric > best * (1 + threshold) : metric > best + threshold;
  }

  /** lr · factor, floored at minLr; a reduction of eps or less is not worth making. */
  private reducedLrs(groups: readonly ParamGroup[]): number[] {
    const { factor, minLr, eps } = this.settings;
    return groups.map((group, i) => {
      const reduced = Math.max(group.lr * factor, minLr[i]);
      return group.lr - reduced > eps ? reduced : group.lr;
    });
  }
}

function worstFor(mode: PlateauMode): number {
  return mode === 'min' ? Infinity : -Infinity;
}
