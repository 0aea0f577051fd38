/** RMSprop, the reference twin of native/kernels/rmsprop.h. */
import type { JsKernel } from './round';

function rmsprop(centered: boolean, withMomentum: boolean): JsKernel {
  return (r, s, b, base) => {
    const param = b[base], grad = b[base + 1], squareAvg = b[base + 2];
    const gradAvg = centered ? b[base + 3] : null;
    const momentumBuffer = withMomentum ? b[base + (centered ? 4 : 3)] : null;
    const gradScale = r(s[0]), weightDecay = r(s[1]), alpha = r(s[2]), oneMinusAlpha = r(s[3]);
    const eps = r(s[4]), lr = r(s[5]), momentum = r(s[6]);
    for (let i = 0; i < param.length; i++) {
      const g = r(r(grad[i] * gradScale) + r(weightDecay * param[i]));
      const v = r(r(alpha * squareAvg[i]) + r(r(oneMinusAlpha * g) * g));
      squareAvg[i] = v;
      let avg: number;
      if (gradAvg !== null) {
        const mean = r(r(alpha * gradAvg[i]) + r(oneMinusAlpha * g));
        gradAvg[i] = mean;
        avg = r(r(Math.sqrt(r(v - r(mean * mean)))) + eps);
      } else {
        avg = r(r(Math.sqrt(v)) + eps);
      }
      if (momentumBuffer !== null) {
        const buf = r(r(momentum * momentumBuffer[i]) + r(g / avg));
        momentumBuffer[i] = buf;
        param[i] = r(param[i] - r(lr * buf));
      } else {
        param[i] = r(param[i] - r(lr * r(g / avg)));
      }
    }
  };
}

export const rmspropPlain = rmsprop(false, false);
export const rmspropCentered = rmsprop(true, false);
export const rmspropMomentum = rmsprop(false, true);
export const rmspropCenteredMomentum = rmsprop(true, true);
