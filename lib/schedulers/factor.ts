/**
 * Schedulers that scale the base lr by a factor during the first totalIters
 * steps (typically a warmup), then leave it at its base.
 */
import { COUNT, FieldReader } from './fields';
import { LRScheduler, ResumeOptions, SchedulableOptimizer } from './scheduler';

export interface ConstantLROptions extends ResumeOptions {
  /** The factor applied until totalIters, in (0, 1]. Default 1/3. */
  factor?: number;
  /** The step at which the factor is lifted (integer >= 1). Default 5. */
  totalIters?: number;
}

type ConstantLRSettings = { factor: number; totalIters: number };

/**
 * Multiplies the lr by a constant factor until step totalIters (PyTorch's ConstantLR):
 *
 *   lr_0 = lr · factor,   lr_t = lr_{t-1} / factor  at t = totalIters,   else lr_{t-1}
 *
 * which, with nothing else changing the lr, is lr_t = baseLr · (t < totalIters ? factor : 1).
 * factor = 0 is refused (PyTorch accepts it): this chainable form divides by it.
 */
export class ConstantLR extends LRScheduler<ConstantLRSettings> {
  constructor(optimizer: SchedulableOptimizer, options?: ConstantLROptions) {
    super('ConstantLR', optimizer, FieldReader.forOptions('ConstantLR', options, ['factor', 'totalIters', 'lastEpoch']));
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): ConstantLRSettings {
    return {
      factor: fields.number('factor', { min: 0, minExclusive: true, max: 1 }, 1 / 3),
      totalIters: fields.number('totalIters', COUNT, 5),
    };
  }

  protected override computeLr(epoch: number): number[] {
    const { factor, totalIters } = this.settings;
    return this.optimizer.paramGroups.map((group) => {
      if (epoch === 0) return group.lr * factor;
      if (epoch !== totalIters) return group.lr;
      return group.lr * (1 / factor);
    });
  }

  protected override closedFormLr(epoch: number): number[] {
    const { factor, totalIters } = this.settings;
    return this.baseLrs.map((base) => base * (epoch >= totalIters ? 1 : factor));
  }
}

export interface LinearLROptions extends ResumeOptions {
  /** The factor at step 0, in (0, 1]. Default 1/3. */
  startFactor?: number;
  /** The factor from step totalIters on, in [0, 1]. Default 1. */
  endFactor?: number;
  /** The number of steps the factor takes to go from startFactor to endFactor (integer >= 1). Default 5. */
  totalIters?: number;
}

type LinearLRSettings = { startFactor: number; endFactor: number; totalIters: number };

/**
 * Moves the lr's factor linearly from startFactor to endFactor over totalIters
 * steps (PyTorch's LinearLR), in the chainable form, for 0 < t <= totalIters:
 *
 *   lr_t = lr_{t-1} · (1 + (end − start) / (totalIters·start + (t − 1)·(end − start)))
 *
 * with lr_0 = lr · start and the lr left alone after totalIters; with nothing
 * else changing the lr, lr_t = baseLr · (start + (end − start) · min(t, totalIters) / totalIters).
 */
export class LinearLR extends LRScheduler<LinearLRSettings> {
  constructor(optimizer: SchedulableOptimizer, options?: LinearLROptions) {
    super(
      'LinearLR',
      optimizer,
      FieldReader.forOptions('LinearLR', options, ['startFactor', 'endFactor', 'totalIters', 'lastEpoch']),
    );
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): LinearLRSettings {
    return {
      startFactor: fields.number('startFactor', { min: 0, minExclusive: true, max: 1 }, 1 / 3),
      endFactor: fields.number('endFactor', { min: 0, max: 1 }, 1),
      totalIters: fields.number('totalIters', COUNT, 5),
    };
  }

  protected override computeLr(epoch: number, isInitialStep: boolean): number[] {
    const { startFactor: start, endFactor: end, totalIters } = this.settings;
    return this.optimizer.paramGroups.map((group) => {
      if (epoch === 0) return group.lr * start;
      if (isInitialStep || epoch > totalIters) return group.lr;
      const ratio = 1 + (end - start) / (totalIters * start + (epoch - 1) * (end - start));
      // With endFactor = 0 the last ratio is 0 only up to rounding; never let it make the lr negative.
      return Math.max(0, group.lr * ratio);
    });
  }

  protected override closedFormLr(epoch: number): number[] {
    const { startFactor: start, endFactor: end, totalIters } = this.settings;
    return this.baseLrs.map((base) => base * (start + ((end - start) * Math.min(totalIters, epoch)) / totalIters));
  }
}
