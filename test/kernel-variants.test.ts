/**
 * Kernels over (param type, state type): a kernel runs on exactly the
 * combinations its row lists, on both backends, and a mixed one (Adam's
 * float32 moments for float64 params) agrees bit for bit between the addon
 * and the reference at every thread count and instruction set the machine has.
 */
import { expect } from 'chai';
import { adamAmsgradKernel, adamKernel } from '../lib/kernels/adam';
import { sgdMomentumKernel } from '../lib/kernels/sgd';
import { scalarArray } from '../lib/kernels/kernel_def';
import { getBackend } from '../lib/backend';
import { ErrorCodes } from '../lib/errors';
import { loadAddon } from '../lib/native';
import type { StateArray } from '../lib/tensor';
import { expectBitIdentical } from './helpers/bits';
import { expectError } from './helpers/errors';
import { randomTensors } from './helpers/random';

const adamScalars = (step: number) =>
  scalarArray(adamKernel, {
    gradScale: 1,
    l2: 0.01,
    decay: 1 - 1e-3 * 0.1,
    beta1: 0.9,
    oneMinusBeta1: 0.1,
    beta2: 0.999,
    oneMinusBeta2: 1 - 0.999,
    biasCorrection2Sqrt: Math.sqrt(1 - 0.999 ** step),
    eps: 1e-8,
    stepSize: 1e-3 / (1 - 0.9 ** step),
  });

describe('kernel variants: float64 params with float32 Adam moments', () => {
  const lengths = [1, 37, 1000, 70_001];
  for (const kernel of [adamKernel, adamAmsgradKernel]) {
    for (const threads of [1, 2]) {
      it(`${kernel.name}, ${threads} thread(s): native ≡ js, bit for bit, over 4 steps; the moments stay Float32Arrays`, () => {
        const make = () => {
          const params = randomTensors('float64', lengths, 11);
          const grads = randomTensors('float64', lengths, 12, 0.5);
          const state = lengths.flatMap((n) => Array.from({ length: kernel.stateSlots }, () => new Float32Array(n)));
          const buffers: StateArray[] = [];
          params.forEach((p, t) => buffers.push(p, grads[t], ...state.slice(t * kernel.stateSlots, (t + 1) * kernel.stateSlots)));
          return buffers;
        };
        const native = make();
        const js = make();
        for (let step = 1; step <= 4; step++) {
          getBackend('native').update(kernel, native, adamScalars(step), threads);
          getBackend('js').update(kernel, js, adamScalars(step), threads);
        }
        native.forEach((b, i) => expectBitIdentical(b, js[i], `${kernel.name} buffers[${i}]`));
        // The moments moved and were rounded to float32 (not left at zero).
        expect(native[2]).to.be.instanceOf(Float32Array);
        expect(Array.from(native[2]).some((x) => x !== 0)).to.equal(true);
      });
    }
  }

  it('the addon lists the variant; both backends refuse combinations a kernel lacks', () => {
    const row = loadAddon().info().updateKernels.find((r) => r.name === 'adam')!;
    expect(row.variants).to.deep.include({ param: 'float64', state: 'float32' });
    const cases: Array<[string, StateArray[], typeof adamKernel | typeof sgdMomentumKernel]> = [
      ['float32 params with float64 moments', [new Float32Array(2), new Float32Array(2), new Float64Array(2), new Float64Array(2)], adamKernel],
      ['float64 params with a float32 momentum buffer (SGD has no such variant)', [new Float64Array(2), new Float64Array(2), new Float32Array(2)], sgdMomentumKernel],
      ['float64 params with uint8 moments', [new Float64Array(2), new Float64Array(2), new Uint8Array(2), new Uint8Array(2)], adamKernel],
    ];
    for (const [what, buffers, kernel] of cases) {
      for (const backend of ['native', 'js'] as const) {
        const scalars = new Float64Array(kernel.scalars.length);
        expectError(() => getBackend(backend).update(kernel, buffers, scalars, 1), { type: TypeError, code: ErrorCodes.DTYPE_MISMATCH, mentions: ['no variant'] }, `${backend}: ${what}`);
      }
    }
  });

  it('state of mixed types within a call is refused, naming the buffer', () => {
    const buffers = [new Float64Array(2), new Float64Array(2), new Float32Array(2), new Float64Array(2)];
    for (const backend of ['native', 'js'] as const) {
      expectError(() => getBackend(backend).update(adamKernel, buffers, adamScalars(1), 1), { type: TypeError, code: ErrorCodes.DTYPE_MISMATCH, mentions: ['buffers[3]', 'Float32Array'] }, backend);
    }
  });
});
