/**
 * Schedule-Free AdamW and SGD, and the train/eval switch: the reference twins
 * of native/kernels/schedule_free.h (same formula, same order of operations).
 */
import { defineKernel } from './kernel_def';
import type { JsKernel } from './kernel_def';
import type { Round } from './round';

const SCALARS = ['gradScale', 'beta2', 'oneMinusBeta2', 'biasCorrection2', 'eps', 'decay', 'ckp1', 'yStep', 'lr'] as const;
type ScheduleFreeScalar = (typeof SCALARS)[number];

/** torch.lerp for one element: a + w·(b − a) for |w| < 0.5, else b − (b − a)·(1 − w) (so w = 1 gives b exactly). */
function lerp(r: Round, a: number, b: number, w: number): number {
  return Math.abs(w) < 0.5 ? r(a + r(w * r(b - a))) : r(b - r(r(b - a) * r(1 - w)));
}

function scheduleFree(adaptive: boolean): JsKernel<ScheduleFreeScalar> {
  return (r, s, b, base) => {
    const y = b[base], grad = b[base + 1], z = b[base + 2];
    const expAvgSq = adaptive ? b[base + 3] : null;
    const gradScale = r(s.gradScale), beta2 = r(s.beta2), oneMinusBeta2 = r(s.oneMinusBeta2), biasCorrection2 = r(s.biasCorrection2);
    const eps = r(s.eps), decay = r(s.decay), ckp1 = r(s.ckp1), yStep = r(s.yStep), lr = r(s.lr);
    for (let i = 0; i < y.length; i++) {
      const g = r(grad[i] * gradScale);
      let u = g;
      if (expAvgSq !== null) {
        const v = r(r(beta2 * expAvgSq[i]) + r(r(oneMinusBeta2 * g) * g));
        expAvgSq[i] = v;
        u = r(g / r(r(Math.sqrt(r(v / biasCorrection2))) + eps));
      }
      const at = y[i];
      if (decay !== 0) u = r(u + r(decay * at));
      const zi = z[i];
      y[i] = r(lerp(r, at, zi, ckp1) + r(yStep * u));
      z[i] = r(zi - r(lr * u));
    }
  };
}

/** Schedule-Free AdamW: param (y), grad, z, then the state: expAvgSq. */
export const scheduleFreeAdamWKernel = defineKernel({ name: 'schedule_free_adamw', slots: 4, stateSlots: 1, scalars: SCALARS, reference: scheduleFree(true) });

/** Schedule-Free SGD: param (y), grad, z; no moments. */
export const scheduleFreeSgdKernel = defineKernel({ name: 'schedule_free_sgd', slots: 3, stateSlots: 0, scalars: SCALARS, reference: scheduleFree(false) });

/** train() / eval(): param ← lerp(param, z, weight). */
export const scheduleFreeSwitchKernel = defineKernel({
  name: 'schedule_free_switch',
  slots: 2,
  stateSlots: 0,
  scalars: ['weight'],
  reference(r, s, b, base) {
    const param = b[base], z = b[base + 1];
    const weight = r(s.weight);
    for (let i = 0; i < param.length; i++) param[i] = lerp(r, param[i], z[i], weight);
  },
});
