/**
 * What train() (lib/train/loop.ts) does differently on several ranks, in one
 * place: steps through a DistributedOptimizer (gradients handed over as the
 * model's backward pass finishes each, when it says so), checkpoints gathered and
 * written by rank 0 alone (with every rank's error-feedback residuals, which a
 * resume on the same world size gives back to each rank), a stop decided on any rank reaching every rank at
 * the same step, validation figures averaged over the ranks. Progress and
 * logs are rank 0's (the loop silences the others).
 *
 * The option's backwardPassesPerStep is the loop's, not the DistributedOptimizer's: k backward
 * passes make one optimizer step, so the loop groups k micro-batches per step (times its own
 * accumulationSteps), adds their gradients up and steps once, as accumulationSteps does. Its
 * schedule, step count, maxSteps, checkpoints and progress then count optimizer steps, a stop or
 * a checkpoint never falls between the passes of a step, and an epoch's last, partial group still
 * makes a step. The DistributedOptimizer would have added the same gradients in the same order
 * with the same gradScale (1/k): the same bits, stepped once per k passes.
 */
import type { Optimizer, StepOptions, StepResult } from '../optim/core/optimizer';
import type { Tensor } from '../tensor';
import type { ErrorFeedbackState } from '../train/checkpoint';
import { checkBoolean, checkNumber, checkObject } from '../validate';
import { allReduce } from './collectives';
import { DistributedOptimizer, DistributedOptions } from './optimizer';
import { init, rank, size } from './world';

/** The reasons a loop stops, in the order a disagreement is settled (the highest wins). */
const STOP_REASONS: readonly (string | null)[] = [null, 'maxSteps', 'callback', 'aborted'];

export class LoopDistribution {
  readonly rank: number;
  readonly size: number;
  readonly optimizer: DistributedOptimizer;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(optimizer: Optimizer<any>, options: DistributedOptions) {
    init();
    this.rank = rank();
    this.size = size();
    this.optimizer = new DistributedOptimizer(optimizer, options);
    // A run resumed from a checkpoint loaded it on every rank: keep this rank's shard of it.
    this.optimizer.scatterState();
  }

  /**
   * A resumed run's error-feedback residuals (every rank read them from the same checkpoint): each
   * rank takes its own. Returns why they were not used (another world size or compression), or null.
   */
  resume(errorFeedback: ErrorFeedbackState | null): string | null {
    return this.optimizer.loadErrorFeedback(errorFeedback);
  }

  /** On rank 0 during checkpoint()'s write: every rank's residuals, for the checkpoint (null without error feedback). */
  get errorFeedback(): ErrorFeedbackState | null {
    return this.optimizer.errorFeedbackState;
  }

  /**
   * What the loop hands forwardBackward: a gradient handed over as soon as it is
   * complete is summed while the backward pass goes on. Null with shardState,
   * which reduce-scatters at the step.
   */
  get gradReady(): ((index: number, grad: Tensor) => void) | null {
    return this.optimizer.shardState ? null : (index, grad) => this.optimizer.gradReady(index, grad);
  }

  step(grads: readonly Tensor[], options: StepOptions, async: boolean): StepResult | Promise<StepResult> {
    return async ? this.optimizer.stepAsync(grads, options) : this.optimizer.step(grads, options);
  }

  /** Every rank assembles the state and the residuals (a collective); rank 0 writes; the assembled copies are dropped. */
  async checkpoint(write: () => Promise<void>): Promise<void> {
    this.optimizer.gatherState();
    try {
      if (this.rank === 0) await write();
    } finally {
      this.optimizer.releaseState();
    }
  }

  /** The stop every rank takes: the gravest any rank wants (so all stop at the same step). */
  agreeStop<R extends string>(local: R | null): R | null {
    const code = Float64Array.of(STOP_REASONS.indexOf(local));
    allReduce([code], { op: 'max', deterministic: true });
    return STOP_REASONS[code[0]] as R | null;
  }

  /** Sums of `values` over the ranks, in rank order (the same bits everywhere). */
  sum(values: readonly number[]): number[] {
    const out = Float64Array.from(values);
    allReduce([out], { deterministic: true });
    return Array.from(out);
  }
}

/** train()'s `distributed` option, read before the run is set up: what the DistributedOptimizer gets, and the passes the loop adds up. */
export interface DistributionPlan {
  /** The DistributedOptimizer's options (without backwardPassesPerStep, which the loop takes). */
  options: DistributedOptions;
  /** Backward passes (micro-batches) added up locally per optimizer step: the option's backwardPassesPerStep, default 1. */
  backwardPassesPerStep: number;
}

/** The `distributed` option of train(): true, or the DistributedOptimizer's options; null when absent or false. */
export function planDistribution(option: unknown): DistributionPlan | null {
  if (option === undefined) return null;
  if (typeof option === 'boolean') return checkBoolean('train: config.distributed', option) ? { options: {}, backwardPassesPerStep: 1 } : null;
  // The other keys are the DistributedOptimizer's to check.
  const { backwardPassesPerStep, ...options } = checkObject('train: config.distributed', option) as DistributedOptions;
  const passes = backwardPassesPerStep === undefined ? 1 : checkNumber('train: config.distributed.backwardPassesPerStep', backwardPassesPerStep, { integer: true, min: 1 });
  return { options, backwardPassesPerStep: passes };
}

/** The loop's side on several ranks, for a planned distribution (after a resume loaded the checkpoint on every rank). */
export function loopDistribution(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  optimizer: Optimizer<any>,
  plan: DistributionPlan | null,
): LoopDistribution | null {
  return plan === null ? null : new LoopDistribution(optimizer, plan.options);
}
