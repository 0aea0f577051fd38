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
export type { AnyFusedOptimizer, FusedOptimizerClass, FusedOptimizerOptions } from './optimizer';
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

/** Adam as a tf.Optimizer: `fused.optimizer(Adam, options, fusedOptions)`. */
export const adam = (options?: FusedOptimizerClassOptions<AdamOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(Adam, options, fusedOptions);
/** AdamW (decoupled weight decay) as a tf.Optimizer: `fused.optimizer(AdamW, options, fusedOptions)`. */
export const adamW = (options?: FusedOptimizerClassOptions<AdamOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(AdamW, options, fusedOptions);
/** SGD as a tf.Optimizer: `fused.optimizer(SGD, options, fusedOptions)`. */
export const sgd = (options?: FusedOptimizerClassOptions<SGDOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(SGD, options, fusedOptions);
/** RMSprop as a tf.Optimizer: `fused.optimizer(RMSprop, options, fusedOptions)`. */
export const rmsprop = (options?: FusedOptimizerClassOptions<RMSpropOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(RMSprop, options, fusedOptions);
/** Adagrad as a tf.Optimizer: `fused.optimizer(Adagrad, options, fusedOptions)`. */
export const adagrad = (options?: FusedOptimizerClassOptions<AdagradOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(Adagrad, options, fusedOptions);
/** Lion as a tf.Optimizer: `fused.optimizer(Lion, options, fusedOptions)`. */
export const lion = (options?: FusedOptimizerClassOptions<LionOptions>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer => optimizer(Lion, options, fusedOptions);
/** Adafactor, each variable's shape given to it (its matrices keep row and column statistics). */
export const adafactor = (options?: FusedOptimizerClassOptions<Omit<AdafactorOptions, 'shapes'>>, fusedOptions?: FusedOptimizerOptions): FusedOptimizer =>
  optimizer(Adafactor, options, fusedOptions);
