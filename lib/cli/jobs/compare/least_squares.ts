/**
 * The textbook's optimizer comparison: minimise 0.5·‖Ax − b‖² from x = 0 for 1000 steps in
 * float64 with each of its seven configurations, on the A and b its NumPy code drew
 * (data/reference/seed_quadratic.json, which also holds the losses that code produced).
 *
 * The textbook's definitions (the JSON's notes): losses[k] is the loss after k steps, evaluated
 * before step k + 1; final loss = losses[999]; gap = final loss − optimal loss.
 */
import * as fs from 'fs';
import { Adagrad, Adam, AdamW, LBFGS, RMSprop, SGD } from '../../..';
import type { BackendName } from '../../..';
import type { StateDtypeOption } from '../../../compact/state_storage';
import type { Tensor } from '../../../tensor';
import { Optimizer } from '../../../optim/core/optimizer';
import { findPackageFile } from '../package_files';

export interface QuadraticReference {
  A: number[][];
  b: number[];
  optimal_loss: number;
  num_steps: number;
  notes: string[];
  optimizers: Array<{ name: string; final_loss: number; gap: number; losses: number[] }>;
}

export function loadQuadraticReference(file = findPackageFile('data/reference/seed_quadratic.json')): QuadraticReference {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as QuadraticReference;
}

/** Options every configuration passes through: the backend, and how the state is stored. */
export interface ConfigExtras {
  backend?: BackendName;
  stateDtype?: StateDtypeOption;
  min8bitSize?: number;
}

/** The seven configurations in this library's API (the textbook's RMSprop `beta` is PyTorch's `alpha`). */
export const TEXTBOOK_CONFIGS: Record<string, (x: Tensor, extras?: ConfigExtras) => Optimizer<{ lr: number }>> = {
  SGD: (x, extras) => new SGD([x], { lr: 0.01, ...extras }),
  Momentum: (x, extras) => new SGD([x], { lr: 0.01, momentum: 0.9, ...extras }),
  Nesterov: (x, extras) => new SGD([x], { lr: 0.01, momentum: 0.9, nesterov: true, ...extras }),
  AdaGrad: (x, extras) => new Adagrad([x], { lr: 0.1, eps: 1e-8, ...extras }),
  RMSprop: (x, extras) => new RMSprop([x], { lr: 0.01, alpha: 0.9, eps: 1e-8, ...extras }),
  Adam: (x, extras) => new Adam([x], { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, ...extras }),
  AdamW: (x, extras) => new AdamW([x], { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, ...extras }),
};

/** 0.5·‖Ax − b‖² and its gradient Aᵀ(Ax − b), in float64. */
export class LeastSquares {
  constructor(
    readonly A: number[][],
    readonly b: number[],
  ) {}

  get dimension(): number {
    return this.A[0].length;
  }

  private residual(x: Float64Array): Float64Array {
    const r = new Float64Array(this.A.length);
    for (let i = 0; i < this.A.length; i++) {
      let s = 0;
      for (let j = 0; j < x.length; j++) s += this.A[i][j] * x[j];
      r[i] = s - this.b[i];
    }
    return r;
  }

  loss(x: Float64Array): number {
    let s = 0;
    for (const v of this.residual(x)) s += v * v;
    return 0.5 * s;
  }

  gradient(x: Float64Array, out: Float64Array): void {
    const r = this.residual(x);
    for (let j = 0; j < x.length; j++) {
      let s = 0;
      for (let i = 0; i < this.A.length; i++) s += this.A[i][j] * r[i];
      out[j] = s;
    }
  }
}

export interface QuadraticRow {
  name: string;
  /** losses[k]: after k steps, k = 0..steps-1. */
  losses: number[];
  finalLoss: number;
  gap: number;
  reference: { finalLoss: number; gap: number; losses: number[] };
}

/** Runs every configuration the way the textbook's loop does: record the loss, then step. */
export function runQuadraticComparison(ref: QuadraticReference = loadQuadraticReference()): QuadraticRow[] {
  const problem = new LeastSquares(ref.A, ref.b);
  return ref.optimizers.map((expected) => {
    const make = TEXTBOOK_CONFIGS[expected.name];
    if (!make) throw new Error(`seed_quadratic.json: unknown configuration ${JSON.stringify(expected.name)}`);
    const x = new Float64Array(problem.dimension);
    const grad = new Float64Array(problem.dimension);
    const opt = make(x);
    const losses: number[] = [];
    for (let step = 0; step < ref.num_steps; step++) {
      losses.push(problem.loss(x));
      problem.gradient(x, grad);
      opt.step([grad]);
    }
    const finalLoss = losses[losses.length - 1];
    return {
      name: expected.name,
      losses,
      finalLoss,
      gap: finalLoss - ref.optimal_loss,
      reference: { finalLoss: expected.final_loss, gap: expected.gap, losses: expected.losses },
    };
  });
}

/** One configuration's final loss with float32 params and each way of storing its state. */
export interface StateDtypeRow {
  name: string;
  /** Final loss (after steps − 1 steps, as the table's) per state dtype. */
  finalLoss: Record<StateDtypeOption, number>;
}

/**
 * The seven configurations with float32 params and float32, bfloat16 and
 * 8-bit state (every tensor 8-bit: min8bitSize 0, the problem's x being
 * tiny), from x = 0 for `ref.num_steps` steps: what compact state costs in
 * final loss. The loss is computed in float64 from the float32 params.
 */
export function runStateDtypeComparison(ref: QuadraticReference = loadQuadraticReference()): StateDtypeRow[] {
  const problem = new LeastSquares(ref.A, ref.b);
  return ref.optimizers.map(({ name }) => {
    const finalLoss = {} as Record<StateDtypeOption, number>;
    for (const stateDtype of ['float32', 'bfloat16', 'int8'] as const) {
      const x = new Float32Array(problem.dimension);
      const wide = new Float64Array(problem.dimension);
      const gradient = new Float64Array(problem.dimension);
      const grad = new Float32Array(problem.dimension);
      const opt = TEXTBOOK_CONFIGS[name](x, { stateDtype, min8bitSize: 0 });
      let loss = NaN;
      for (let step = 0; step < ref.num_steps; step++) {
        wide.set(x);
        loss = problem.loss(wide);
        problem.gradient(wide, gradient);
        grad.set(gradient);
        opt.step([grad]);
      }
      finalLoss[stateDtype] = loss;
    }
    return { name, finalLoss };
  });
}

export interface LbfgsRow {
  /** 'LBFGS' or 'LBFGS strong_wolfe'. */
  name: string;
  /** opt.step(closure) calls made (each runs up to maxIter = 20 iterations). */
  steps: number;
  /** Iterations and closure calls over those steps (the optimizer's nIter and funcEvals). */
  iterations: number;
  evaluations: number;
  finalLoss: number;
  gap: number;
}

/**
 * LBFGS with PyTorch's defaults (lr 1, maxIter 20, historySize 100), without and with the
 * strong-Wolfe line search, on the same problem from x = 0: steps until the gap is below
 * 1e-12 (at most 5). A quasi-Newton method on a 5-dimensional quadratic: a handful of
 * iterations, where the first-order methods above take 1000 steps.
 */
export function runLbfgsOnQuadratic(ref: QuadraticReference = loadQuadraticReference()): LbfgsRow[] {
  const problem = new LeastSquares(ref.A, ref.b);
  return ([null, 'strong_wolfe'] as const).map((lineSearchFn) => {
    const x = new Float64Array(problem.dimension);
    const grad = new Float64Array(problem.dimension);
    const opt = new LBFGS([x], { lineSearchFn });
    const closure = () => {
      problem.gradient(x, grad);
      return { loss: problem.loss(x), grads: [grad] };
    };
    let steps = 0;
    while (steps < 5 && (steps === 0 || problem.loss(x) - ref.optimal_loss >= 1e-12)) {
      opt.step(closure);
      steps += 1;
    }
    const finalLoss = problem.loss(x);
    const state = opt.state[0];
    return {
      name: lineSearchFn ? `LBFGS ${lineSearchFn}` : 'LBFGS',
      steps,
      iterations: state.nIter as number,
      evaluations: state.funcEvals as number,
      finalLoss,
      gap: finalLoss - ref.optimal_loss,
    };
  });
}
