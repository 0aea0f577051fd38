/** SGD, the reference twin of native/kernels/sgd.h (same formula, same order of operations). */
import { defineKernel } from './kernel_def';
import type { JsKernel } from './kernel_def';

type Momentum = 'none' | 'heavyBall' | 'nesterov';

const SCALARS = ['gradScale', 'weightDecay', 'lr', 'momentum', 'bufferDecay', 'gradWeight'] as const;

function sgd(kind: Momentum): JsKernel<(typeof SCALARS)[number]> {
  return (r, s, b, base) => {
    const param = b[base];
    const grad = b[base + 1];
    const momentumBuffer = kind === 'none' ? null : b[base + 2];
    const gradScale = r(s.gradScale), weightDecay = r(s.weightDecay), lr = r(s.lr), momentum = r(s.momentum);
    const bufferDecay = r(s.bufferDecay), gradWeight = r(s.gradWeight);
    for (let i = 0; i < param.length; i++) {
      let g = r(r(grad[i] * gradScale) + r(weightDecay * param[i]));
      if (momentumBuffer !== null) {
        const buf = r(r(bufferDecay * momentumBuffer[i]) + r(gradWeight * g));
        momentumBuffer[i] = buf;
        g = kind === 'nesterov' ? r(g + r(momentum * buf)) : buf;
      }
      param[i] = r(param[i] - r(lr * g));
    }
  };
}

export const sgdKernel = defineKernel({ name: 'sgd', slots: 2, stateSlots: 0, scalars: SCALARS, reference: sgd('none') });
export const sgdMomentumKernel = defineKernel({ name: 'sgd_momentum', slots: 3, stateSlots: 1, scalars: SCALARS, reference: sgd('heavyBall') });
export const sgdNesterovKernel = defineKernel({ name: 'sgd_nesterov', slots: 3, stateSlots: 1, scalars: SCALARS, reference: sgd('nesterov') });
