/** RMSprop, the reference twin of native/kernels/rmsprop.h. */
import { defineKernel } from './kernel_def';
import type { JsKernel } from './kernel_def';

const SCALARS = ['gradScale', 'weightDecay', 'alpha', 'oneMinusAlpha', 'eps', 'lr', 'momentum'] as const;

function rmsprop(centered: boolean, withMomentum: boolean): JsKernel<(typeof SCALARS)[number]> {
  return (r, s, b, base) => {
    const param = b[base], grad = b[base + 1], squareAvg = b[base + 2];
    const gradAvg = centered ? b[base + 3] : null;
    const momentumBuffer = withMomentum ? b[base + (centered ? 4 : 3)] : null;
    const gradScale = r(s.gradScale), weightDecay = r(s.weightDecay), alpha = r(s.alpha), oneMinusAlpha = r(s.oneMinusAlpha);
    const eps = r(s.eps), lr = r(s.lr), momentum = r(s.momentum);
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

const kernel = (name: string, centered: boolean, momentum: boolean) =>
  defineKernel({ name, slots: 3 + Number(centered) + Number(momentum), stateSlots: 1 + Number(centered) + Number(momentum), scalars: SCALARS, reference: rmsprop(centered, momentum) });

export const rmspropKernel = kernel('rmsprop', false, false);
export const rmspropCenteredKernel = kernel('rmsprop_centered', true, false);
export const rmspropMomentumKernel = kernel('rmsprop_momentum', false, true);
export const rmspropCenteredMomentumKernel = kernel('rmsprop_centered_momentum', true, true);
