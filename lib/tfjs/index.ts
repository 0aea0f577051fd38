/**
 * fusedoptim/tfjs: fusedoptim as the optimizer of a TensorFlow.js model.
 *
 *   import * as fused from 'fusedoptim/tfjs';
 *   model.compile({ optimizer: fused.adamW({ lr: 1e-3 }), loss: 'categoricalCrossentropy' });
 *
 * Needs @tensorflow/tfjs-core (an optional peer dependency: the root
 * 'fusedoptim' import never loads it).
 */
import { Adagrad } from '../optim/adagrad';
import { Adam, AdamW } from '../optim/adam';
import type { AdamOptions } from '../optim/adam';
import type { AdagradOptions } from '../optim/adagrad';
import { Lion } from '../optim/lion';
import type { LionOptions } from '../optim/lion';
import type { OptimizerOptions } from '../optim/core/optimizer';
import { RMSprop } from '../optim/rmsprop';
import type { RMSpropOptions } from '../optim/rmsprop';
import { SGD } from '../optim/sgd';
import type { SGDOptions } from '../optim/sgd';
import { Adafactor } from '../optim/adafactor';
import type { AdafactorOptions } from '../optim/adafactor';
import { FusedOptimizer, FusedOptimizerClass, FusedOptimizerOptions } from './optimizer';

export { FusedOptimizer } from './optimizer';
export type { FusedOptimizerClass, FusedOptimizerOptions } from './optimizer';
export { FusedSchedule, scheduler } from './scheduler';
export type { SchedulePer, SchedulerClass } from './scheduler';
export type { NamedTensor } from './weights';
export type { WritePath } from './backends';

/** An optimizer's options, each optional, and the backend. */
type Options<O> = Partial<O> & OptimizerOptions;

/** `fused.optimizer(AdamW, { lr, weightDecay }, { maxGradNorm, scheduler })`: any fusedoptim optimizer class as a tf.Optimizer. */
export function optimizer<O>(
  optimizerClass: new (params: Float32Array[], options?: Options<O>) => unknown,
  options?: Options<O>,
  fusedOptions?: FusedOptimizerOptions,
): FusedOptimizer {
  return new FusedOptimizer(optimizerClass as unknown as FusedOptimizerClass, (options ?? {}) as Record<string, unknown>, fusedOptions);
}

/** Adam as a tf.Optimizer: `fused.optimizer(Adam, options, fusedOptions)`. */
export const adam = (options?: Options<AdamOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(Adam, options, fusedOptions);
/** AdamW (decoupled weight decay) as a tf.Optimizer: `fused.optimizer(AdamW, options, fusedOptions)`. */
export const adamW = (options?: Options<AdamOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(AdamW, options, fusedOptions);
/** SGD as a tf.Optimizer: `fused.optimizer(SGD, options, fusedOptions)`. */
export const sgd = (options?: Options<SGDOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(SGD, options, fusedOptions);
/** RMSprop as a tf.Optimizer: `fused.optimizer(RMSprop, options, fusedOptions)`. */
export const rmsprop = (options?: Options<RMSpropOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(RMSprop, options, fusedOptions);
/** Adagrad as a tf.Optimizer: `fused.optimizer(Adagrad, options, fusedOptions)`. */
export const adagrad = (options?: Options<AdagradOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(Adagrad, options, fusedOptions);
/** Lion as a tf.Optimizer: `fused.optimizer(Lion, options, fusedOptions)`. */
export const lion = (options?: Options<LionOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(Lion, options, fusedOptions);
/** Adafactor, each variable's shape given to it (its matrices keep row and column statistics). */
export const adafactor = (options?: Options<Omit<AdafactorOptions, 'shapes'>>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer =>
  optimizer(Adafactor, options, fusedOptions);
