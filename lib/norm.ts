/**
 * Global norms over lists of tensors: which reduction a norm type needs, how
 * partial results combine, and the final root. Shared by clipGradNorm,
 * getTotalNorm and the optimizers' fused clip-into-step, for both backends.
 */
import type { Backend } from './backend';
import { ReduceKind } from './kernels';
import type { Tensor } from './tensor';
import { checkNumber } from './validate';

export interface NormPlan {
  readonly kind: ReduceKind;
  readonly p: number;
}

/** Validates a norm type (any p > 0, or Infinity) and picks its reduction. */
export function normPlan(name: string, normType: unknown): NormPlan {
  const p = checkNumber(name, normType, { min: 0, minExclusive: true, allowInfinity: true });
  if (p === Infinity) return { kind: ReduceKind.MaxAbs, p };
  if (p === 2) return { kind: ReduceKind.SumSquares, p };
  if (p === 1) return { kind: ReduceKind.SumAbs, p };
  return { kind: ReduceKind.SumPow, p };
}

function merge(kind: ReduceKind, a: number, b: number): number {
  if (kind === ReduceKind.MaxAbs) return a !== a || a > b ? a : b;
  return a + b;
}

function finish(plan: NormPlan, total: number): number {
  switch (plan.kind) {
    case ReduceKind.SumSquares:
      return Math.sqrt(total);
    case ReduceKind.SumPow:
      return Math.pow(total, 1 / plan.p);
    default:
      return total;
  }
}

/** The tensors split by dtype: a native call takes one dtype at a time. */
export function byDtype(tensors: readonly Tensor[]): Tensor[][] {
  const f32: Tensor[] = [];
  const f64: Tensor[] = [];
  for (const t of tensors) (t instanceof Float32Array ? f32 : f64).push(t);
  return [f32, f64].filter((list) => list.length > 0);
}

/** The p-norm of all elements of all tensors, as if they were one vector. */
export function totalNorm(backend: Backend, tensors: readonly Tensor[], plan: NormPlan, threads: number): number {
  let total = 0;
  for (const list of byDtype(tensors)) total = merge(plan.kind, total, backend.reduce(plan.kind, list, plan.p, threads));
  return finish(plan, total);
}

export async function totalNormAsync(
  backend: Backend,
  tensors: readonly Tensor[],
  plan: NormPlan,
  threads: number,
): Promise<number> {
  let total = 0;
  for (const list of byDtype(tensors)) {
    total = merge(plan.kind, total, await backend.reduceAsync(plan.kind, list, plan.p, threads));
  }
  return finish(plan, total);
}

/**
 * PyTorch's clip coefficient: torch.clamp(maxNorm / (norm + 1e-6), max=1).
 * A NaN norm (or ∞/∞) gives NaN, not 1: clamp propagates NaN, so PyTorch
 * multiplies every gradient by NaN rather than leaving them unclipped.
 */
export function clipCoefficient(maxNorm: number, norm: number): number {
  const coef = maxNorm / (norm + 1e-6);
  return coef > 1 ? 1 : coef;
}
