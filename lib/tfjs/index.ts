/**
 * fusedoptim/tfjs: fusedoptim as the optimizer of a TensorFlow.js model.
 *
 *   import * as fused from 'fusedoptim/tfjs';
 *   model.compile({ optimizer: fused.adamW({ lr: 1e-3 }), loss: 'categoricalCrossentropy' });
 *
 * Needs @tensorflow/tfjs-core (an optional peer dependency: the root
 * 'fusedoptim' import never loads it).
 */
import {
  ASGD,
  Adadelta,
  Adafactor,
  Adagrad,
  Adam,
  AdamW,
  AdamWScheduleFree,
  Adamax,
  LAMB,
  Lion,
  NAdam,
  RAdam,
  RMSprop,
  Rprop,
  SGD,
  SGDScheduleFree,
} from '../optim/index';
import type {
  ASGDOptions,
  AdadeltaOptions,
  AdafactorOptions,
  AdagradOptions,
  AdamOptions,
  AdamWScheduleFreeOptions,
  AdamaxOptions,
  LambOptions,
  LionOptions,
  NAdamOptions,
  RAdamOptions,
  RMSpropOptions,
  RpropOptions,
  SGDOptions,
  SGDScheduleFreeOptions,
} from '../optim/index';
import type { OptimizerOptions } from '../optim/core/optimizer';
import { FusedOptimizer, FusedOptimizerClass, FusedOptimizerOptions } from './optimizer';

export { FusedOptimizer } from './optimizer';
export type { AnyFusedOptimizer, FusedOptimizerClass, FusedOptimizerOptions, TrainableVariable } from './optimizer';
export { FusedSchedule, scheduler } from './scheduler';
export type { SchedulePer, SchedulerClass } from './scheduler';
export type { NamedTensor } from './weights';
export type { WritePath } from './backends';

/** The options the factories take for an optimizer whose options are `O`: each of its hyper-parameters (optional), and `backend`. */
export type FusedOptimizerClassOptions<O> = Partial<O> & OptimizerOptions;

/** `fused.optimizer(AdamW, { lr, weightDecay }, { maxGradNorm, scheduler })`: any fusedoptim optimizer class as a tf.Optimizer. */
export function optimizer<O>(
  optimizerClass: new (params: Float32Array[], options?: FusedOptimizerClassOptions<O>) => unknown,
  options?: FusedOptimizerClassOptions<O>,
  fusedOptions?: FusedOptimizerOptions,
): FusedOptimizer {
  return new FusedOptimizer(optimizerClass as unknown as FusedOptimizerClass, (options ?? {}) as Record<string, unknown>, fusedOptions);
}

/** A short form of `fused.optimizer(Class, options, fusedOptions)` for one class, whose options are `O`. */
export type FusedOptimizerFactory<O> = (options?: FusedOptimizerClassOptions<O>, fusedOptions?: FusedOptimizerOptions) => FusedOptimizer;

/** The short form of `Class`. */
function factoryOf<O>(Class: new (params: Float32Array[], options?: FusedOptimizerClassOptions<O>) => unknown): FusedOptimizerFactory<O> {
  return (options, fusedOptions) => optimizer(Class, options, fusedOptions);
}

// One short form per step optimizer of the registry (lib/optim/index.ts; LBFGS steps with a
// closure, which a tf.Optimizer is never given), named after its class in camelCase.
// TypeScript names exports only where they are written, so each is a line here;
// test/tfjs.test.ts fails, naming the missing one, when the registry and this list differ.

/** SGD as a tf.Optimizer: `fused.optimizer(SGD, options, fusedOptions)`. */
export const sgd = factoryOf<SGDOptions>(SGD);
/** Adagrad as a tf.Optimizer: `fused.optimizer(Adagrad, options, fusedOptions)`. */
export const adagrad = factoryOf<AdagradOptions>(Adagrad);
/** RMSprop as a tf.Optimizer: `fused.optimizer(RMSprop, options, fusedOptions)`. */
export const rmsprop = factoryOf<RMSpropOptions>(RMSprop);
/** Adam as a tf.Optimizer: `fused.optimizer(Adam, options, fusedOptions)`. */
export const adam = factoryOf<AdamOptions>(Adam);
/** AdamW (decoupled weight decay) as a tf.Optimizer: `fused.optimizer(AdamW, options, fusedOptions)`. */
export const adamW = factoryOf<AdamOptions>(AdamW);
/** Lion as a tf.Optimizer: `fused.optimizer(Lion, options, fusedOptions)`. */
export const lion = factoryOf<LionOptions>(Lion);
/** LAMB as a tf.Optimizer: `fused.optimizer(LAMB, options, fusedOptions)`. */
export const lamb = factoryOf<LambOptions>(LAMB);
/** Adamax as a tf.Optimizer: `fused.optimizer(Adamax, options, fusedOptions)`. */
export const adamax = factoryOf<AdamaxOptions>(Adamax);
/** RAdam as a tf.Optimizer: `fused.optimizer(RAdam, options, fusedOptions)`. */
export const radam = factoryOf<RAdamOptions>(RAdam);
/** NAdam as a tf.Optimizer: `fused.optimizer(NAdam, options, fusedOptions)`. */
export const nadam = factoryOf<NAdamOptions>(NAdam);
/** Adadelta as a tf.Optimizer: `fused.optimizer(Adadelta, options, fusedOptions)`. */
export const adadelta = factoryOf<AdadeltaOptions>(Adadelta);
/** Adafactor, each variable's shape given to it (its matrices keep row and column statistics). */
export const adafactor = factoryOf<Omit<AdafactorOptions, 'shapes'>>(Adafactor);
/** Rprop as a tf.Optimizer: `fused.optimizer(Rprop, options, fusedOptions)`. */
export const rprop = factoryOf<RpropOptions>(Rprop);
/** ASGD as a tf.Optimizer: `fused.optimizer(ASGD, options, fusedOptions)`. */
export const asgd = factoryOf<ASGDOptions>(ASGD);
/**
 * Schedule-Free AdamW as a tf.Optimizer, in train mode: `fused.optimizer(AdamWScheduleFree, options, fusedOptions)`.
 * Call its `eval()` before evaluating the model and `train()` after (docs/tfjs.md).
 */
export const adamWScheduleFree = factoryOf<AdamWScheduleFreeOptions>(AdamWScheduleFree);
/**
 * Schedule-Free SGD as a tf.Optimizer, in train mode: `fused.optimizer(SGDScheduleFree, options, fusedOptions)`.
 * Call its `eval()` before evaluating the model and `train()` after (docs/tfjs.md).
 */
export const sgdScheduleFree = factoryOf<SGDScheduleFreeOptions>(SGDScheduleFree);
