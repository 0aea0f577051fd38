/**
 * LAMB, the reference twin of native/kernels/lamb.h and its driver
 * native/drivers/multi_tensor_layerwise.h: per tensor, pass 1 updates the moments and
 * sums θ² and u² (in double, 16 lanes per block of REDUCE_BLOCK elements, the
 * lanes merged by the halving tree, the blocks in order), the trust ratio
 * follows from the two sums, and pass 2 recomputes u and moves θ.
 */
import { REDUCE_BLOCK, REDUCE_LANES } from './reduce_kind';
import { defineKernel } from './kernel_def';
import { foldLanes } from './lane_sums';

const paramLanes = new Float64Array(REDUCE_LANES);
const updateLanes = new Float64Array(REDUCE_LANES);

export const lambKernel = defineKernel({
  name: 'lamb',
  perTensor: true,
  slots: 4,
  stateSlots: 2,
  scalars: ['gradScale', 'beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'biasCorrection1', 'biasCorrection2', 'eps', 'weightDecay', 'lr'],
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], expAvg = b[base + 2], expAvgSq = b[base + 3];
    const gradScale = r(s.gradScale), beta1 = r(s.beta1), oneMinusBeta1 = r(s.oneMinusBeta1);
    const beta2 = r(s.beta2), oneMinusBeta2 = r(s.oneMinusBeta2);
    const biasCorrection1 = r(s.biasCorrection1), biasCorrection2 = r(s.biasCorrection2);
    const eps = r(s.eps), weightDecay = r(s.weightDecay), lr = r(s.lr);
    // u = (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε) + λθ
    const direction = (m: number, v: number, p: number): number =>
      r(r(r(m / biasCorrection1) / r(r(Math.sqrt(r(v / biasCorrection2))) + eps)) + r(weightDecay * p));

    // Pass 1, block by block: the moments, Σθ² and Σu².
    let paramSumSquares = 0, updateSumSquares = 0;
    for (let begin = 0; begin < param.length; begin += REDUCE_BLOCK) {
      const end = Math.min(begin + REDUCE_BLOCK, param.length);
      paramLanes.fill(0);
      updateLanes.fill(0);
      for (let i = begin; i < end; i++) {
        const g = r(grad[i] * gradScale);
        const m = r(r(beta1 * expAvg[i]) + r(oneMinusBeta1 * g));
        const v = r(r(beta2 * expAvgSq[i]) + r(r(oneMinusBeta2 * g) * g));
        expAvg[i] = m;
        expAvgSq[i] = v;
        const p = param[i];
        const u = direction(m, v, p);
        const j = (i - begin) % REDUCE_LANES;
        paramLanes[j] += p * p;
        updateLanes[j] += u * u;
      }
      paramSumSquares += foldLanes(paramLanes);
      updateSumSquares += foldLanes(updateLanes);
    }

    // r = ‖θ‖ / ‖u‖, 1 where either is 0 or NaN.
    const adapt = paramSumSquares > 0 && updateSumSquares > 0;
    const ratio = adapt ? r(Math.sqrt(paramSumSquares) / Math.sqrt(updateSumSquares)) : 1;

    // Pass 2: θ ← θ − γ·(r·u).
    for (let i = 0; i < param.length; i++) {
      param[i] = r(param[i] - r(lr * r(ratio * direction(expAvg[i], expAvgSq[i], param[i]))));
    }
  },
});
