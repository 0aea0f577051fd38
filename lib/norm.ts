/**
 * Global norms over lists of tensors, in three named stages, so that partial
 * results computed apart (per element type here; per process in data-parallel
 * training) combine deterministically:
 *
 *   normPartial(tensors)   the reduction before its root: Σx², Σ|x|, max|x| or Σ|x|^p
 *   mergeNormPartials(ps)  partials combined in the order given (a sum, or a max that keeps NaN)
 *   finishNorm(p)          the root: √, the 1/p power, or nothing
 *
 * and the clip coefficient, computed here and nowhere else. Shared by
 * clipGradNorm, getTotalNorm and the optimizers' fused clip-into-step, for
 * both backends.
 */
import type { Backend } from './backend/backend';
import { ErrorCodes, makeError } from './errors';
import { ReduceKind } from './kernels/reduce_kind';
import { Pipeline, call } from './pipeline';
import type { Tensor } from './tensor';
import { checkArray, checkNumber, checkObject, describe } from './validate';

/** A validated norm type and the reduction that computes it. */
export interface NormType {
  readonly kind: ReduceKind;
  readonly p: number;
}

/** A norm before its root, over some of the tensors: merge partials with mergeNormPartials, then finishNorm. */
export interface NormPartial {
  /** The norm's order (any p > 0, or Infinity). */
  readonly normType: number;
  /** Σx² (p = 2), Σ|x| (p = 1), max|x| (p = ∞) or Σ|x|^p. */
  readonly value: number;
}

/** Validates a norm type (any p > 0, or Infinity) and picks its reduction. */
export function checkNormType(name: string, normType: unknown): NormType {
  const p = checkNumber(name, normType, { min: 0, minExclusive: true, allowInfinity: true });
  if (p === Infinity) return { kind: ReduceKind.MaxAbs, p };
  if (p === 2) return { kind: ReduceKind.SumSquares, p };
  if (p === 1) return { kind: ReduceKind.SumAbs, p };
  return { kind: ReduceKind.SumPow, p };
}

/** Two reduced values of one reduction combined: a sum, or a max that keeps NaN. */
export function mergeValues(kind: ReduceKind, a: number, b: number): number {
  if (kind === ReduceKind.MaxAbs) return a !== a || a > b ? a : b;
  return a + b;
}

/**
 * Combines partials of one norm type, left to right: the same partials in the
 * same order give the same bits on every machine (data-parallel ranks merge
 * theirs in rank order).
 */
export function mergeNormPartials(partials: readonly NormPartial[]): NormPartial {
  // Each partial read once, checked to be an object before any field is read.
  const list = checkArray('mergeNormPartials: partials', partials).map((p, i) => checkObject(`mergeNormPartials: partials[${i}]`, p) as unknown as NormPartial);
  if (list.length === 0) throw makeError(ErrorCodes.INVALID_ARG_VALUE, 'mergeNormPartials: partials: expected at least one partial');
  const type = checkNormType('mergeNormPartials: partials[0].normType', list[0].normType);
  let value = 0;
  list.forEach((partial, i) => {
    if (partial.normType !== type.p) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `mergeNormPartials: partials[${i}].normType: expected ${type.p} like partials[0], got ${describe(partial.normType)}`);
    }
    value = mergeValues(type.kind, value, checkPartialValue(`mergeNormPartials: partials[${i}].value`, partial.value));
  });
  return { normType: type.p, value };
}

/** A partial's reduced value: a number >= 0, or NaN (a NaN gradient's, which the merge keeps). */
function checkPartialValue(name: string, v: unknown): number {
  if (typeof v !== 'number') throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a number >= 0 (or NaN), got ${describe(v)}`);
  if (!(v >= 0 || v !== v)) throw makeError(ErrorCodes.OUT_OF_RANGE, `${name}: expected a number >= 0 (or NaN), got ${v}`);
  return v;
}

/** The norm from its (merged) partial. */
export function finishNorm(partial: NormPartial): number {
  checkObject('finishNorm: partial', partial);
  const { kind, p } = checkNormType('finishNorm: partial.normType', partial.normType);
  return finishValue({ kind, p }, checkPartialValue('finishNorm: partial.value', partial.value));
}

/** The norm from its reduced value: √, the 1/p power, or nothing. */
export function finishValue(type: NormType, total: number): number {
  switch (type.kind) {
    case ReduceKind.SumSquares:
      return Math.sqrt(total);
    case ReduceKind.SumPow:
      return Math.pow(total, 1 / type.p);
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

/** The partial of all elements of all tensors: one reduction per element type, merged in order (float32 first). */
export function* partialOf(backend: Backend, tensors: readonly Tensor[], type: NormType, threads: number): Pipeline<NormPartial> {
  let total = 0;
  for (const list of byDtype(tensors)) {
    const value = yield* call({
      sync: () => backend.reduce(type.kind, list, type.p, threads),
      async: () => backend.reduceAsync(type.kind, list, type.p, threads),
    });
    total = mergeValues(type.kind, total, value);
  }
  return { normType: type.p, value: total };
}

/** The p-norm of all elements of all tensors, as if they were one vector. */
export function* normOf(backend: Backend, tensors: readonly Tensor[], type: NormType, threads: number): Pipeline<number> {
  const partial = yield* partialOf(backend, tensors, type, threads);
  return finishValue(type, partial.value);
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

/** What to do with a norm that is NaN or infinite. */
export interface NonFinitePolicy {
  /** Throw ERR_NON_FINITE, naming `what`. */
  errorIfNonfinite: boolean;
  /** Skip (return null) instead. */
  skipIfNonfinite?: boolean;
}

/**
 * The factor that gradients are multiplied by, given their norm: the clip
 * coefficient when maxNorm is given, else 1; null to skip the step; throws
 * ERR_NON_FINITE when the policy says so. Every clip in the library comes here.
 */
export function clipScale(norm: number, maxNorm: number | undefined, normType: number, policy: NonFinitePolicy, what: string): number | null {
  if (!Number.isFinite(norm)) {
    if (policy.errorIfNonfinite) refuseNonFinite(norm, normType, what);
    if (policy.skipIfNonfinite) return null;
  }
  return maxNorm === undefined ? 1 : clipCoefficient(maxNorm, norm);
}

/** Throws ERR_NON_FINITE if `norm` is NaN or infinite (errorIfNonfinite), naming `what`. */
export function refuseNonFinite(norm: number, normType: number, what: string): void {
  if (!Number.isFinite(norm)) {
    throw makeError(ErrorCodes.NON_FINITE, `${what}: the total norm of order ${normType} of the gradients is ${norm}; nothing was changed`);
  }
}
