/**
 * Cyclical learning rates (Smith, 2017): the lr goes back and forth between
 * two bounds, with momentum going the other way.
 */
import { checkNumber } from '../validate';
import { FieldReader, NON_NEGATIVE, POSITIVE } from './fields';
import { CyclePoint, MomentumCyclingScheduler, MomentumCyclingSettings, readMomentumCycling } from './momentum_cycling';
import { ResumeOptions, SchedulableOptimizer } from './scheduler';

/** CyclicLR's cycle shape: a constant amplitude, halved every cycle, or decayed by gamma^iteration. */
export type CyclicMode = 'triangular' | 'triangular2' | 'exp_range';
/** What CyclicLR's scaleFn is given: the cycle number or the iteration count. */
export type CyclicScaleMode = 'cycle' | 'iterations';
/** A custom amplitude scale: given the cycle number (from 1) or the step, returns a factor, normally in [0, 1]. */
export type CyclicScaleFn = (x: number) => number;

export interface CyclicLROptions extends ResumeOptions {
  /** The lower bound of the lr (>= 0), one for all groups or one per group. */
  baseLr: number | number[];
  /** The upper bound of the lr (>= 0); the amplitude is maxLr − baseLr, scaled by the mode. */
  maxLr: number | number[];
  /** Steps from baseLr up to maxLr (> 0). Default 2000. */
  stepSizeUp?: number;
  /** Steps from maxLr back down (>= 0). Default stepSizeUp. */
  stepSizeDown?: number;
  /** Default 'triangular'. Ignored when scaleFn is given. */
  mode?: CyclicMode;
  /** The base of exp_range's scale gamma^step (> 0). Default 1. */
  gamma?: number;
  /** A custom scale replacing the mode's (not saved in the state dict: construct the loading scheduler with it). */
  scaleFn?: CyclicScaleFn;
  /** What scaleFn is given: the cycle number or the step. Default 'cycle'. Used only with scaleFn. */
  scaleMode?: CyclicScaleMode;
  /** Cycle each group's momentum (or beta1) inversely to the lr. Default true. */
  cycleMomentum?: boolean;
  /** The momentum at the lr's peak, in [0, 1]. Default 0.8. */
  baseMomentum?: number | number[];
  /** The momentum at baseLr, in [0, 1]. Default 0.9. */
  maxMomentum?: number | number[];
}

type CyclicLRSettings = MomentumCyclingSettings & {
  baseLr: number[];
  maxLr: number[];
  stepSizeUp: number;
  stepSizeDown: number;
  mode: CyclicMode;
  gamma: number;
  scaleMode: CyclicScaleMode;
};

const MODES: readonly CyclicMode[] = ['triangular', 'triangular2', 'exp_range'];

/** The built-in scales: what each mode scales the amplitude by, and of what. */
const MODE_SCALES: Record<CyclicMode, { scaleMode: CyclicScaleMode; scale: (x: number, gamma: number) => number }> = {
  triangular: { scaleMode: 'cycle', scale: () => 1 },
  triangular2: { scaleMode: 'cycle', scale: (cycle) => 1 / 2 ** (cycle - 1) },
  exp_range: { scaleMode: 'iterations', scale: (step, gamma) => gamma ** step },
};

/**
 * PyTorch's CyclicLR. At step t, with a cycle of stepSizeUp + stepSizeDown steps:
 *
 *   cycle  = ⌊1 + t / (stepSizeUp + stepSizeDown)⌋
 *   x      = 1 + t / (stepSizeUp + stepSizeDown) − cycle               (position in the cycle, [0, 1))
 *   r      = stepSizeUp / (stepSizeUp + stepSizeDown)
 *   height = x <= r ? x / r : (x − 1) / (r − 1)                        (0 → 1 → 0)
 *   scale  = triangular: 1;  triangular2: 1 / 2^(cycle − 1);  exp_range: gamma^t;  or scaleFn(cycle or t)
 *   lr       = baseLr + (maxLr − baseLr) · height · scale
 *   momentum = maxMomentum − (maxMomentum − baseMomentum) · height · scale
 *
 * Not chainable: it sets the lr outright. Meant to be stepped after every batch.
 */
export class CyclicLR extends MomentumCyclingScheduler<CyclicLRSettings> {
  private readonly scaleFn: CyclicScaleFn | undefined;

  constructor(optimizer: SchedulableOptimizer, options: CyclicLROptions) {
    const fields = FieldReader.forOptions('CyclicLR', options, [
      'baseLr',
      'maxLr',
      'stepSizeUp',
      'stepSizeDown',
      'mode',
      'gamma',
      'scaleFn',
      'scaleMode',
      'cycleMomentum',
      'baseMomentum',
      'maxMomentum',
      'lastEpoch',
    ]);
    super('CyclicLR', optimizer, fields);
    this.scaleFn = fields.optionalFunction<CyclicScaleFn>('scaleFn');
    // The schedule's base is baseLr, not the group's lr (PyTorch's `self.base_lrs = base_lrs`).
    this.baseLrs = this.settings.baseLr.slice();
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): CyclicLRSettings {
    const groupCount = this.optimizer.paramGroups.length;
    const stepSizeUp = fields.number('stepSizeUp', POSITIVE, 2000);
    return {
      baseLr: fields.perGroupNumbers('baseLr', groupCount, NON_NEGATIVE),
      maxLr: fields.perGroupNumbers('maxLr', groupCount, NON_NEGATIVE),
      stepSizeUp,
      stepSizeDown: fields.optionalNumber('stepSizeDown', NON_NEGATIVE) ?? stepSizeUp,
      mode: fields.choice('mode', MODES, 'triangular'),
      gamma: fields.number('gamma', POSITIVE, 1),
      scaleMode: fields.choice('scaleMode', ['cycle', 'iterations'] as const, 'cycle'),
      ...readMomentumCycling(fields, groupCount, { baseMomentum: 0.8, maxMomentum: 0.9 }),
    };
  }

  protected pointAt(settings: CyclicLRSettings, epoch: number): CyclePoint {
    const cycleLength = settings.stepSizeUp + settings.stepSizeDown;
    const cycle = Math.floor(1 + epoch / cycleLength);
    const x = 1 + epoch / cycleLength - cycle;
    const rise = settings.stepSizeUp / cycleLength;
    const height = x <= rise ? x / rise : (x - 1) / (rise - 1);
    const scale = this.scaleAt(settings, cycle, epoch);
    return {
      lrs: settings.baseLr.map((base, i) => base + (settings.maxLr[i] - base) * height * scale),
      momenta: settings.maxMomentum.map((max, i) => max - (max - settings.baseMomentum[i]) * height * scale),
    };
  }

  /** scaleFn of the cycle or of the step; without scaleFn the mode decides both (PyTorch's `_init_scale_fn`). */
  private scaleAt(settings: CyclicLRSettings, cycle: number, epoch: number): number {
    if (this.scaleFn === undefined) {
      const builtin = MODE_SCALES[settings.mode];
      return builtin.scale(builtin.scaleMode === 'cycle' ? cycle : epoch, settings.gamma);
    }
    const x = settings.scaleMode === 'cycle' ? cycle : epoch;
    return checkNumber(`${this.kind}: scaleFn(${x})`, this.scaleFn(x));
  }
}
