/** RAdam, the reference twin of native/kernels/radam.h (same formula, same order of operations). */
import { defineKernel } from './kernel_def';
import { AdamFront, adamFront, adamFrontScalars } from './adam_moments';

export const radamKernel = defineKernel({
  name: 'radam',
  slots: 4,
  stateSlots: 2,
  scalars: [
    'gradScale', 'l2', 'decay', 'beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'biasCorrection1', 'lr',
    'biasCorrection2Sqrt', 'eps', 'rect', 'rectified',
  ],
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], expAvg = b[base + 2], expAvgSq = b[base + 3];
    const front = adamFrontScalars(r, s);
    const biasCorrection1 = r(s.biasCorrection1), lr = r(s.lr), biasCorrection2Sqrt = r(s.biasCorrection2Sqrt), eps = r(s.eps);
    const rect = r(s.rect);
    const rectified = r(s.rectified) !== 0;
    const f: AdamFront = { g: 0, p: 0, m: 0, v: 0 };
    for (let i = 0; i < param.length; i++) {
      adamFront(r, front, param, grad, expAvg, expAvgSq, i, f);
      const step = r(r(f.m / biasCorrection1) * lr);
      if (rectified) {
        const adaptive = r(biasCorrection2Sqrt / r(r(Math.sqrt(f.v)) + eps));
        param[i] = r(f.p - r(r(step * adaptive) * rect));
      } else {
        param[i] = r(f.p - step);
      }
    }
  },
});
