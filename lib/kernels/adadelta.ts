/** Adadelta, the reference twin of native/kernels/adadelta.h (same formula, same order of operations). */
import { defineKernel } from './kernel_def';

export const adadeltaKernel = defineKernel({
  name: 'adadelta',
  slots: 4,
  stateSlots: 2,
  scalars: ['gradScale', 'weightDecay', 'rho', 'oneMinusRho', 'eps', 'lr'],
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], squareAvg = b[base + 2], accDelta = b[base + 3];
    const gradScale = r(s.gradScale), weightDecay = r(s.weightDecay), rho = r(s.rho), oneMinusRho = r(s.oneMinusRho);
    const eps = r(s.eps), lr = r(s.lr);
    for (let i = 0; i < param.length; i++) {
      const g = r(r(grad[i] * gradScale) + r(weightDecay * param[i]));
      const v = r(r(rho * squareAvg[i]) + r(r(oneMinusRho * g) * g));
      const std = r(Math.sqrt(r(v + eps)));
      const delta = r(r(r(Math.sqrt(r(accDelta[i] + eps))) / std) * g);
      squareAvg[i] = v;
      accDelta[i] = r(r(rho * accDelta[i]) + r(r(oneMinusRho * delta) * delta));
      param[i] = r(param[i] - r(lr * delta));
    }
  },
});
