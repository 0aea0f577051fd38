/** Gradient utilities, the reference twins of native/kernels/elementwise.h. */
import type { JsKernel } from './round';

/** acc ← acc + s·g */
export const accumulate: JsKernel = (r, s, b, base) => {
  const acc = b[base], grad = b[base + 1];
  const scale = r(s[0]);
  for (let i = 0; i < acc.length; i++) acc[i] = r(acc[i] + r(scale * grad[i]));
};

/** g ← s·g */
export const scale: JsKernel = (r, s, b, base) => {
  const g = b[base];
  const factor = r(s[0]);
  for (let i = 0; i < g.length; i++) g[i] = r(g[i] * factor);
};

/** g ← clamp(g, lo, hi), NaN kept. */
export const clamp: JsKernel = (r, s, b, base) => {
  const g = b[base];
  const lo = r(s[0]), hi = r(s[1]);
  for (let i = 0; i < g.length; i++) {
    const x = g[i];
    g[i] = x < lo ? lo : x > hi ? hi : x;
  }
};
