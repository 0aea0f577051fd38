/** Adam / AdamW, the reference twin of native/kernels/adam.h (same formula, same order of operations). */
import { defineKernel } from '../kernel';
import type { JsKernel } from '../kernel';

const SCALARS = [
  'gradScale', 'l2', 'decay', 'beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'biasCorrection2Sqrt', 'eps', 'stepSize',
] as const;
type AdamScalar = (typeof SCALARS)[number];

function adam(amsgrad: boolean): JsKernel<AdamScalar> {
  return (r, s, b, base) => {
    const param = b[base], grad = b[base + 1], expAvg = b[base + 2], expAvgSq = b[base + 3];
    const maxExpAvgSq = amsgrad ? b[base + 4] : null;
    const gradScale = r(s.gradScale), l2 = r(s.l2), decay = r(s.decay), beta1 = r(s.beta1), oneMinusBeta1 = r(s.oneMinusBeta1);
    const beta2 = r(s.beta2), oneMinusBeta2 = r(s.oneMinusBeta2), biasCorrection2Sqrt = r(s.biasCorrection2Sqrt), eps = r(s.eps);
    const stepSize = r(s.stepSize);
    for (let i = 0; i < param.length; i++) {
      const g = r(r(grad[i] * gradScale) + r(l2 * param[i]));
      const p = r(param[i] * decay);
      const m = r(r(beta1 * expAvg[i]) + r(oneMinusBeta1 * g));
      const v = r(r(beta2 * expAvgSq[i]) + r(r(oneMinusBeta2 * g) * g));
      expAvg[i] = m;
      expAvgSq[i] = v;
      let vHat = v;
      if (maxExpAvgSq !== null) {
        const previous = maxExpAvgSq[i];
        vHat = v !== v || v > previous ? v : previous; // max that propagates NaN, as native max_nan
        maxExpAvgSq[i] = vHat;
      }
      const denom = r(r(r(Math.sqrt(vHat)) / biasCorrection2Sqrt) + eps);
      param[i] = r(p - r(stepSize * r(m / denom)));
    }
  };
}

/**
 * Besides state of the param's type, float32 moments for float64 params: the
 * arithmetic runs in double as for float64 state, the moments are rounded to
 * float32 when stored (a Float32Array store rounds as C++'s float(x) does).
 */
const VARIANTS = [
  { param: 'float32', state: 'float32' },
  { param: 'float64', state: 'float64' },
  { param: 'float64', state: 'float32' },
] as const;

export const adamKernel = defineKernel({ name: 'adam', slots: 4, stateSlots: 2, scalars: SCALARS, variants: VARIANTS, reference: adam(false) });
export const adamAmsgradKernel = defineKernel({ name: 'adam_amsgrad', slots: 5, stateSlots: 3, scalars: SCALARS, variants: VARIANTS, reference: adam(true) });
