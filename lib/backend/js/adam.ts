/** Adam / AdamW, the reference twin of native/kernels/adam.h. */
import type { JsKernel } from './round';

function adam(amsgrad: boolean): JsKernel {
  return (r, s, b, base) => {
    const param = b[base], grad = b[base + 1], expAvg = b[base + 2], expAvgSq = b[base + 3];
    const maxExpAvgSq = amsgrad ? b[base + 4] : null;
    const gradScale = r(s[0]), l2 = r(s[1]), decay = r(s[2]), beta1 = r(s[3]), oneMinusBeta1 = r(s[4]);
    const beta2 = r(s[5]), oneMinusBeta2 = r(s[6]), biasCorrection2Sqrt = r(s[7]), eps = r(s[8]);
    const stepSize = r(s[9]);
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

export const adamPlain = adam(false);
export const adamAmsgrad = adam(true);
