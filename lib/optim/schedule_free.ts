/**
 * Schedule-Free AdamW and SGD (Defazio et al. 2024, "The Road Less
 * Scheduled"; facebookresearch/schedule_free, whose options and defaults
 * these take in camelCase): no learning-rate schedule, and at any step the
 * quality of a run annealed to that step. The optimizer keeps two sequences
 * besides the params: z (the base sequence, state) and x (the average the
 * model is evaluated at). In train mode the params hold y, a point between
 * them where the gradient is taken; eval() moves them to x, train() back to
 * y. A new optimizer starts in eval mode, as the package's does: call train()
 * before the first step (a step in eval mode throws ERR_NOT_IN_TRAIN_MODE)
 * and eval() before evaluating or saving weights for inference. The
 * arithmetic is in native/kernels/schedule_free.h.
 *
 * Per step, each group advances its own numbers, as the package keeps them
 * in the group: the warmed-up lr γ = lr·min(1, (k+1)/warmupSteps), lrMax =
 * max(lrMax, γ), the averaging weight (k+1)^r·lrMax^weightLrPower added to
 * weightSum, and k. Unlike the package, the gradients are never written, and
 * every group must be in train mode to step (the package checks group 0).
 */
import { scheduleFreeAdamWKernel, scheduleFreeSgdKernel, scheduleFreeSwitchKernel } from '../kernels/schedule_free';
import { ErrorCodes, makeError } from '../errors';
import { betasOption, lrOption, numberOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamGroupInput, ParamsInput, TrainEvalModes } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { GroupState, GroupStateSpec, KernelChoice, OptimizerSpec, ScalarContext, StateSchema } from './core/spec';
import { STATE_STORAGE_OPTIONS, StateStorageOptions } from '../compact/state_storage';

/** What both take besides their update rule: the package's warmup and averaging options. */
export type ScheduleOptions = {
  /** The learning rate γ (its peak, reached after the warmup). */
  lr: number;
  /** Weight decay λ, added to the (normalized) gradient at y: λ·y. */
  weightDecay: number;
  /** Steps of linear warmup: γ·(k+1)/warmupSteps for the first warmupSteps steps (0: none). */
  warmupSteps: number;
  /** Polynomial weighting of the average: step k's weight grows as (k+1)^r (0: uniform). */
  r: number;
  /** Steps are weighted by lrMax^weightLrPower, so warmup steps weigh less (0: no weighting). */
  weightLrPower: number;
};

/** The options of AdamWScheduleFree (schedulefree.AdamWScheduleFree's, in camelCase). */
export type AdamWScheduleFreeOptions = ScheduleOptions & {
  /** The pair (β₁, β₂): β₁ interpolates y between z and x (the momentum of the averaging), β₂ is the second moment's decay. */
  betas: [number, number];
  /** ε added to the denominator √v̂. */
  eps: number;
} & StateStorageOptions;

/** The options of SGDScheduleFree (schedulefree.SGDScheduleFree's, in camelCase). */
export type SGDScheduleFreeOptions = ScheduleOptions & {
  /** β, strictly between 0 and 1: interpolates y between z and x. */
  momentum: number;
};

type ScheduleFreeScalar = ScalarsOf<typeof scheduleFreeAdamWKernel>;

/** The numbers a group keeps (the package's k, lr_max, weight_sum, scheduled_lr and train_mode). */
const GROUP_STATE: readonly GroupStateSpec[] = [
  { name: 'k', initial: 0, count: true },
  { name: 'lrMax', initial: -1 },
  { name: 'weightSum', initial: 0 },
  { name: 'scheduledLr', initial: 0 },
  { name: 'trainMode', initial: false },
];

const ADAMW_STATE: StateSchema = {
  buffers: [
    { name: 'z', dtype: 'param', fromParam: true },
    { name: 'expAvgSq', dtype: 'param', compact: 'unsigned' },
  ],
  scalars: [],
};
const SGD_STATE: StateSchema = { buffers: [{ name: 'z', dtype: 'param', fromParam: true }], scalars: [] };
const ADAMW_KERNEL: KernelChoice<ScheduleFreeScalar> = { kernel: scheduleFreeAdamWKernel, buffers: ['z', 'expAvgSq'] };
const SGD_KERNEL: KernelChoice<ScheduleFreeScalar> = { kernel: scheduleFreeSgdKernel, buffers: ['z'] };

const SCHEDULE_OPTIONS = {
  weightDecay: numberOption(0, { min: 0 }),
  warmupSteps: numberOption(0, { integer: true, min: 0 }),
  r: numberOption(0, { min: 0 }),
  weightLrPower: numberOption(2, { min: 0 }),
};

/** The package's per-step bookkeeping of a group, in its order. */
function advanceGroup(g: ScheduleOptions, values: GroupState): void {
  const k = values.k as number;
  const lr = k < g.warmupSteps ? g.lr * ((k + 1) / g.warmupSteps) : g.lr;
  values.scheduledLr = lr;
  const lrMax = (values.lrMax = Math.max(lr, values.lrMax as number));
  values.weightSum = (values.weightSum as number) + averagingWeight(g, k + 1, lrMax);
  values.k = k + 1;
}

function averagingWeight(g: ScheduleOptions, kPlus1: number, lrMax: number): number {
  return kPlus1 ** g.r * lrMax ** g.weightLrPower;
}

/** The scalars both kernels share, from the group's numbers after advanceGroup; β interpolates y. */
function writeScheduleScalars(g: ScheduleOptions, beta: number, { gradScale, group }: ScalarContext, out: Record<ScheduleFreeScalar, number>): void {
  const k = group.k as number;
  const lr = group.scheduledLr as number;
  const weightSum = group.weightSum as number;
  // The package's weight / weight_sum, 0 where that division raises ZeroDivisionError.
  const ckp1 = weightSum === 0 ? 0 : averagingWeight(g, k, group.lrMax as number) / weightSum;
  out.gradScale = gradScale;
  out.decay = g.weightDecay;
  out.ckp1 = ckp1;
  out.yStep = lr * (beta * (1 - ckp1) - 1);
  out.lr = lr;
}

/** A step in eval mode would take the gradient at x: refused. */
function checkTrainMode(_g: unknown, values: Readonly<GroupState>, where: string): void {
  if (values.trainMode !== true) {
    throw makeError(ErrorCodes.NOT_IN_TRAIN_MODE, `${where}: the group is in eval mode (its params hold the average x); call train() before stepping and eval() before evaluating`);
  }
}

/** What both declare alike: the group's numbers, how a step advances them, and the mode a step needs. */
const SCHEDULE = { groupState: GROUP_STATE, advanceGroup, checkStep: checkTrainMode } as const;

const adamWSpec: OptimizerSpec<AdamWScheduleFreeOptions, ScheduleFreeScalar> = {
  name: 'AdamWScheduleFree',
  options: { lr: lrOption(0.0025), betas: betasOption([0.9, 0.999]), eps: numberOption(1e-8, { min: 0 }), ...SCHEDULE_OPTIONS, ...STATE_STORAGE_OPTIONS },
  checkGroup: (g, where) => checkAveragingBeta(g.betas[0], `${where}.betas[0]`),
  ...SCHEDULE,
  state: () => ADAMW_STATE,
  kernel: () => ADAMW_KERNEL,
  scalars(g, context, out) {
    const beta2 = g.betas[1];
    writeScheduleScalars(g, g.betas[0], context, out);
    out.beta2 = beta2;
    out.oneMinusBeta2 = 1 - beta2;
    out.biasCorrection2 = 1 - beta2 ** (context.group.k as number);
    out.eps = g.eps;
  },
};

const sgdSpec: OptimizerSpec<SGDScheduleFreeOptions, ScheduleFreeScalar> = {
  name: 'SGDScheduleFree',
  options: { lr: lrOption(1), momentum: numberOption(0.9, { min: 0, max: 1, minExclusive: true, maxExclusive: true }), ...SCHEDULE_OPTIONS },
  ...SCHEDULE,
  state: () => SGD_STATE,
  kernel: () => SGD_KERNEL,
  scalars(g, context, out) {
    writeScheduleScalars(g, g.momentum, context, out);
    // Read by the AdamW kernel only.
    out.beta2 = 0;
    out.oneMinusBeta2 = 1;
    out.biasCorrection2 = 1;
    out.eps = 0;
  },
};

/** β₁ > 0: eval() moves the params by 1 − 1/β₁. */
function checkAveragingBeta(beta: number, name: string): void {
  if (!(beta > 0)) throw makeError(ErrorCodes.OUT_OF_RANGE, `${name}: expected a number > 0 and < 1 (eval() divides by it), got ${beta}`);
}

/** What both classes add to an Optimizer: train() and eval(), which move the params between y and x. */
export abstract class ScheduleFreeOptimizer<O extends ScheduleOptions> extends Optimizer<O> implements TrainEvalModes {
  /** β of group `gi` (β₁ or the momentum), validated. */
  protected abstract averagingBeta(gi: number): number;

  /** Moves every group in eval mode to train mode: params from x to y = lerp(x, z, 1 − β). */
  train(): void {
    this.paramGroups.forEach((group, gi) => {
      const values = group as unknown as GroupState;
      if (values.trainMode === true) return;
      this.updateParamsWithState(gi, scheduleFreeSwitchKernel, ['z'], Float64Array.of(1 - this.averagingBeta(gi)));
      values.trainMode = true;
    });
  }

  /** Moves every group in train mode to eval mode: params from y to x = lerp(y, z, 1 − 1/β). */
  eval(): void {
    this.paramGroups.forEach((group, gi) => {
      const values = group as unknown as GroupState;
      if (values.trainMode !== true) return;
      this.updateParamsWithState(gi, scheduleFreeSwitchKernel, ['z'], Float64Array.of(1 - 1 / this.averagingBeta(gi)));
      values.trainMode = false;
    });
  }

  /** True in train mode (group 0's mode: train() and eval() switch every group). */
  get training(): boolean {
    return (this.paramGroups[0] as unknown as GroupState).trainMode === true;
  }

  /** Adds a group in the mode group 0 is in (its params have no z yet, so they are y and x at once). */
  override addParamGroup(group: ParamGroupInput<O>): void {
    super.addParamGroup(group);
    (this.paramGroups[this.paramGroups.length - 1] as unknown as GroupState).trainMode = this.training;
  }
}

/** Schedule-Free AdamW (schedulefree.AdamWScheduleFree): AdamW's normalized gradient, averaged without a schedule. */
export class AdamWScheduleFree extends ScheduleFreeOptimizer<AdamWScheduleFreeOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = adamWSpec;

  constructor(params: ParamsInput<AdamWScheduleFreeOptions>, options?: Partial<AdamWScheduleFreeOptions> & OptimizerOptions) {
    super(adamWSpec, params, options);
  }

  protected averagingBeta(gi: number): number {
    return this.groupHyper(gi).betas[0];
  }
}

/** Schedule-Free SGD (schedulefree.SGDScheduleFree): SGD averaged without a schedule. */
export class SGDScheduleFree extends ScheduleFreeOptimizer<SGDScheduleFreeOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = sgdSpec;

  constructor(params: ParamsInput<SGDScheduleFreeOptions>, options?: Partial<SGDScheduleFreeOptions> & OptimizerOptions) {
    super(sgdSpec, params, options);
  }

  protected averagingBeta(gi: number): number {
    return this.groupHyper(gi).momentum;
  }
}
