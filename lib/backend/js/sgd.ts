/** SGD, the reference twin of native/kernels/sgd.h (same formula, same order of operations). */
import type { JsKernel } from './round';

type Momentum = 'none' | 'heavyBall' | 'nesterov';

function sgd(kind: Momentum): JsKernel {
  return (r, s, b, base) => {
    const param = b[base];
    const grad = b[base + 1];
    const momentumBuffer = kind === 'none' ? null : b[base + 2];
    const gradScale = r(s[0]), weightDecay = r(s[1]), lr = r(s[2]), momentum = r(s[3]);
    const bufferDecay = r(s[4]), gradWeight = r(s[5]);
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

export const sgdPlain = sgd('none');
export const sgdMomentum = sgd('heavyBall');
export const sgdNesterov = sgd('nesterov');
