/**
 * The 1cycle policy (Smith & Topin, "Super-Convergence"): one warmup of the lr
 * to a peak and one long anneal to far below where it started, momentum going
 * the other way.
 */
import { ErrorCodes, makeError } from '../errors';
import { cosineAnneal, linearAnneal } from './anneal';
import { COUNT, FieldReader, NON_NEGATIVE, POSITIVE } from './fields';
import { CyclePoint, MomentumCyclingScheduler, MomentumCyclingSettings, readMomentumCycling } from './momentum_cycling';
import { readStoredGroupNumber } from './param_groups';
import { ResumeOptions, SchedulableOptimizer } from './scheduler';

/** How OneCycleLR moves between its phases' lrs: cosine or linear annealing. */
export type AnnealStrategy = 'cos' | 'linear';

export interface OneCycleLROptions extends ResumeOptions {
  /** The peak lr (>= 0), one for all groups or one per group. */
  maxLr: number | number[];
  /** The length of the schedule: it has values for steps 0..totalSteps. Or give epochs and stepsPerEpoch. */
  totalSteps?: number;
  /** With stepsPerEpoch, when totalSteps is not given: totalSteps = epochs · stepsPerEpoch. */
  epochs?: number;
  /** With epochs, when totalSteps is not given: the optimizer steps per epoch. */
  stepsPerEpoch?: number;
  /** The fraction of the schedule spent warming up, in [0, 1] ([0, 0.5] with threePhase). Default 0.3. */
  pctStart?: number;
  /** Default 'cos'. */
  annealStrategy?: AnnealStrategy;
  /** Cycle each group's momentum (or beta1) inversely to the lr. Default true. */
  cycleMomentum?: boolean;
  /** The momentum at the peak lr, in [0, 1]. Default 0.85. */
  baseMomentum?: number | number[];
  /** The momentum at the start and the end, in [0, 1]. Default 0.95. */
  maxMomentum?: number | number[];
  /** The starting lr is maxLr / divFactor (> 0). Default 25. */
  divFactor?: number;
  /** The final lr is the starting lr / finalDivFactor (> 0). Default 1e4. */
  finalDivFactor?: number;
  /** Warm up, come back down to the starting lr symmetrically, then anneal to the final lr (the paper's schedule). Default false. */
  threePhase?: boolean;
}

type OneCycleLRSettings = MomentumCyclingSettings & {
  totalSteps: number;
  pctStart: number;
  annealStrategy: AnnealStrategy;
  threePhase: boolean;
  /** Per group: the starting lr (the base lr), the peak, the final lr. */
  initialLr: number[];
  maxLr: number[];
  minLr: number[];
};

type LrBound = 'initialLr' | 'maxLr' | 'minLr';
type MomentumBound = 'baseMomentum' | 'maxMomentum';

/** One phase: from the previous phase's end to `endStep`, the lr and momentum go from one bound to another. */
interface Phase {
  endStep: number;
  lr: [from: LrBound, to: LrBound];
  momentum: [from: MomentumBound, to: MomentumBound];
}

/** PyTorch's phases: the warmup reaches the peak at step pctStart·totalSteps − 1; the last phase ends at totalSteps − 1. */
function phasesOf(settings: OneCycleLRSettings): Phase[] {
  const { pctStart, totalSteps } = settings;
  const warmup: Phase = { endStep: pctStart * totalSteps - 1, lr: ['initialLr', 'maxLr'], momentum: ['maxMomentum', 'baseMomentum'] };
  if (!settings.threePhase) {
    return [warmup, { endStep: totalSteps - 1, lr: ['maxLr', 'minLr'], momentum: ['baseMomentum', 'maxMomentum'] }];
  }
  return [
    warmup,
    { endStep: 2 * pctStart * totalSteps - 2, lr: ['maxLr', 'initialLr'], momentum: ['baseMomentum', 'maxMomentum'] },
    { endStep: totalSteps - 1, lr: ['initialLr', 'minLr'], momentum: ['maxMomentum', 'maxMomentum'] },
  ];
}

/**
 * PyTorch's OneCycleLR. The schedule is a sequence of phases (see phasesOf);
 * at step t in a phase running from step s to step e:
 *
 *   pct      = (t − s) / (e − s)
 *   lr       = anneal(lr at the phase's start, lr at its end, pct)
 *   momentum = anneal(momentum at the phase's start, momentum at its end, pct)
 *   anneal   = 'cos':    end + (start − end)/2 · (1 + cos(π·pct))
 *              'linear': start + (end − start)·pct
 *
 * with the starting lr = maxLr / divFactor (the group's `initialLr`) and the
 * final lr = starting lr / finalDivFactor. Steps 0..totalSteps have values;
 * stepping past totalSteps throws a RangeError (ERR_OUT_OF_RANGE) and changes
 * nothing. A phase of zero width (pctStart·totalSteps = 1, say) is at its end
 * value at once (PyTorch divides by zero there). Not chainable. Meant to be
 * stepped after every batch.
 */
export class OneCycleLR extends MomentumCyclingScheduler<OneCycleLRSettings> {
  constructor(optimizer: SchedulableOptimizer, options: OneCycleLROptions) {
    const fields = FieldReader.forOptions('OneCycleLR', options, [
      'maxLr',
      'totalSteps',
      'epochs',
      'stepsPerEpoch',
      'pctStart',
      'annealStrategy',
      'cycleMomentum',
      'baseMomentum',
      'maxMomentum',
      'divFactor',
      'finalDivFactor',
      'threePhase',
      'lastEpoch',
    ]);
    super('OneCycleLR', optimizer, fields);
    this.baseLrs = this.settings.initialLr.slice();
    this.initialStep();
  }

  /** The settings as saved: the lr bounds of each group already worked out. */
  protected readSettings(fields: FieldReader): OneCycleLRSettings {
    const groupCount = this.optimizer.paramGroups.length;
    return {
      ...this.readShape(fields, fields.number('totalSteps', COUNT)),
      initialLr: fields.perGroupNumbers('initialLr', groupCount, NON_NEGATIVE),
      maxLr: fields.perGroupNumbers('maxLr', groupCount, NON_NEGATIVE),
      minLr: fields.perGroupNumbers('minLr', groupCount, NON_NEGATIVE),
      ...readMomentumCycling(fields, groupCount, { baseMomentum: 0.85, maxMomentum: 0.95 }),
    };
  }

  /**
   * The settings from the options: the lr bounds from maxLr and the two
   * factors; when resuming, from the groups, where the previous OneCycleLR
   * stored them (as PyTorch reads `group['max_lr']`, ...).
   */
  protected override settingsFromOptions(fields: FieldReader): OneCycleLRSettings {
    const groups = this.optimizer.paramGroups;
    const shape = this.readShape(fields, this.totalStepsOption(fields));
    const maxLr = fields.perGroupNumbers('maxLr', groups.length, NON_NEGATIVE);
    const divFactor = fields.number('divFactor', POSITIVE, 25);
    const finalDivFactor = fields.number('finalDivFactor', POSITIVE, 1e4);
    const momentum = readMomentumCycling(fields, groups.length, { baseMomentum: 0.85, maxMomentum: 0.95 });
    if (this.lastEpoch === -1) {
      const initialLr = maxLr.map((peak) => peak / divFactor);
      return { ...shape, ...momentum, initialLr, maxLr, minLr: initialLr.map((lr) => lr / finalDivFactor) };
    }
    const stored = (key: string) => readStoredGroupNumber(this.kind, groups, key, this.lastEpoch);
    return {
      ...shape,
      ...momentum,
      ...(momentum.cycleMomentum ? { maxMomentum: stored('maxMomentum'), baseMomentum: stored('baseMomentum') } : {}),
      initialLr: this.baseLrs.slice(),
      maxLr: stored('maxLr'),
      minLr: stored('minLr'),
    };
  }

  /** totalSteps, or else epochs · stepsPerEpoch (totalSteps wins when both are given, as in PyTorch). */
  private totalStepsOption(fields: FieldReader): number {
    if (fields.has('totalSteps')) return fields.number('totalSteps', COUNT);
    if (fields.has('epochs') || fields.has('stepsPerEpoch')) {
      return fields.number('epochs', COUNT) * fields.number('stepsPerEpoch', COUNT);
    }
    throw makeError(
      ErrorCodes.INVALID_ARG_VALUE,
      `${fields.name('totalSteps')}: expected totalSteps, or epochs and stepsPerEpoch, got none of them`,
    );
  }

  /** What shapes the schedule, whether read from options or from a state dict. */
  private readShape(fields: FieldReader, totalSteps: number) {
    const threePhase = fields.boolean('threePhase', false);
    // Past 0.5 the second phase of three would end after the third.
    const pctStart = fields.number('pctStart', { min: 0, max: threePhase ? 0.5 : 1 }, 0.3);
    const annealStrategy = fields.choice('annealStrategy', ['cos', 'linear'] as const, 'cos');
    return { totalSteps, pctStart, annealStrategy, threePhase };
  }

  /** A fresh schedule stores its lr bounds in the groups, as PyTorch's `initial_lr`, `max_lr`, `min_lr`. */
  protected override groupBookkeeping(i: number): Record<string, number> {
    const keys = super.groupBookkeeping(i);
    if (this.lastEpoch !== -1) return keys;
    const { initialLr, maxLr, minLr } = this.settings;
    return { ...keys, initialLr: initialLr[i], maxLr: maxLr[i], minLr: minLr[i] };
  }

  protected pointAt(settings: OneCycleLRSettings, epoch: number): CyclePoint {
    if (epoch > settings.totalSteps) {
      throw makeError(
        ErrorCodes.OUT_OF_RANGE,
        `${this.kind}: step: tried to reach step ${epoch}, past the end of the schedule (totalSteps = ${settings.totalSteps})`,
      );
    }
    const phases = phasesOf(settings);
    let start = 0;
    let index = 0;
    // The last phase also takes step totalSteps, past its end (PyTorch extrapolates the anneal there).
    while (index < phases.length - 1 && epoch > phases[index].endStep) {
      start = phases[index].endStep;
      index += 1;
    }
    const phase = phases[index];
    const pct = phase.endStep === start ? 1 : (epoch - start) / (phase.endStep - start);
    const anneal = settings.annealStrategy === 'cos' ? cosineAnneal : linearAnneal;
    const [lrFrom, lrTo] = phase.lr;
    const [momentumFrom, momentumTo] = phase.momentum;
    return {
      lrs: settings.initialLr.map((_, i) => anneal(settings[lrFrom][i], settings[lrTo][i], pct)),
      momenta: settings.maxMomentum.map((_, i) => anneal(settings[momentumFrom][i], settings[momentumTo][i], pct)),
    };
  }
}
