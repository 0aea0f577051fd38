/**
 * Rprop (torch.optim.Rprop; Riedmiller & Braun 1993): resilient
 * backpropagation, for full-batch training. Each element keeps its own step
 * size, grown by η₊ while its gradient keeps its sign and shrunk by η₋ when
 * the sign flips (and that step skipped); the param moves by the step size
 * against the gradient's sign. `lr` is the step size every element starts
 * with (later changes to `lr`, by a scheduler say, do not touch existing step
 * sizes, as in PyTorch). The arithmetic is in native/kernels/rprop.h.
 */
import { rpropKernel } from '../kernels/rprop';
import { ErrorCodes, makeError } from '../errors';
import { signedGradScale } from './core/adaptive_terms';
import { schemaByLr } from './core/lr_schema';
import { booleanOption, lrOption, numberPairOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec } from './core/spec';

/** The options of Rprop, PyTorch's in camelCase. */
export type RpropOptions = {
  /** The initial step size of every element. */
  lr: number;
  /** The pair [η₋, η₊]: the step size's factors on a sign change and on a kept sign; 0 < η₋ < 1 < η₊. */
  etas: [number, number];
  /** The pair [Γ_min, Γ_max]: the bounds of every step size; 0 <= Γ_min <= Γ_max. */
  stepSizes: [number, number];
  /** Maximize the objective instead of minimizing it (the gradient's sign is flipped). */
  maximize: boolean;
};

const KERNEL: KernelChoice<ScalarsOf<typeof rpropKernel>> = { kernel: rpropKernel, buffers: ['prev', 'stepSize'] };

const stateFor = schemaByLr((lr) => ({
  buffers: [
    { name: 'prev', dtype: 'param' },
    { name: 'stepSize', dtype: 'param', initial: lr },
  ],
  scalars: [],
}));

const spec: OptimizerSpec<RpropOptions, ScalarsOf<typeof rpropKernel>> = {
  name: 'Rprop',
  options: {
    lr: lrOption(1e-2),
    etas: numberPairOption([0.5, 1.2], ['etaMinus', 'etaPlus'], [
      { min: 0, max: 1, minExclusive: true, maxExclusive: true },
      { min: 1, minExclusive: true },
    ]),
    stepSizes: numberPairOption([1e-6, 50], ['stepSizeMin', 'stepSizeMax'], [{ min: 0 }, { min: 0 }]),
    maximize: booleanOption(false),
  },
  checkGroup(g, where) {
    if (g.stepSizes[0] > g.stepSizes[1]) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `${where}.stepSizes: expected [stepSizeMin, stepSizeMax] with stepSizeMin <= stepSizeMax, got [${g.stepSizes[0]}, ${g.stepSizes[1]}]`,
      );
    }
  },
  state: (g) => stateFor(g.lr),
  kernel: () => KERNEL,
  scalars(g, { gradScale }, out) {
    out.gradScale = signedGradScale(g.maximize, gradScale);
    out.etaMinus = g.etas[0];
    out.etaPlus = g.etas[1];
    out.stepSizeMin = g.stepSizes[0];
    out.stepSizeMax = g.stepSizes[1];
  },
};

export class Rprop extends Optimizer<RpropOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<RpropOptions>, options?: Partial<RpropOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
