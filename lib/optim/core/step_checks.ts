/**
 * A step's checks, all made before it changes anything: its options, and its
 * gradients against the params (one per param, null to skip; each of its
 * param's dtype and length, attached, aliasing nothing the step writes).
 */
import { ErrorCodes, makeError } from '../../errors';
import { NormType, checkNormType, clipScale } from '../../norm';
import { Tensor, lengthOf, typedArrayTag } from '../../tensor';
import { checkArray, checkBoolean, checkLike, checkNumber, checkOptions, checkTensor } from '../../validate';
import type { ParamTable } from './param_table';

/** The gradients of a step: one per param of every group, in order; null skips that param (PyTorch's `grad is None`). */
export type Grads = ReadonlyArray<Tensor | null>;

/** The options of `step` and `stepAsync`: scaling, fused clipping, and what to do with a non-finite norm. */
export interface StepOptions {
  /** Multiplies every gradient inside the step's own pass (averaging, loss scaling). Default 1. */
  gradScale?: number;
  /**
   * Clip by global norm inside the step: one extra read of the gradients, no extra write.
   *
   * One NaN (or ±Infinity) element in any gradient makes the norm NaN, so every
   * gradient is scaled by NaN and EVERY param becomes NaN, not only the one with
   * the bad gradient (PyTorch's clip_grad_norm_ does the same). Add
   * skipIfNonfinite (train() does) or errorIfNonfinite to keep the params.
   */
  maxGradNorm?: number;
  /** The norm for maxGradNorm (any p > 0, or Infinity). Default 2. */
  normType?: number;
  /**
   * Throw ERR_NON_FINITE (and change nothing) if the norm is NaN or infinite:
   * with maxGradNorm, the guard against one NaN gradient turning every param NaN.
   */
  errorIfNonfinite?: boolean;
  /**
   * Compute the norm and, if it is NaN or infinite, change nothing and report
   * `skipped: true`: with maxGradNorm, the guard against one NaN gradient
   * turning every param NaN (what train() uses).
   */
  skipIfNonfinite?: boolean;
}

/** A step's options, validated. */
export interface CheckedStepOptions {
  gradScale: number;
  /** The norm the step computes, if any. */
  norm: NormType | null;
  maxGradNorm: number | undefined;
  errorIfNonfinite: boolean;
  skipIfNonfinite: boolean;
}

/** What step(grads) without options means. */
export const PLAIN_STEP: CheckedStepOptions = { gradScale: 1, norm: null, maxGradNorm: undefined, errorIfNonfinite: false, skipIfNonfinite: false };

const STEP_OPTIONS = ['gradScale', 'maxGradNorm', 'normType', 'errorIfNonfinite', 'skipIfNonfinite'] as const;

/**
 * Each options object's last validation, weakly: a training loop passes the same object every
 * step, and a step given it again with the same keys and values reuses the result instead of
 * validating it again (no Object.keys, no message strings built). Any difference validates anew.
 */
const lastChecked = new WeakMap<object, { values: unknown[]; checked: CheckedStepOptions }>();

export function checkStepOptions(name: string, options: unknown): CheckedStepOptions {
  if (options === undefined) return PLAIN_STEP;
  const last = typeof options === 'object' && options !== null ? lastChecked.get(options) : undefined;
  if (last !== undefined && unchangedOptions(options as Record<string, unknown>, last.values)) return last.checked;
  const opts = checkOptions(`${name}: step: options`, options, STEP_OPTIONS);
  // Each value read once: a getter cannot answer one thing to the check and another to the step.
  const values = STEP_OPTIONS.map((key) => opts[key]);
  const [rawScale, rawMax, rawType, rawError, rawSkip] = values;
  const gradScale = rawScale === undefined ? 1 : checkNumber(`${name}: step: options.gradScale`, rawScale);
  const maxGradNorm = rawMax === undefined ? undefined : checkNumber(`${name}: step: options.maxGradNorm`, rawMax, { min: 0, allowInfinity: true });
  const errorIfNonfinite = rawError === undefined ? false : checkBoolean(`${name}: step: options.errorIfNonfinite`, rawError);
  const skipIfNonfinite = rawSkip === undefined ? false : checkBoolean(`${name}: step: options.skipIfNonfinite`, rawSkip);
  const wantsNorm = maxGradNorm !== undefined || skipIfNonfinite || errorIfNonfinite;
  const norm = wantsNorm ? checkNormType(`${name}: step: options.normType`, rawType ?? 2) : null;
  if (!wantsNorm && rawType !== undefined) checkNormType(`${name}: step: options.normType`, rawType);
  const checked = { gradScale, norm, maxGradNorm, errorIfNonfinite, skipIfNonfinite };
  lastChecked.set(opts, { values, checked });
  return checked;
}

/** Whether `options` has only known keys, each with the value validated last (`values`, in STEP_OPTIONS order). */
function unchangedOptions(options: Record<string, unknown>, values: readonly unknown[]): boolean {
  for (const key in options) {
    if (!Object.prototype.hasOwnProperty.call(options, key)) continue;
    if (key !== 'gradScale' && key !== 'maxGradNorm' && key !== 'normType' && key !== 'errorIfNonfinite' && key !== 'skipIfNonfinite') return false;
  }
  return (
    Object.is(options.gradScale, values[0]) &&
    Object.is(options.maxGradNorm, values[1]) &&
    Object.is(options.normType, values[2]) &&
    Object.is(options.errorIfNonfinite, values[3]) &&
    Object.is(options.skipIfNonfinite, values[4])
  );
}

/** What a step's options and its gradients' norm make of the step. */
export interface StepScale {
  /** The norm the step reports: of the gradients as the kernels scale them (undefined when the step computes none). */
  gradNorm: number | undefined;
  /** The factor the kernels multiply the gradients by; null when the step is to be skipped. */
  scale: number | null;
}

/**
 * The one place a step's options and the norm of its gradients become the
 * kernels' scale: the Optimizer's step (cached or not) and ZeRO's sharded
 * step (lib/distributed/zero.ts, whose norm is merged from the ranks'
 * partials) all call it, so none of them writes the sequence again.
 *
 *   gradNorm = norm · |gradScale|               the norm of the gradients the kernels will see
 *   scale    = gradScale · the clip coefficient  (maxGradNorm; gradScale alone without it)
 *            = null                              a non-finite gradNorm under skipIfNonfinite
 *
 * and ERR_NON_FINITE for one under errorIfNonfinite. `norm` is that of the
 * unscaled gradients, given when `opts.norm` asks for one (else undefined);
 * `gradScale` is the step's own unless given (ZeRO's divides it by the world size).
 */
export function stepScale(opts: CheckedStepOptions, norm: number | undefined, what: string, gradScale = opts.gradScale): StepScale {
  if (norm === undefined) return { gradNorm: undefined, scale: gradScale };
  const gradNorm = norm * Math.abs(gradScale);
  const coefficient = clipScale(gradNorm, opts.maxGradNorm, opts.norm!.p, opts, what);
  return { gradNorm, scale: coefficient === null ? null : opts.maxGradNorm === undefined ? gradScale : gradScale * coefficient };
}

/**
 * Checks a step's gradients; returns, per group, the global indices of the
 * params that have one. `groupSizes[g]` is the number of params of group g.
 */
export function checkGrads(name: string, table: ParamTable, groupSizes: readonly number[], grads: unknown): { list: Grads; active: number[][] } {
  const given = checkArray(`${name}: step: grads`, grads);
  const params = table.params;
  if (given.length !== params.length) {
    throw makeError(
      ErrorCodes.SHAPE_MISMATCH,
      `${name}: step: grads: expected ${params.length} gradients (one per param, null to skip), got ${given.length}`,
    );
  }
  // Each element read once: an index getter cannot hand the kernels a gradient other than the one checked.
  const list = Array.from({ length: params.length }, (_, i) => given[i]);
  const active: number[][] = [];
  let i = 0;
  for (const size of groupSizes) {
    const indices: number[] = [];
    for (let k = 0; k < size; k++, i++) {
      const g = list[i];
      if (g === null) continue;
      const param = params[i];
      // The common case in a few comparisons: a typed array of the param's own
      // type and (non-zero, so attached) length. Anything else gets the full
      // checks and their messages.
      // Lengths and types as the engine (and the addon) sees them, so no group's kernel can
      // run before a later group's buffer, lying about its length, is refused.
      const length = lengthOf(param);
      const plain = typedArrayTag(g) === typedArrayTag(param) && length !== 0 && lengthOf(g as Tensor) === length;
      if (!plain) {
        const grad = checkTensor(`${name}: step: grads[${i}]`, g);
        table.checkAttached(i);
        checkLike(`${name}: step: grads[${i}]`, grad, `params[${i}]`, param);
      } else {
        table.checkAttached(i);
      }
      indices.push(i);
    }
    active.push(indices);
  }
  table.checkGradsDoNotAlias(list as Grads);
  return { list: list as Grads, active };
}
