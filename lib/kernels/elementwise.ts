/** Gradient utilities, the reference twins of native/kernels/elementwise.h. */
import { defineKernel } from './kernel_def';

/** acc ← acc + s·g */
export const accumulateKernel = defineKernel({
  name: 'accumulate',
  slots: 2,
  stateSlots: 0,
  scalars: ['scale'],
  reference(r, s, b, base) {
    const acc = b[base], grad = b[base + 1];
    const scale = r(s.scale);
    for (let i = 0; i < acc.length; i++) acc[i] = r(acc[i] + r(scale * grad[i]));
  },
});

/** g ← s·g */
export const scaleKernel = defineKernel({
  name: 'scale',
  slots: 1,
  stateSlots: 0,
  scalars: ['scale'],
  reference(r, s, b, base) {
    const g = b[base];
    const factor = r(s.scale);
    for (let i = 0; i < g.length; i++) g[i] = r(g[i] * factor);
  },
});

/** g ← clamp(g, lo, hi), NaN kept. */
export const clampKernel = defineKernel({
  name: 'clamp',
  slots: 1,
  stateSlots: 0,
  scalars: ['lo', 'hi'],
  reference(r, s, b, base) {
    const g = b[base];
    const lo = r(s.lo), hi = r(s.hi);
    for (let i = 0; i < g.length; i++) {
      const x = g[i];
      g[i] = x < lo ? lo : x > hi ? hi : x;
    }
  },
});
