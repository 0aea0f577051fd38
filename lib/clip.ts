/**
 * Gradient clipping and gradient utilities (torch.nn.utils.clip_grad_norm_,
 * clip_grad_value_, and the accumulation the textbook's exercises need). Each
 * is one native call over all tensors; `backend: 'js'` runs the reference.
 */
import { Backend, BackendName, getBackend } from './backend';
import { accumulateKernel, clampKernel, scaleKernel } from './kernels/elementwise';
import { ErrorCodes, makeError } from './errors';
import { ReduceKind } from './kernels/reduce_kind';
import { NormPartial, NormType, byDtype, checkNormType, clipScale, normOf, partialOf, refuseNonFinite } from './norm';
import { Pipeline, call, runAsync, runSync } from './pipeline';
import { Tensor } from './tensor';
import { getNumThreads } from './threads';
import { checkBoolean, checkLike, checkNoOverlap, checkNumber, checkOptions, checkTensorList } from './validate';

/** The option every gradient utility takes. */
export interface UtilityOptions {
  /** 'native' (default) or 'js'. */
  backend?: BackendName;
}

/** The options of getTotalNorm. */
export interface TotalNormOptions extends UtilityOptions {
  /** Throw ERR_NON_FINITE if the norm is NaN or infinite (PyTorch's get_total_norm). Default false. */
  errorIfNonfinite?: boolean;
}

/** The options of clipGradNorm and clipGradNormAsync. */
export interface ClipGradNormOptions extends UtilityOptions {
  /** Any p > 0, or Infinity. Default 2. */
  normType?: number;
  /** Throw ERR_NON_FINITE (changing nothing) if the total norm is NaN or infinite. Default false. */
  errorIfNonfinite?: boolean;
}

function gradList(fn: string, grads: unknown): Tensor[] {
  const list = checkTensorList(`${fn}: grads`, grads, { allowEmpty: true, mixedDtypes: true });
  checkNoOverlap(`${fn}: grads`, list);
  return list;
}

/** clip_grad_norm_: the norm, then (only if it clips) one scaling pass. Validates everything before the first backend call. */
function* clipGradNormPipeline(fn: string, grads: unknown, maxNorm: unknown, options: unknown): Pipeline<number> {
  const opts = checkOptions(`${fn}: options`, options, ['normType', 'errorIfNonfinite', 'backend']);
  const list = gradList(fn, grads);
  const limit = checkNumber(`${fn}: maxNorm`, maxNorm, { min: 0, allowInfinity: true });
  const type = checkNormType(`${fn}: options.normType`, opts.normType ?? 2);
  const errorIfNonfinite = opts.errorIfNonfinite === undefined ? false : checkBoolean(`${fn}: options.errorIfNonfinite`, opts.errorIfNonfinite);
  const backend = getBackend(opts.backend, `${fn}: options.backend`);
  const threads = getNumThreads();
  const norm = yield* normOf(backend, list, type, threads);
  const scale = clipScale(norm, limit, type.p, { errorIfNonfinite }, fn)!;
  if (scale < 1 || scale !== scale) {
    for (const part of byDtype(list)) {
      const scalars = Float64Array.of(scale);
      yield* call({
        sync: () => backend.update(scaleKernel, part, scalars, threads),
        async: () => backend.updateAsync(scaleKernel, part, scalars, threads),
      });
    }
  }
  return norm;
}

/**
 * Scales the gradients in place so that their global norm is at most maxNorm
 * (factor min(1, maxNorm / (norm + 1e-6))) and returns the norm before
 * clipping. One read pass for the norm, one read-write pass only when clipping
 * is needed. To clip inside an optimizer's own pass, use
 * `opt.step(grads, { maxGradNorm })` instead.
 */
export function clipGradNorm(grads: readonly Tensor[], maxNorm: number, options?: ClipGradNormOptions): number {
  return runSync(clipGradNormPipeline('clipGradNorm', grads, maxNorm, options));
}

/** clipGradNorm on libuv's thread pool; the gradients must not be touched until it settles. */
export async function clipGradNormAsync(grads: readonly Tensor[], maxNorm: number, options?: ClipGradNormOptions): Promise<number> {
  return runAsync(clipGradNormPipeline('clipGradNormAsync', grads, maxNorm, options));
}

interface NormCall {
  list: Tensor[];
  type: NormType;
  backend: Backend;
  errorIfNonfinite: boolean;
}

function checkNormCall(fn: string, grads: unknown, normType: unknown, options: unknown): NormCall {
  const opts = checkOptions(`${fn}: options`, options, ['errorIfNonfinite', 'backend']);
  const list = checkTensorList(`${fn}: grads`, grads, { allowEmpty: true, mixedDtypes: true });
  const type = checkNormType(`${fn}: normType`, normType);
  const errorIfNonfinite = opts.errorIfNonfinite === undefined ? false : checkBoolean(`${fn}: options.errorIfNonfinite`, opts.errorIfNonfinite);
  return { list, type, backend: getBackend(opts.backend, `${fn}: options.backend`), errorIfNonfinite };
}

/** The global norm of all gradients, as if they were one vector (no scaling): PyTorch's get_total_norm. */
export function getTotalNorm(grads: readonly Tensor[], normType = 2, options?: TotalNormOptions): number {
  const fn = 'getTotalNorm';
  const c = checkNormCall(fn, grads, normType, options);
  const norm = runSync(normOf(c.backend, c.list, c.type, getNumThreads()));
  if (c.errorIfNonfinite) refuseNonFinite(norm, c.type.p, fn);
  return norm;
}

/**
 * The first stage of getTotalNorm: the norm of these gradients before its
 * root (Σx² for the 2-norm, ...). Partials of disjoint lists combine with
 * mergeNormPartials (in a fixed order: the same bits on every process) and
 * finishNorm gives the norm; for one list, finishNorm(gradNormPartial(g, p))
 * is getTotalNorm(g, p) bit for bit. Data-parallel training sums each rank's
 * partial across processes before finishing it.
 */
export function gradNormPartial(grads: readonly Tensor[], normType = 2, options?: UtilityOptions): NormPartial {
  const c = checkNormCall('gradNormPartial', grads, normType, options);
  return runSync(partialOf(c.backend, c.list, c.type, getNumThreads()));
}

export { finishNorm, mergeNormPartials } from './norm';
export type { NormPartial } from './norm';

/** Clamps every gradient element to [-clipValue, clipValue] in place (NaN stays NaN). */
export function clipGradValue(grads: readonly Tensor[], clipValue: number, options?: UtilityOptions): void {
  const fn = 'clipGradValue';
  const opts = checkOptions(`${fn}: options`, options, ['backend']);
  const list = gradList(fn, grads);
  const limit = checkNumber(`${fn}: clipValue`, clipValue, { min: 0, allowInfinity: true });
  const backend = getBackend(opts.backend, `${fn}: options.backend`);
  const threads = getNumThreads();
  for (const part of byDtype(list)) backend.update(clampKernel, part, Float64Array.of(-limit, limit), threads);
}

/**
 * acc[i] += scale · grads[i] for every tensor, in one call: gradient
 * accumulation over micro-batches, and averaging across workers.
 */
export function accumulateGrads(acc: readonly Tensor[], grads: readonly Tensor[], scale = 1, options?: UtilityOptions): void {
  const fn = 'accumulateGrads';
  const opts = checkOptions(`${fn}: options`, options, ['backend']);
  const accList = checkTensorList(`${fn}: acc`, acc, { allowEmpty: true, mixedDtypes: true });
  const gradsList = checkTensorList(`${fn}: grads`, grads, { allowEmpty: true, mixedDtypes: true });
  if (gradsList.length !== accList.length) {
    throw makeError(ErrorCodes.SHAPE_MISMATCH, `${fn}: grads: expected ${accList.length} tensors like acc, got ${gradsList.length}`);
  }
  gradsList.forEach((g, i) => checkLike(`${fn}: grads[${i}]`, g, `acc[${i}]`, accList[i]));
  // An accumulator that is also read as a gradient (or twice) would be counted wrongly.
  const n = accList.length;
  checkNoOverlap(fn, [...accList, ...gradsList], (i) => (i < n ? `${fn}: acc[${i}]` : `${fn}: grads[${i - n}]`));
  const factor = checkNumber(`${fn}: scale`, scale);
  const backend = getBackend(opts.backend, `${fn}: options.backend`);
  const threads = getNumThreads();
  for (const dtype of [Float32Array, Float64Array]) {
    const pairs = accList.flatMap((a, i) => (a instanceof dtype ? [a, gradsList[i]] : []));
    if (pairs.length > 0) backend.update(accumulateKernel, pairs, Float64Array.of(factor), threads);
  }
}

/** True if any element of any tensor is NaN or ±Infinity (one read pass; stops early). */
export function hasNonFinite(tensors: readonly Tensor[], options?: UtilityOptions): boolean {
  const fn = 'hasNonFinite';
  const opts = checkOptions(`${fn}: options`, options, ['backend']);
  const list = checkTensorList(`${fn}: tensors`, tensors, { allowEmpty: true, mixedDtypes: true });
  const backend = getBackend(opts.backend, `${fn}: options.backend`);
  const threads = getNumThreads();
  return byDtype(list).some((part) => backend.reduce(ReduceKind.NonFinite, part, 0, threads) !== 0);
}
