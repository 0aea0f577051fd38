/**
 * Step decay: the lr drops by a factor at fixed steps.
 */
import { COUNT, FieldReader, POSITIVE } from './fields';
import { LRScheduler, ResumeOptions, SchedulableOptimizer } from './scheduler';

export interface StepLROptions extends ResumeOptions {
  /** Period of the decay, in steps (integer >= 1). */
  stepSize: number;
  /** Multiplicative factor of the decay (> 0). Default 0.1. */
  gamma?: number;
}

/** The settings of a step decay (StepLR, and the textbook's StepScheduler). */
export type StepDecaySettings = { stepSize: number; gamma: number };

export function readStepDecay(fields: FieldReader): StepDecaySettings {
  return { stepSize: fields.number('stepSize', COUNT), gamma: fields.number('gamma', POSITIVE, 0.1) };
}

/** baseLr · gamma^⌊t / stepSize⌋ for every group. */
export function stepDecayLr(baseLrs: readonly number[], { stepSize, gamma }: StepDecaySettings, t: number): number[] {
  return baseLrs.map((base) => base * gamma ** Math.floor(t / stepSize));
}

/**
 * Multiplies the lr by gamma every stepSize steps (PyTorch's StepLR):
 *
 *   lr_t = lr_{t-1} · gamma   if t > 0 and t mod stepSize = 0,   else lr_{t-1}
 *
 * which, with nothing else changing the lr, is lr_t = baseLr · gamma^⌊t / stepSize⌋.
 */
export class StepLR extends LRScheduler<StepDecaySettings> {
  constructor(optimizer: SchedulableOptimizer, options: StepLROptions) {
    super('StepLR', optimizer, FieldReader.forOptions('StepLR', options, ['stepSize', 'gamma', 'lastEpoch']));
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): StepDecaySettings {
    return readStepDecay(fields);
  }

  protected override computeLr(epoch: number): number[] {
    const { stepSize, gamma } = this.settings;
    const decays = epoch !== 0 && epoch % stepSize === 0;
    return this.optimizer.paramGroups.map((group) => (decays ? group.lr * gamma : group.lr));
  }

  protected override closedFormLr(epoch: number): number[] {
    return stepDecayLr(this.baseLrs, this.settings, epoch);
  }
}

export interface MultiStepLROptions extends ResumeOptions {
  /** The steps at which the lr decays: non-decreasing integers >= 0; a step listed k times decays k times. */
  milestones: number[];
  /** Multiplicative factor of each decay (> 0). Default 0.1. */
  gamma?: number;
}

type MultiStepLRSettings = { milestones: number[]; gamma: number };

/**
 * Multiplies the lr by gamma at each milestone (PyTorch's MultiStepLR):
 *
 *   lr_t = lr_{t-1} · gamma^count(t)   where count(t) = how many times t is listed
 *
 * which, with nothing else changing the lr, is lr_t = baseLr · gamma^(number of milestones <= t).
 * As PyTorch (which keeps the milestones in a Counter), a milestone listed twice
 * decays twice: [15, 15] multiplies by gamma² at step 15. Milestones must not
 * decrease (PyTorch sorts them; an unsorted list here is more likely a typo).
 */
export class MultiStepLR extends LRScheduler<MultiStepLRSettings> {
  constructor(optimizer: SchedulableOptimizer, options: MultiStepLROptions) {
    super('MultiStepLR', optimizer, FieldReader.forOptions('MultiStepLR', options, ['milestones', 'gamma', 'lastEpoch']));
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): MultiStepLRSettings {
    return {
      milestones: fields.increasingIntegers('milestones', { min: 0 }, 'repeats allowed'),
      gamma: fields.number('gamma', POSITIVE, 0.1),
    };
  }

  protected override computeLr(epoch: number): number[] {
    const { milestones, gamma } = this.settings;
    const count = milestones.filter((milestone) => milestone === epoch).length;
    return this.optimizer.paramGroups.map((group) => (count > 0 ? group.lr * gamma ** count : group.lr));
  }

  protected override closedFormLr(epoch: number): number[] {
    const { milestones, gamma } = this.settings;
    const passed = milestones.filter((milestone) => milestone <= epoch).length;
    return this.baseLrs.map((base) => base * gamma ** passed);
  }
}
