/**
 * A short training run reduced to one hash: every kernel variant, both dtypes,
 * odd tensor lengths, and a clip-by-norm fused into each step (so the norm
 * reductions count too). Two processes (another FUSEDOPTIM_ISA, another thread
 * count) or two backends that print the same fingerprints computed the same
 * bits.
 */
import type { BackendName } from '../../lib/backend';
import type { DType } from '../../lib/tensor';
import { findOptimizer } from '../../lib/optim/registry';
import { hashTensors } from './bits';
import { kernelVariants, makeOptimizer, paramsOf, resultTensors, variantLabel } from './optimizers';
import { randomTensors } from './random';
import { SyntheticLoss } from './synthetic';

export const FINGERPRINT_LENGTHS = [1, 7, 1000, 100003];
/** Shapes of those lengths for Adafactor's factored kernel. */
const FINGERPRINT_SHAPES = [[1], [7, 1], [2, 4, 125], [1, 100003]];
const STEPS = 8;
/** Below the gradients' typical norm, so most steps really clip. */
const MAX_GRAD_NORM = 500;

/** label → SHA-256 of the final params, state and the gradient norm of every step. */
export function trainingFingerprints(backend: BackendName): Record<string, string> {
  const out: Record<string, string> = {};
  for (const dtype of ['float32', 'float64'] as DType[]) {
    const loss = new SyntheticLoss(dtype, FINGERPRINT_LENGTHS, 100);
    for (const variant of kernelVariants()) {
      const opt = makeOptimizer(variant.optimizer, randomTensors(dtype, FINGERPRINT_LENGTHS, 101), variant.options, backend);
      const norms = new Float64Array(STEPS);
      for (let step = 1; step <= STEPS; step++) {
        norms[step - 1] = opt.step(loss.grads(paramsOf(opt), step), { maxGradNorm: MAX_GRAD_NORM }).gradNorm ?? NaN;
      }
      out[`${variantLabel(variant)} ${dtype}`] = hashTensors([...resultTensors(opt), norms]);
    }
  }
  // Adafactor with shapes, so the factored kernel runs: a batch of matrices,
  // a single column, and a row across many column tiles.
  for (const dtype of ['float32', 'float64'] as DType[]) {
    const loss = new SyntheticLoss(dtype, FINGERPRINT_LENGTHS, 100);
    const options = { lr: 0.05, weightDecay: 0.01, shapes: FINGERPRINT_SHAPES };
    const opt = makeOptimizer('Adafactor', randomTensors(dtype, FINGERPRINT_LENGTHS, 101), options, backend);
    for (let step = 1; step <= STEPS; step++) opt.step(loss.grads(paramsOf(opt), step), { maxGradNorm: MAX_GRAD_NORM });
    out[`Adafactor ${JSON.stringify(options)} ${dtype}`] = hashTensors(resultTensors(opt));
  }
  // Compact state (float32 params only): bfloat16 rounded to nearest and
  // stochastically, and 8-bit (the two longest tensors; the others keep float32).
  const loss = new SyntheticLoss('float32', FINGERPRINT_LENGTHS, 100);
  for (const variant of kernelVariants()) {
    if (!COMPACT_FINGERPRINTS.has(variantLabel(variant))) continue;
    for (const storage of COMPACT_STORAGES) {
      const opt = makeOptimizer(variant.optimizer, randomTensors('float32', FINGERPRINT_LENGTHS, 101), { ...variant.options, ...storage }, backend);
      for (let step = 1; step <= STEPS; step++) opt.step(loss.grads(paramsOf(opt), step), { maxGradNorm: MAX_GRAD_NORM });
      out[`${variantLabel(variant)} float32 ${JSON.stringify(storage)}`] = hashTensors(resultTensors(opt));
    }
  }
  return out;
}

const COMPACT_STORAGES = [
  { stateDtype: 'bfloat16' },
  { stateDtype: 'bfloat16', stochasticRounding: true, roundingSeed: 99 },
  { stateDtype: 'int8', min8bitSize: 1000 },
];
/** One variant per kernel with every kind of state slot (labels of kernelVariants()). */
const COMPACT_FINGERPRINTS = new Set(
  kernelVariants()
    .filter((v) => findOptimizer(v.optimizer)?.capabilities.compactState === true) // the optimizers with stateDtype
    .filter((v) => v.optimizer !== 'SGD' || (v.options as { momentum?: number }).momentum)
    .filter((v) => !(v.options as { centered?: boolean }).centered) // needs full-precision state
    .map(variantLabel),
);
