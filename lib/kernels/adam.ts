/**
 * Adam / AdamW, the reference twin of native/kernels/adam.h (same formula, same
 * order of operations); the front (g, decayed θ, m, v) is adam_moments.ts's, as
 * RAdam's and NAdam's.
 */
import { defineKernel } from './kernel_def';
import type { JsKernel } from './kernel_def';
import { AdamFront, adamFront, adamFrontScalars } from './adam_moments';

const SCALARS = [
  'gradScale', 'l2', 'decay', 'beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'biasCorrection2Sqrt', 'eps', 'stepSize',
] as const;
type AdamScalar = (typeof SCALARS)[number];

function adam(amsgrad: boolean): JsKernel<AdamScalar> {
  return (r, s, b, base) => {
    const param = b[base], grad = b[base + 1], expAvg = b[base + 2], expAvgSq = b[base + 3];
    const maxExpAvgSq = amsgrad ? b[base + 4] : null;
    const front = adamFrontScalars(r, s);
    const biasCorrection2Sqrt = r(s.biasCorrection2Sqrt), eps = r(s.eps), stepSize = r(s.stepSize);
    const f: AdamFront = { g: 0, p: 0, m: 0, v: 0 };
    for (let i = 0; i < param.length; i++) {
      adamFront(r, front, param, grad, expAvg, expAvgSq, i, f);
      let vHat = f.v;
      if (maxExpAvgSq !== null) {
        const previous = maxExpAvgSq[i];
        vHat = f.v !== f.v || f.v > previous ? f.v : previous; // max that propagates NaN, as native max_nan
        maxExpAvgSq[i] = vHat;
      }
      const denom = r(r(r(Math.sqrt(vHat)) / biasCorrection2Sqrt) + eps);
      param[i] = r(f.p - r(stepSize * r(f.m / denom)));
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
