/**
 * Schedulers that decay the lr a little at every step.
 */
import { COUNT, FieldReader, NON_NEGATIVE, POSITIVE } from './fields';
import { LRScheduler, ResumeOptions, SchedulableOptimizer } from './scheduler';

export interface ExponentialLROptions extends ResumeOptions {
  /** Multiplicative factor of the decay at every step (> 0). */
  gamma: number;
}

type ExponentialLRSettings = { gamma: number };

/**
 * Multiplies the lr by gamma at every step (PyTorch's ExponentialLR):
 *
 *   lr_t = lr_{t-1} · gamma
 *
 * which, with nothing else changing the lr, is lr_t = baseLr · gamma^t.
 */
export class ExponentialLR extends LRScheduler<ExponentialLRSettings> {
  constructor(optimizer: SchedulableOptimizer, options: ExponentialLROptions) {
    super('ExponentialLR', optimizer, FieldReader.forOptions('ExponentialLR', options, ['gamma', 'lastEpoch']));
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): ExponentialLRSettings {
    return { gamma: fields.number('gamma', POSITIVE) };
  }

  protected override computeLr(epoch: number, isInitialStep: boolean): number[] {
    const { gamma } = this.settings;
    // The initial step leaves the lr alone: when resuming, the lr already is the one of step lastEpoch.
    return this.optimizer.paramGroups.map((group) => (isInitialStep ? group.lr : group.lr * gamma));
  }

  protected override closedFormLr(epoch: number): number[] {
    return this.baseLrs.map((base) => base * this.settings.gamma ** epoch);
  }
}

export interface PolynomialLROptions extends ResumeOptions {
  /** The number of steps over which the lr decays to 0 (integer >= 1). Default 5. */
  totalIters?: number;
  /** The power of the polynomial (>= 0). Default 1. */
  power?: number;
}

type PolynomialLRSettings = { totalIters: number; power: number };

/**
 * Decays the lr to 0 over totalIters steps along a polynomial (PyTorch's PolynomialLR),
 * in the chainable form, for 0 < t <= totalIters:
 *
 *   lr_t = lr_{t-1} · ((1 − t/totalIters) / (1 − (t − 1)/totalIters))^power
 *
 * with the lr left alone after totalIters; with nothing else changing the lr,
 * lr_t = baseLr · (1 − min(t, totalIters)/totalIters)^power.
 */
export class PolynomialLR extends LRScheduler<PolynomialLRSettings> {
  constructor(optimizer: SchedulableOptimizer, options?: PolynomialLROptions) {
    super('PolynomialLR', optimizer, FieldReader.forOptions('PolynomialLR', options, ['totalIters', 'power', 'lastEpoch']));
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): PolynomialLRSettings {
    return { totalIters: fields.number('totalIters', COUNT, 5), power: fields.number('power', NON_NEGATIVE, 1) };
  }

  protected override computeLr(epoch: number, isInitialStep: boolean): number[] {
    const { totalIters, power } = this.settings;
    if (isInitialStep || epoch > totalIters) return this.optimizer.paramGroups.map((group) => group.lr);
    const decay = ((1 - epoch / totalIters) / (1 - (epoch - 1) / totalIters)) ** power;
    return this.optimizer.paramGroups.map((group) => group.lr * decay);
  }

  protected override closedFormLr(epoch: number): number[] {
    const { totalIters, power } = this.settings;
    return this.baseLrs.map((base) => base * (1 - Math.min(totalIters, epoch) / totalIters) ** power);
  }
}
