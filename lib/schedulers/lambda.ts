/**
 * Schedulers driven by user functions of the step index.
 *
 * The functions are not part of the state dict (PyTorch saves only callable
 * objects' attributes; JavaScript functions have none worth saving): a
 * scheduler loading a state dict must be constructed with the same functions.
 */
import { checkFunction, checkNumber } from '../validate';
import { FieldReader } from './fields';
import { LRScheduler, NoSettings, ResumeOptions, SchedulableOptimizer } from './scheduler';

/** Gives the factor for step `epoch` (an integer >= 0). */
export type LrLambda = (epoch: number) => number;

export interface LrLambdaOptions extends ResumeOptions {
  /** One function for every param group, or an Array of one function per group. */
  lrLambda: LrLambda | LrLambda[];
}

/** What LambdaLR and MultiplicativeLR share: one checked function per group. */
abstract class LambdaScheduler extends LRScheduler<NoSettings> {
  private readonly lrLambdas: LrLambda[];

  protected constructor(kind: string, optimizer: SchedulableOptimizer, options: LrLambdaOptions) {
    const fields = FieldReader.forOptions(kind, options, ['lrLambda', 'lastEpoch']);
    super(kind, optimizer, fields);
    this.lrLambdas = fields.perGroup('lrLambda', this.optimizer.paramGroups.length, (name, value) =>
      checkFunction<LrLambda>(name, value),
    );
  }

  protected readSettings(): NoSettings {
    return {};
  }

  /** Group i's function at `epoch`, checked: a bad factor must stop the step before any lr is written. */
  protected factor(i: number, epoch: number): number {
    return checkNumber(`${this.kind}: lrLambda(${epoch}) for param group ${i}`, this.lrLambdas[i](epoch), { allowInfinity: false });
  }
}

/**
 * Sets the lr to the base lr times a function of the step (PyTorch's LambdaLR):
 *
 *   lr_t = baseLr · lrLambda(t)
 */
export class LambdaLR extends LambdaScheduler {
  constructor(optimizer: SchedulableOptimizer, options: LrLambdaOptions) {
    super('LambdaLR', optimizer, options);
    this.initialStep();
  }

  protected override computeLr(epoch: number): number[] {
    return this.baseLrs.map((base, i) => base * this.factor(i, epoch));
  }
}

/**
 * Multiplies the lr by a function of the step at every step (PyTorch's MultiplicativeLR):
 *
 *   lr_t = lr_{t-1} · lrLambda(t)      (the initial step leaves the lr alone)
 */
export class MultiplicativeLR extends LambdaScheduler {
  constructor(optimizer: SchedulableOptimizer, options: LrLambdaOptions) {
    super('MultiplicativeLR', optimizer, options);
    this.initialStep();
  }

  protected override computeLr(epoch: number, isInitialStep: boolean): number[] {
    return this.optimizer.paramGroups.map((group, i) => (isInitialStep ? group.lr : group.lr * this.factor(i, epoch)));
  }
}
