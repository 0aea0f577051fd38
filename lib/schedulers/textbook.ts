/**
 * The textbook's two schedulers, with its formulas, as closed forms of the
 * step count s (the number of step() calls so far, 0 at construction).
 *
 * One change from the textbook: it leaves the lr untouched until the first
 * scheduler.step(), so its first optimizer step runs at the peak lr, which
 * defeats the warmup. Here, as every scheduler of this library, construction
 * already sets the lr of step 0 (0 for a warmup).
 */
import { cosineAnneal } from './anneal';
import { COUNT, FieldReader, NON_NEGATIVE } from './fields';
import { LRScheduler, ResumeOptions, SchedulableOptimizer } from './scheduler';
import { StepDecaySettings, StepLROptions, readStepDecay, stepDecayLr } from './step';

export interface WarmupCosineSchedulerOptions extends ResumeOptions {
  /** Steps of linear warmup from 0 up to the base lr (integer >= 0, at most totalSteps). 0: start at the peak. */
  warmupSteps: number;
  /** The step at which the lr reaches minLr and stays (integer >= 1). */
  totalSteps: number;
  /** The lr the cosine ends at (>= 0), one for all groups or one per group. Default 0. */
  minLr?: number | number[];
}

type WarmupCosineSettings = { warmupSteps: number; totalSteps: number; minLr: number[] };

/**
 * Linear warmup, then cosine decay (the textbook's WarmupCosineScheduler).
 * With baseLr each group's `initialLr`:
 *
 *   s < warmupSteps:   lr = baseLr · s / warmupSteps
 *   s < totalSteps:    progress = (s − warmupSteps) / (totalSteps − warmupSteps)
 *                      lr = minLr + 0.5 · (baseLr − minLr) · (1 + cos(π · progress))
 *   s >= totalSteps:   lr = minLr
 *
 * warmupSteps = totalSteps leaves no cosine phase: minLr right after the warmup.
 */
export class WarmupCosineScheduler extends LRScheduler<WarmupCosineSettings> {
  constructor(optimizer: SchedulableOptimizer, options: WarmupCosineSchedulerOptions) {
    super(
      'WarmupCosineScheduler',
      optimizer,
      FieldReader.forOptions('WarmupCosineScheduler', options, ['warmupSteps', 'totalSteps', 'minLr', 'lastEpoch']),
    );
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): WarmupCosineSettings {
    const totalSteps = fields.number('totalSteps', COUNT);
    return {
      warmupSteps: fields.number('warmupSteps', { integer: true, min: 0, max: totalSteps }),
      totalSteps,
      minLr: fields.perGroupNumbers('minLr', this.optimizer.paramGroups.length, NON_NEGATIVE, 0),
    };
  }

  protected override computeLr(s: number): number[] {
    const { warmupSteps, totalSteps, minLr } = this.settings;
    return this.baseLrs.map((baseLr, i) => {
      if (s < warmupSteps) return (baseLr * s) / warmupSteps;
      // Checked before the cosine, so warmupSteps = totalSteps never divides by zero.
      if (s >= totalSteps) return minLr[i];
      const progress = (s - warmupSteps) / (totalSteps - warmupSteps);
      return cosineAnneal(baseLr, minLr[i], progress);
    });
  }
}

/** The textbook's StepScheduler takes StepLR's options. */
export type StepSchedulerOptions = StepLROptions;

/**
 * Step decay (the textbook's StepScheduler):
 *
 *   lr = baseLr · gamma^⌊s / stepSize⌋
 *
 * The same values as StepLR when nothing else changes the lr, but computed
 * from the base lr at every step rather than from the current lr, so it does
 * not compose with other schedulers in a ChainedScheduler.
 */
export class StepScheduler extends LRScheduler<StepDecaySettings> {
  constructor(optimizer: SchedulableOptimizer, options: StepSchedulerOptions) {
    super('StepScheduler', optimizer, FieldReader.forOptions('StepScheduler', options, ['stepSize', 'gamma', 'lastEpoch']));
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): StepDecaySettings {
    return readStepDecay(fields);
  }

  protected override computeLr(s: number): number[] {
    return stepDecayLr(this.baseLrs, this.settings, s);
  }
}
