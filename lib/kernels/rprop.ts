/** Rprop, the reference twin of native/kernels/rprop.h (same formula, same order of operations). */
import { defineKernel } from './kernel_def';

export const rpropKernel = defineKernel({
  name: 'rprop',
  slots: 4,
  stateSlots: 2,
  scalars: ['gradScale', 'etaMinus', 'etaPlus', 'stepSizeMin', 'stepSizeMax'],
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], prev = b[base + 2], stepSize = b[base + 3];
    const gradScale = r(s.gradScale), etaMinus = r(s.etaMinus), etaPlus = r(s.etaPlus);
    const stepSizeMin = r(s.stepSizeMin), stepSizeMax = r(s.stepSizeMax);
    for (let i = 0; i < param.length; i++) {
      const g = r(grad[i] * gradScale);
      const product = r(g * prev[i]);
      // NaN stays NaN: its step size becomes NaN, as PyTorch's sign tensor does.
      const factor = product > 0 ? etaPlus : product < 0 ? etaMinus : product === 0 ? 1 : product;
      const scaled = r(stepSize[i] * factor);
      const eta = scaled < stepSizeMin ? stepSizeMin : scaled > stepSizeMax ? stepSizeMax : scaled;
      const kept = product < 0 ? 0 : g;
      const sign = kept > 0 ? 1 : kept < 0 ? -1 : kept;
      stepSize[i] = eta;
      prev[i] = kept;
      param[i] = r(param[i] - r(sign * eta));
    }
  },
});
