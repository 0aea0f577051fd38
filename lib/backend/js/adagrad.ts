/** Adagrad, the reference twin of native/kernels/adagrad.h. */
import type { JsKernel } from './round';

export const adagrad: JsKernel = (r, s, b, base) => {
  const param = b[base], grad = b[base + 1], sum = b[base + 2];
  const gradScale = r(s[0]), weightDecay = r(s[1]), clr = r(s[2]), eps = r(s[3]);
  for (let i = 0; i < param.length; i++) {
    const g = r(r(grad[i] * gradScale) + r(weightDecay * param[i]));
    const acc = r(sum[i] + r(g * g));
    sum[i] = acc;
    const std = r(r(Math.sqrt(acc)) + eps);
    param[i] = r(param[i] - r(clr * r(g / std)));
  }
};
