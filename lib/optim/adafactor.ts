/**
 * Adafactor (torch.optim.Adafactor, PyTorch 2.5; Shazeer & Stern 2018,
 * "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost"): for a
 * param of matrix shape, the second moment kept as one statistic per row and
 * one per column (rows + cols numbers instead of rows·cols), the step size
 * relative to the param's RMS, and the update clipped by its own RMS. The
 * formulas, PyTorch's use of lr and ε₁ included, are in
 * native/kernels/adafactor.h.
 *
 * The buffers here are flat, so a group says each param's shape in `shapes`
 * (one entry per param, null for none): a param whose shape has rank 2 or
 * more is factored over its last two dimensions, the leading ones a batch of
 * matrices, as PyTorch does; any other keeps a full second moment. State, as
 * PyTorch names it: rowVar and colVar (factored) or variance, and step.
 */
import { adafactorFactoredKernel, adafactorKernel } from '../kernels/adafactor';
import { matricesOf } from '../kernels/factored_shape';
import type { ScalarsOf } from '../kernels/kernel_def';
import { ErrorCodes, makeError } from '../errors';
import { checkArray, checkBoolean, checkNumber, describe } from '../validate';
import { OptionRule, booleanOption, lrOption, numberOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { KernelChoice, OptimizerSpec, ParamShape, StateSchema } from './core/spec';

/** The options of Adafactor, PyTorch 2.5's in camelCase, and the params' shapes. */
export type AdafactorOptions = {
  /** The cap of the relative step size ρₜ = min(lr, 1/√t), and the weight decay's rate (default 1e-2). */
  lr: number;
  /** τ in 1 − β̂₂ₜ = t^τ: how fast the second moment's average forgets (≤ 0, default −0.8). */
  beta2Decay: number;
  /** The pair [ε₁, ε₂]: ε₁ the floor of the denominator (null: the machine epsilon of the param's type), ε₂ of the param's RMS. */
  eps: [number | null, number];
  /** The clipping threshold of the update's RMS (≥ 1, default 1). */
  d: number;
  /** Decoupled: θ ← θ·(1 − lr·λ). */
  weightDecay: number;
  /** PyTorch's choice of implementation, accepted for parity: every step here is one fused native call whatever it says. */
  foreach: boolean | null;
  /** Maximize the objective instead of minimizing it (the gradient's sign is flipped). */
  maximize: boolean;
  /** Per param of the group, its shape (the product of its dimensions is its length), or null; null for the whole group: no shapes. */
  shapes: Array<number[] | null> | null;
};

type Scalar = ScalarsOf<typeof adafactorKernel>;
const VECTOR: KernelChoice<Scalar> = { kernel: adafactorKernel, buffers: ['variance'] };
const FACTORED: KernelChoice<Scalar> = { kernel: adafactorFactoredKernel, buffers: ['rowVar', 'colVar'] };

const VARIANCE = { name: 'variance', dtype: 'param' } as const;
const ROW_VAR = { name: 'rowVar', dtype: 'param', factor: 'rows' } as const;
const COL_VAR = { name: 'colVar', dtype: 'param', factor: 'cols' } as const;
const VECTOR_STATE: StateSchema = { buffers: [VARIANCE], scalars: [] };
const FACTORED_STATE: StateSchema = { buffers: [ROW_VAR, COL_VAR], scalars: [] };
const ANY_STATE: StateSchema = { buffers: [ROW_VAR, COL_VAR, VARIANCE], scalars: [] };

/** [ε₁ or null, ε₂], both ≥ 0. */
const epsOption: OptionRule<[number | null, number]> = {
  default: [null, 1e-3],
  check(name, value) {
    const list = checkArray(name, value);
    if (list.length !== 2) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}: expected [eps1 or null, eps2], got ${describe(value)}`);
    return [list[0] === null ? null : checkNumber(`${name}[0]`, list[0], { min: 0 }), checkNumber(`${name}[1]`, list[1], { min: 0 })];
  },
  copy: (v) => [v[0], v[1]],
};

const foreachOption: OptionRule<boolean | null> = {
  default: null,
  check: (name, value) => (value === null ? null : checkBoolean(name, value)),
  copy: (v) => v,
};

/** A list of shapes, each null or an Array of non-negative integers; or null. Checked against the params by checkParams. */
const shapesOption: OptionRule<Array<number[] | null> | null> = {
  default: null,
  check(name, value) {
    if (value === null) return null;
    return checkArray(name, value).map((shape, k) =>
      shape === null ? null : checkArray(`${name}[${k}]`, shape).map((n, d) => checkNumber(`${name}[${k}][${d}]`, n, { integer: true, min: 0 })),
    );
  },
  copy: (v) => (v === null ? null : v.map((shape) => (shape === null ? null : [...shape]))),
};

const spec: OptimizerSpec<AdafactorOptions, Scalar> = {
  name: 'Adafactor',
  options: {
    lr: lrOption(1e-2),
    beta2Decay: numberOption(-0.8, { max: 0 }),
    eps: epsOption,
    d: numberOption(1, { min: 1 }),
    weightDecay: numberOption(0, { min: 0 }),
    foreach: foreachOption,
    maximize: booleanOption(false),
    shapes: shapesOption,
  },
  fixedOptions: ['shapes'],
  checkParams(g, params, where) {
    if (g.shapes === null) return;
    if (g.shapes.length !== params.length) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `${where}.shapes: expected one shape (or null) per param, ${params.length}, got ${g.shapes.length}`);
    }
    g.shapes.forEach((shape, k) => {
      const elements = shape === null ? params[k].length : shape.reduce((a, b) => a * b, 1);
      if (elements !== params[k].length) {
        throw makeError(ErrorCodes.SHAPE_MISMATCH, `${where}.shapes[${k}]: [${shape!.join(', ')}] has ${elements} elements, params[${k}] has ${params[k].length}`);
      }
    });
  },
  shapeOf: (g, k) => (g.shapes === null ? null : g.shapes[k]),
  state: (g, shape) => (shape === undefined ? ANY_STATE : isFactored(shape) ? FACTORED_STATE : VECTOR_STATE),
  kernel: (g, shape) => (isFactored(shape ?? null) ? FACTORED : VECTOR),
  scalars(g, { step, gradScale }, out) {
    out.gradScale = g.maximize ? -gradScale : gradScale;
    out.oneMinusBeta2 = Math.pow(step, g.beta2Decay);
    out.rho = Math.min(g.lr, 1 / Math.sqrt(step));
    out.eps1 = g.eps[0] ?? 0;
    out.machineEps1 = g.eps[0] === null ? 1 : 0;
    out.eps2 = g.eps[1];
    out.d = g.d;
    out.decay = 1 - g.lr * g.weightDecay;
  },
};

/** Factored: a shape of rank 2 or more with elements (PyTorch factors grad.dim() > 1). */
function isFactored(shape: ParamShape | null): boolean {
  return matricesOf(shape) !== null;
}

export class Adafactor extends Optimizer<AdafactorOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<AdafactorOptions>, options?: Partial<AdafactorOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
