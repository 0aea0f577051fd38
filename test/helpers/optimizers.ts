/**
 * Optimizer test fixtures: every optimizer by name, the combinations of its
 * options worth testing, named cases with seeded params and gradients, and a
 * bit-exact comparison of two optimizers' params and state.
 */
import { expect } from 'chai';
import { OPTIMIZERS } from '../../lib/optim/registry';
import type { BackendName } from '../../lib/backend';
import type { Optimizer } from '../../lib/optim/core/optimizer';
import type { DType, StateArray, Tensor } from '../../lib/tensor';
import { expectBitIdentical } from './bits';
import { mixSeed, randomTensors, randomTensorsLike } from './random';

export type AnyOptimizer = Optimizer<{ lr: number }>;
export type OptimizerName = 'SGD' | 'Adagrad' | 'RMSprop' | 'Adam' | 'AdamW' | 'Lion' | 'LAMB' | 'Adafactor' | ElementwiseName | ScheduleFreeName;
/** The Schedule-Free optimizers (they start in eval mode: makeOptimizer puts them in train mode). */
export type ScheduleFreeName = 'AdamWScheduleFree' | 'SGDScheduleFree';
/** The elementwise optimizers of issue 12 (the rest of torch.optim). */
export type ElementwiseName = 'Adamax' | 'RAdam' | 'NAdam' | 'Adadelta' | 'Rprop' | 'ASGD';
export type Options = Record<string, unknown>;
/** What the constructors accept: a list of tensors or of param groups. */
export type ParamsArg = readonly Tensor[] | ReadonlyArray<Options & { params: readonly Tensor[] }>;

type Constructor = new (params: never, options?: never) => AnyOptimizer;
/** The step optimizers of the registry (LBFGS, which takes a closure, has its own tests). */
const STEP_OPTIMIZERS = OPTIMIZERS.filter((e) => !e.capabilities.closure);
const CONSTRUCTORS = Object.fromEntries(STEP_OPTIMIZERS.map((e) => [e.name, e.class])) as unknown as Record<OptimizerName, Constructor>;

/** Every step optimizer the library registers (lib/optim/index.ts); a name the type above lacks fails test/registry.test.ts. */
export const OPTIMIZER_NAMES: readonly OptimizerName[] = STEP_OPTIMIZERS.map((e) => e.name as OptimizerName);

const WITH_MODES = new Set(STEP_OPTIMIZERS.filter((e) => e.capabilities.modes).map((e) => e.name));

/**
 * `new <name>(params, { ...options, backend })`, without the caller spelling out five constructors;
 * an optimizer with modes (Schedule-Free) is put in train mode, ready to step.
 */
export function makeOptimizer(name: OptimizerName, params: ParamsArg, options: Options = {}, backend?: BackendName): AnyOptimizer {
  const Ctor = CONSTRUCTORS[name] as unknown as new (p: ParamsArg, o: Options) => AnyOptimizer;
  const opt = new Ctor(params, backend === undefined ? options : { ...options, backend });
  if (WITH_MODES.has(name)) (opt as unknown as { train(): void }).train();
  return opt;
}

/**
 * The compact-state options at their defaults, as the groups of every optimizer that offers
 * them show them (docs/compact-state.md): written once, for the tests that spell out a
 * group's defaults.
 */
export const STORAGE_DEFAULTS = { stateDtype: 'float32', stochasticRounding: false, roundingSeed: 0, min8bitSize: 4096 } as const;

/** Whether optimizer `name` declares the option `option` (maximize, weightDecay, ...). */
export function hasOption(name: OptimizerName, option: string): boolean {
  return option in STEP_OPTIMIZERS.find((e) => e.name === name)!.spec!.options;
}

/**
 * Whether optimizer `name` keeps a schedule per group (Schedule-Free's k and weightSum, as its
 * package keeps them): a param stepped late then follows its group's schedule, not one of its own.
 */
export function schedulesPerGroup(name: OptimizerName): boolean {
  return STEP_OPTIMIZERS.find((e) => e.name === name)!.spec!.groupState !== undefined;
}

/** Every combination of the listed values: cartesian({a: [1, 2], b: [x]}) → [{a: 1, b: x}, {a: 2, b: x}]. */
export function cartesian(axes: Record<string, readonly unknown[]>): Options[] {
  let out: Options[] = [{}];
  for (const [key, values] of Object.entries(axes)) {
    out = out.flatMap((partial) => values.map((v) => ({ ...partial, [key]: v })));
  }
  return out;
}

export interface Variant {
  optimizer: OptimizerName;
  options: Options;
}

export function variantLabel(v: Variant): string {
  return `${v.optimizer} ${JSON.stringify(v.options)}`;
}

const BETAS = [
  [0.9, 0.999],
  [0.8, 0.95],
];

/**
 * Every option of every optimizer, each at its default and at least one other
 * value, in all combinations (invalid ones, like Nesterov without momentum,
 * left out). Learning rates are large enough that the params really move.
 */
export function allVariants(): Variant[] {
  const sgd = cartesian({
    lr: [0.01],
    momentum: [0, 0.9],
    dampening: [0, 0.3],
    nesterov: [false, true],
    weightDecay: [0, 0.01],
    maximize: [false, true],
  }).filter((o) => !o.nesterov || (o.momentum !== 0 && o.dampening === 0));
  const adagrad = cartesian({
    lr: [0.05],
    lrDecay: [0, 0.05],
    weightDecay: [0, 0.01],
    initialAccumulatorValue: [0, 0.1],
    eps: [1e-10, 1e-3],
    maximize: [false, true],
  });
  const rmsprop = cartesian({
    lr: [0.01],
    alpha: [0.9, 0.99],
    eps: [1e-8, 1e-3],
    weightDecay: [0, 0.01],
    momentum: [0, 0.9],
    centered: [false, true],
    maximize: [false, true],
  });
  const adam = cartesian({
    lr: [0.01],
    betas: [
      [0.9, 0.999],
      [0.8, 0.95],
    ],
    eps: [1e-8, 1e-4],
    weightDecay: [0, 0.05],
    amsgrad: [false, true],
    maximize: [false, true],
  });
  const lion = cartesian({
    lr: [0.01],
    betas: [
      [0.9, 0.99],
      [0.8, 0.95],
    ],
    weightDecay: [0, 0.1],
    maximize: [false, true],
  });
  const lamb = cartesian({
    lr: [0.01],
    betas: [
      [0.9, 0.999],
      [0.8, 0.95],
    ],
    eps: [1e-6, 1e-3],
    weightDecay: [0, 0.05],
    maximize: [false, true],
  });
  // Without shapes: every param keeps a full second moment (test/adafactor.test.ts covers the factored kernel).
  const adafactor = cartesian({
    lr: [0.01, 0.2],
    beta2Decay: [-0.8, -0.5],
    eps: [
      [null, 1e-3],
      [1e-30, 1e-2],
    ],
    d: [1, 1.5],
    weightDecay: [0, 0.05],
    maximize: [false, true],
  });
  return [
    ...sgd.map((options) => ({ optimizer: 'SGD' as const, options })),
    ...adagrad.map((options) => ({ optimizer: 'Adagrad' as const, options })),
    ...rmsprop.map((options) => ({ optimizer: 'RMSprop' as const, options })),
    ...adam.map((options) => ({ optimizer: 'Adam' as const, options })),
    ...adam.map((options) => ({ optimizer: 'AdamW' as const, options })),
    ...lion.map((options) => ({ optimizer: 'Lion' as const, options })),
    ...lamb.map((options) => ({ optimizer: 'LAMB' as const, options })),
    ...adafactor.map((options) => ({ optimizer: 'Adafactor' as const, options })),
    ...elementwiseVariants(),
    ...scheduleFreeVariants(),
  ];
}

/**
 * allVariants() of the Schedule-Free optimizers: every option at two values, the averaging's
 * (r, weightLrPower) as two pairs rather than all four combinations, which keeps the table small.
 */
function scheduleFreeVariants(): Variant[] {
  const averaging = [
    { r: 0, weightLrPower: 2 },
    { r: 1, weightLrPower: 0 },
  ];
  const adamw = cartesian({ lr: [0.01], betas: BETAS, eps: [1e-8, 1e-3], weightDecay: [0, 0.05], warmupSteps: [0, 3], averaging });
  const sgd = cartesian({ lr: [0.1], momentum: [0.9, 0.5], weightDecay: [0, 0.05], warmupSteps: [0, 3], averaging });
  const flat = ({ averaging: a, ...rest }: Options) => ({ ...rest, ...(a as Options) });
  return [
    ...adamw.map((options) => ({ optimizer: 'AdamWScheduleFree' as const, options: flat(options) })),
    ...sgd.map((options) => ({ optimizer: 'SGDScheduleFree' as const, options: flat(options) })),
  ];
}

/** allVariants() of the elementwise optimizers of issue 12. */
function elementwiseVariants(): Variant[] {
  const adamax = cartesian({ lr: [0.01], betas: BETAS, eps: [1e-8, 1e-3], weightDecay: [0, 0.05], maximize: [false, true] });
  const radam = cartesian({ lr: [0.01], betas: BETAS, eps: [1e-8, 1e-3], weightDecay: [0, 0.05], decoupledWeightDecay: [false, true], maximize: [false, true] });
  const nadam = cartesian({
    lr: [0.01],
    betas: BETAS,
    weightDecay: [0, 0.05],
    momentumDecay: [4e-3, 0.1],
    decoupledWeightDecay: [false, true],
    maximize: [false, true],
  });
  const adadelta = cartesian({ lr: [1, 0.5], rho: [0.9, 0.5], eps: [1e-6, 1e-3], weightDecay: [0, 0.01], maximize: [false, true] });
  const rprop = cartesian({
    lr: [0.01],
    etas: [
      [0.5, 1.2],
      [0.3, 1.5],
    ],
    stepSizes: [
      [1e-6, 50],
      [1e-3, 0.02],
    ],
    maximize: [false, true],
  });
  const asgd = cartesian({ lr: [0.01], lambd: [1e-4, 0.1], alpha: [0.75, 0.5], t0: [2, 1e6], weightDecay: [0, 0.01], maximize: [false, true] });
  return [
    ...adamax.map((options) => ({ optimizer: 'Adamax' as const, options })),
    ...radam.map((options) => ({ optimizer: 'RAdam' as const, options })),
    ...nadam.map((options) => ({ optimizer: 'NAdam' as const, options })),
    ...adadelta.map((options) => ({ optimizer: 'Adadelta' as const, options })),
    ...rprop.map((options) => ({ optimizer: 'Rprop' as const, options })),
    ...asgd.map((options) => ({ optimizer: 'ASGD' as const, options })),
  ];
}

/** One variant per kernel the optimizers can select, every term of its formula switched on. */
export function kernelVariants(): Variant[] {
  return [
    { optimizer: 'SGD', options: { lr: 0.01, weightDecay: 0.01, maximize: true } },
    { optimizer: 'SGD', options: { lr: 0.01, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 } },
    { optimizer: 'SGD', options: { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 0.01 } },
    { optimizer: 'Adagrad', options: { lr: 0.05, lrDecay: 0.01, weightDecay: 0.01, initialAccumulatorValue: 0.1 } },
    { optimizer: 'RMSprop', options: { lr: 0.01, weightDecay: 0.01 } },
    { optimizer: 'RMSprop', options: { lr: 0.01, centered: true, maximize: true } },
    { optimizer: 'RMSprop', options: { lr: 0.01, momentum: 0.9 } },
    { optimizer: 'RMSprop', options: { lr: 0.01, centered: true, momentum: 0.9, weightDecay: 0.01 } },
    { optimizer: 'Adam', options: { lr: 0.01, weightDecay: 0.01 } },
    { optimizer: 'Adam', options: { lr: 0.01, amsgrad: true, maximize: true } },
    { optimizer: 'AdamW', options: { lr: 0.01, weightDecay: 0.1, amsgrad: true } },
    { optimizer: 'Lion', options: { lr: 0.01, betas: [0.8, 0.95], weightDecay: 0.1, maximize: true } },
    { optimizer: 'LAMB', options: { lr: 0.01, betas: [0.8, 0.95], weightDecay: 0.05, maximize: true } },
    { optimizer: 'Adamax', options: { lr: 0.01, weightDecay: 0.01, maximize: true } },
    // beta2 0.8: rho_t passes 5 at step 7, so an 8-step run crosses RAdam's switch.
    { optimizer: 'RAdam', options: { lr: 0.01, betas: [0.9, 0.8], weightDecay: 0.01 } },
    { optimizer: 'NAdam', options: { lr: 0.01, weightDecay: 0.01, momentumDecay: 0.1, decoupledWeightDecay: true } },
    { optimizer: 'Adadelta', options: { lr: 0.5, weightDecay: 0.01, maximize: true } },
    { optimizer: 'Rprop', options: { lr: 0.01, stepSizes: [1e-4, 1] } },
    // t0 3: the first steps copy the params into ax, the later ones average.
    { optimizer: 'ASGD', options: { lr: 0.01, lambd: 1e-3, t0: 3, weightDecay: 0.01 } },
    // Without shapes, the vector kernel; fingerprint.ts adds a run with shapes (the factored kernel).
    { optimizer: 'Adafactor', options: { lr: 0.05, eps: [1e-30, 1e-3], d: 1.5, weightDecay: 0.01, maximize: true } },
    { optimizer: 'AdamWScheduleFree', options: { lr: 0.01, weightDecay: 0.01, warmupSteps: 2, r: 0.5 } },
    { optimizer: 'SGDScheduleFree', options: { lr: 0.1, momentum: 0.8, weightDecay: 0.01, warmupSteps: 2 } },
  ];
}

/** A variant with a name, by which a test picks it, or a worker_thread that was sent the name through workerData. */
export interface OptimizerCase extends Variant {
  readonly name: string;
  make(params: readonly Tensor[]): AnyOptimizer;
}

function optimizerCase(name: string, optimizer: OptimizerName, options: Options): OptimizerCase {
  return { name, optimizer, options, make: (params) => makeOptimizer(optimizer, params, options) };
}

/**
 * The service-embedding tests' cases (stepAsync, worker_threads, thread
 * control): like kernelVariants(), one per kernel the optimizers can select
 * with hyper-parameters that exercise every term, but with the values those
 * tests were written with (larger learning rates for SGD and Adagrad, maximize
 * on other kernels).
 */
export const OPTIMIZER_CASES: readonly OptimizerCase[] = [
  optimizerCase('SGD', 'SGD', { lr: 0.05, weightDecay: 0.01 }),
  optimizerCase('SGD momentum', 'SGD', { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }),
  optimizerCase('SGD nesterov', 'SGD', { lr: 0.05, momentum: 0.9, nesterov: true, maximize: true }),
  optimizerCase('Adagrad', 'Adagrad', { lr: 0.1, lrDecay: 0.01, weightDecay: 0.01, initialAccumulatorValue: 0.1 }),
  optimizerCase('RMSprop', 'RMSprop', { lr: 0.01, weightDecay: 0.01 }),
  optimizerCase('RMSprop centered', 'RMSprop', { lr: 0.01, centered: true }),
  optimizerCase('RMSprop momentum', 'RMSprop', { lr: 0.01, momentum: 0.9 }),
  optimizerCase('RMSprop centered momentum', 'RMSprop', { lr: 0.01, centered: true, momentum: 0.9, maximize: true }),
  optimizerCase('Adam', 'Adam', { lr: 0.01, weightDecay: 0.01 }),
  optimizerCase('Adam amsgrad', 'Adam', { lr: 0.01, amsgrad: true }),
  optimizerCase('AdamW', 'AdamW', { lr: 0.01, weightDecay: 0.1 }),
  optimizerCase('Lion', 'Lion', { lr: 0.01, betas: [0.8, 0.95], weightDecay: 0.1, maximize: true }),
  optimizerCase('LAMB', 'LAMB', { lr: 0.01, betas: [0.8, 0.95], weightDecay: 0.05 }),
  optimizerCase('Adamax', 'Adamax', { lr: 0.01, weightDecay: 0.01, maximize: true }),
  optimizerCase('RAdam', 'RAdam', { lr: 0.01, betas: [0.9, 0.8], weightDecay: 0.01, decoupledWeightDecay: true }),
  optimizerCase('NAdam', 'NAdam', { lr: 0.01, weightDecay: 0.01, momentumDecay: 0.1 }),
  optimizerCase('Adadelta', 'Adadelta', { lr: 0.5, weightDecay: 0.01 }),
  optimizerCase('Rprop', 'Rprop', { lr: 0.01, stepSizes: [1e-4, 1], maximize: true }),
  optimizerCase('ASGD', 'ASGD', { lr: 0.01, lambd: 1e-3, t0: 1, weightDecay: 0.01 }),
  optimizerCase('Adafactor', 'Adafactor', { lr: 0.05, weightDecay: 0.01 }),
  optimizerCase('AdamWScheduleFree', 'AdamWScheduleFree', { lr: 0.01, weightDecay: 0.01, warmupSteps: 2 }),
  optimizerCase('SGDScheduleFree', 'SGDScheduleFree', { lr: 0.1, weightDecay: 0.01, r: 1 }),
];

export function findCase(name: string): OptimizerCase {
  const found = OPTIMIZER_CASES.find((c) => c.name === name);
  if (!found) throw new Error(`no optimizer case called ${name}`);
  return found;
}

/**
 * The cases' param lengths: odd sizes (vector tails), one below and one above
 * the size at which the kernels open a parallel region, so both the
 * single-thread and the multi-thread paths run.
 */
export const CASE_LENGTHS: readonly number[] = [1, 37, 1000, 70_001];

/** A case's params: normal deviates, a pure function of the seed. */
export function caseParams(dtype: DType, seed: number, lengths: readonly number[] = CASE_LENGTHS): Tensor[] {
  return randomTensors(dtype, lengths, seed);
}

/** The gradients of step `step` for `params` (dtypes and lengths alike): half-scale normal deviates, a pure function of (seed, step). */
export function caseGrads(params: readonly Tensor[], seed: number, step: number): Tensor[] {
  return randomTensorsLike(params, mixSeed(seed, step), 0.5);
}

/** Every param of every group, in the optimizer's global order. */
export function paramsOf(opt: AnyOptimizer): Tensor[] {
  return opt.paramGroups.flatMap((g) => g.params);
}

/** Every param and every state buffer, in a fixed order: what "the same result" means for a hash or a comparison. */
export function resultTensors(opt: AnyOptimizer): StateArray[] {
  const out: StateArray[] = paramsOf(opt);
  for (const entry of opt.state) {
    for (const key of Object.keys(entry).sort()) {
      const v = entry[key];
      if (v !== undefined && typeof v !== 'number') out.push(v);
    }
  }
  return out;
}

/** Copies of resultTensors(opt): the result as it is now, which later steps do not change. */
export function copyResultTensors(opt: AnyOptimizer): StateArray[] {
  return resultTensors(opt).map((t) => t.slice());
}

/** Asserts bit-identical params, the same state keys and step counts, and bit-identical state buffers. */
export function expectSameOptimizer(actual: AnyOptimizer, expected: AnyOptimizer, label: string): void {
  const a = paramsOf(actual);
  const e = paramsOf(expected);
  expect(a.length, `${label}: param count`).to.equal(e.length);
  a.forEach((p, i) => expectBitIdentical(p, e[i], `${label}: params[${i}]`));
  expect(actual.state.length, `${label}: state length`).to.equal(expected.state.length);
  actual.state.forEach((entry, i) => {
    const other = expected.state[i];
    expect(Object.keys(entry).sort(), `${label}: state[${i}] keys`).to.deep.equal(Object.keys(other).sort());
    for (const key of Object.keys(entry)) {
      const v = entry[key];
      const w = other[key];
      if (typeof v === 'number' || typeof w === 'number' || v === undefined || w === undefined) {
        expect(v, `${label}: state[${i}].${key}`).to.equal(w);
      } else {
        expectBitIdentical(v, w, `${label}: state[${i}].${key}`);
      }
    }
  });
}
