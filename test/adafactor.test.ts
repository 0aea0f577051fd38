/**
 * Adafactor (torch.optim.Adafactor, PyTorch 2.5: see lib/optim/adafactor.ts):
 * first steps written out by hand, PyTorch's single-tensor algorithm
 * transcribed in plain float64 as the oracle of longer runs (to 1e-12),
 * the factored kernel native vs JS bit for bit over shapes that span several
 * tiles, both dtypes and 1 and 2 threads, ε₁'s machine-epsilon default per
 * dtype, state names and lengths per shape, state dicts and checkpoints with
 * an exact resume, and every rejected option. The generic suites
 * (test/helpers/optimizers.ts) run the vector kernel through every option,
 * instruction set and thread count; test/helpers/fingerprint.ts runs the
 * factored one on every instruction set.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Adafactor, OneCycleLR, StepLR, loadCheckpoint, saveCheckpoint } from '../lib';
import { ErrorCodes } from '../lib/errors';
import type { DType, Tensor } from '../lib/tensor';
import { getNumThreads, setNumThreads } from '../lib/threads';
import { ExpectedError, expectError } from './helpers/errors';
import { AnyOptimizer, caseGrads, expectSameOptimizer, makeOptimizer } from './helpers/optimizers';
import { cloneTensors, randomTensors } from './helpers/random';
import { expectUnchanged, snapshotOptimizer } from './helpers/snapshot';

const { OUT_OF_RANGE, INVALID_ARG_VALUE, INVALID_ARG_TYPE, SHAPE_MISMATCH, STATE_DICT_MISMATCH } = ErrorCodes;
const range = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: RangeError, code, mentions });
const type = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: TypeError, code, mentions });

type Shape = number[] | null;

interface HandOptions {
  lr: number;
  beta2Decay: number;
  eps: [number | null, number];
  d: number;
  weightDecay: number;
  maximize: boolean;
}
const DEFAULTS: HandOptions = { lr: 1e-2, beta2Decay: -0.8, eps: [null, 1e-3], d: 1, weightDecay: 0, maximize: false };

const rms = (xs: readonly number[]): number => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length);
const lerp = (a: number, b: number, w: number): number => a + w * (b - a);

/**
 * torch/optim/_adafactor.py's _single_tensor_adafactor in plain float64, one
 * tensor at a time, independently of the library (no tiles, no lanes, a
 * plain lerp): the params after each step.
 */
function torchAdafactor(o: HandOptions, shapes: readonly Shape[], p0: readonly number[][], grads: readonly number[][][]): number[][][] {
  const p = p0.map((t) => [...t]);
  const eps1 = o.eps[0] ?? Number.EPSILON;
  const state = shapes.map((shape, j) => {
    if (shape === null || shape.length < 2) return { variance: p0[j].map(() => 0) };
    const rows = shape[shape.length - 2], cols = shape[shape.length - 1], m = p0[j].length / (rows * cols);
    return { rows, cols, m, rowVar: new Array<number>(m * rows).fill(0), colVar: new Array<number>(m * cols).fill(0) };
  });
  const out: number[][][] = [];
  grads.forEach((step, k) => {
    const t = k + 1;
    const w = t ** o.beta2Decay;
    const rho = Math.min(o.lr, 1 / Math.sqrt(t));
    step.forEach((grad0, j) => {
      const g = grad0.map((x) => (o.maximize ? -x : x));
      const alpha = Math.max(o.eps[1], rms(p[j])) * rho;
      p[j] = p[j].map((x) => x * (1 - o.lr * o.weightDecay));
      const s = state[j];
      let vhat: number[];
      if ('variance' in s && s.variance) {
        s.variance = s.variance.map((v, i) => lerp(v, g[i] * g[i], w));
        vhat = [...s.variance];
      } else {
        const { rows, cols, m } = s as { rows: number; cols: number; m: number };
        const rowVar = (s as { rowVar: number[] }).rowVar, colVar = (s as { colVar: number[] }).colVar;
        vhat = new Array<number>(g.length);
        for (let b = 0; b < m; b++) {
          const at = (i: number, c: number) => g[(b * rows + i) * cols + c];
          for (let i = 0; i < rows; i++) {
            let sum = 0;
            for (let c = 0; c < cols; c++) sum += at(i, c) ** 2;
            rowVar[b * rows + i] = lerp(rowVar[b * rows + i], sum / cols, w);
          }
          for (let c = 0; c < cols; c++) {
            let sum = 0;
            for (let i = 0; i < rows; i++) sum += at(i, c) ** 2;
            colVar[b * cols + c] = lerp(colVar[b * cols + c], sum / rows, w);
          }
          let meanRow = 0;
          for (let i = 0; i < rows; i++) meanRow += rowVar[b * rows + i] / rows;
          meanRow = Math.max(meanRow, eps1);
          for (let i = 0; i < rows; i++) {
            for (let c = 0; c < cols; c++) vhat[(b * rows + i) * cols + c] = (rowVar[b * rows + i] * colVar[b * cols + c]) / meanRow;
          }
        }
      }
      const u = vhat.map((v, i) => g[i] / Math.sqrt(Math.max(v, eps1 * eps1)));
      const denom = Math.max(1, rms(u) / o.d);
      p[j] = p[j].map((x, i) => x - (alpha / denom) * u[i]);
    });
    out.push(p.map((x) => [...x]));
  });
  return out;
}

function expectClose(actual: ArrayLike<number>, expected: readonly number[], what: string, tolerance = 1e-12): void {
  expect(actual.length, what).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(actual[i], `${what}[${i}]`).to.be.closeTo(expected[i], tolerance * Math.max(1, Math.abs(expected[i])));
  }
}

const elements = (shape: Shape, fallback: number): number => (shape === null ? fallback : shape.reduce((a, b) => a * b, 1));

describe('Adafactor: defaults and state', () => {
  it("PyTorch 2.5's defaults: lr 1e-2, beta2Decay -0.8, eps [null, 1e-3], d 1, weightDecay 0, foreach null, maximize false", () => {
    const opt = new Adafactor([new Float64Array([1, 2, 3])]);
    const { params: _params, ...g } = opt.paramGroups[0];
    expect(g).to.deep.equal({ lr: 1e-2, beta2Decay: -0.8, eps: [null, 1e-3], d: 1, weightDecay: 0, foreach: null, maximize: false, shapes: null });
  });

  it('a shape of rank 2 or more keeps rowVar and colVar (matrices·rows, matrices·cols); any other a full variance', () => {
    const shapes: Shape[] = [[4, 5], [2, 3, 4], [6], null, [1, 1], [0, 5], [5, 1]];
    const params = shapes.map((s) => new Float32Array(elements(s, 3)));
    const opt = new Adafactor(params, { shapes });
    opt.step(params.map((p) => p.map((_, i) => (i % 3) - 1)));
    const layout = opt.state.map((s) =>
      Object.fromEntries(Object.entries(s).map(([key, value]) => [key, typeof value === 'number' ? value : value!.length])),
    );
    expect(layout).to.deep.equal([
      { rowVar: 4, colVar: 5, step: 1 },
      { rowVar: 6, colVar: 8, step: 1 },
      { variance: 6, step: 1 },
      { variance: 3, step: 1 },
      { rowVar: 1, colVar: 1, step: 1 },
      { variance: 0, step: 1 }, // no elements: nothing to factor
      { rowVar: 5, colVar: 1, step: 1 },
    ]);
    // The statistics are means of G²: row i of [4, 5] averages g² over its 5 columns (w = 1 at step 1).
    const g = params[0].map((_, i) => (i % 3) - 1);
    const row0 = [0, 1, 2, 3, 4].reduce((a, c) => a + g[c] * g[c], 0) / 5;
    expect((opt.state[0].rowVar as Float32Array)[0]).to.equal(Math.fround(row0));
    // The union, for a schema asked without a param.
    expect(opt.stateSchema(0).buffers.map((b) => b.name)).to.deep.equal(['rowVar', 'colVar', 'variance']);
  });
});

describe('Adafactor: first steps computed by hand (float64, 1e-12)', () => {
  for (const backend of ['native', 'js'] as const) {
    it(`${backend}: a vector, two steps: V = G² so U = sign(G), and θ moves by α = RMS(θ)·lr`, () => {
      const theta = [1, -2, 0.5];
      const g = [0.3, 0.1, -0.2];
      const p = new Float64Array(theta);
      const opt = makeOptimizer('Adafactor', [p], {}, backend);
      opt.step([new Float64Array(g)]);
      // Step 1: w = 1, so V = G² and U = G/|G| = sign(G); RMS(U) = 1 = d, no clipping; ρ = min(0.01, 1).
      const alpha1 = Math.sqrt((1 + 4 + 0.25) / 3) * 0.01;
      const after1 = theta.map((x, i) => x - alpha1 * Math.sign(g[i]));
      expectClose(p, after1, 'step 1');
      // Step 2: V = lerp(G², G², w) = G² again, ρ = min(0.01, 1/√2) = 0.01, α from the new θ.
      opt.step([new Float64Array(g)]);
      const alpha2 = rms(after1) * 0.01;
      expectClose(
        p,
        after1.map((x, i) => x - alpha2 * Math.sign(g[i])),
        'step 2',
      );
    });

    it(`${backend}: a 2×2 matrix, one step: R, C, V̂ = R·C/mean(R), and U clipped to RMS d`, () => {
      const theta = [0.5, -1, 2, 1.5];
      const p = new Float64Array(theta);
      const opt = makeOptimizer('Adafactor', [p], { shapes: [[2, 2]] }, backend);
      opt.step([new Float64Array([1, 0, 0, 1])]);
      // R = [mean(1, 0), mean(0, 1)] = [0.5, 0.5], C = [0.5, 0.5], mean(R) = 0.5: V̂ = 0.25 everywhere,
      // U = G/0.5 = [2, 0, 0, 2], RMS(U) = √2 > d = 1: the step is α·U/√2 = α·√2·[1, 0, 0, 1].
      expect(Array.from(opt.state[0].rowVar as Float64Array)).to.deep.equal([0.5, 0.5]);
      expect(Array.from(opt.state[0].colVar as Float64Array)).to.deep.equal([0.5, 0.5]);
      const alpha = Math.sqrt((0.25 + 1 + 4 + 2.25) / 4) * 0.01;
      expectClose(p, [0.5 - alpha * Math.SQRT2, -1, 2, 1.5 - alpha * Math.SQRT2], 'step 1');
    });

    it(`${backend}: zero gradients leave only the weight decay, θ·(1 − lr·λ)`, () => {
      const p = new Float64Array([1, -2, 3, 4, 5, 6]);
      const opt = makeOptimizer('Adafactor', [p], { lr: 0.1, weightDecay: 0.5, shapes: [[2, 3]] }, backend);
      opt.step([new Float64Array(6)]);
      expectClose(p, [0.95, -1.9, 2.85, 3.8, 4.75, 5.7], 'decayed');
    });
  }
});

describe("Adafactor: PyTorch's algorithm in plain float64 as the oracle (six steps, 1e-12)", () => {
  const shapes: Shape[] = [[5, 3], [2, 3, 4], null, [1, 9], [4, 1]];
  const lengths = shapes.map((s) => elements(s, 7));
  const optionSets: Array<Partial<HandOptions>> = [
    {},
    { lr: 0.2, beta2Decay: -0.5, eps: [1e-3, 1e-2], d: 1.2, weightDecay: 0.05, maximize: true },
    { lr: 0.05, eps: [1e-30, 0.5] }, // ε₂ above RMS(θ): α = ε₂·ρ
  ];
  for (const partial of optionSets) {
    for (const backend of ['native', 'js'] as const) {
      it(`${JSON.stringify(partial)} ${backend}`, () => {
        const o = { ...DEFAULTS, ...partial };
        const p0 = randomTensors('float64', lengths, 81);
        const grads = [1, 2, 3, 4, 5, 6].map((step) => caseGrads(p0, 82, step).map((g) => Array.from(g)));
        const want = torchAdafactor(o, shapes, p0.map((t) => Array.from(t)), grads);
        const params = cloneTensors(p0);
        const opt = makeOptimizer('Adafactor', params, { ...partial, shapes }, backend);
        grads.forEach((step, k) => {
          opt.step(step.map((g) => new Float64Array(g)));
          params.forEach((x, j) => expectClose(x, want[k][j], `step ${k + 1}: params[${j}]`));
        });
      });
    }
  }
});

describe('Adafactor: ε₁ null is the machine epsilon of the param type', () => {
  it('float64: tiny gradients (1e-9) are not floored, so U = sign(G); ε₁ = 1e-3 floors them (U = G/ε₁)', () => {
    const g = [1e-9, -1e-9];
    const free = new Float64Array([1, 1]);
    const floored = new Float64Array([1, 1]);
    new Adafactor([free]).step([new Float64Array(g)]);
    new Adafactor([floored], { eps: [1e-3, 1e-3] }).step([new Float64Array(g)]);
    const alpha = 0.01; // RMS(θ) = 1
    expectClose(free, [1 - alpha, 1 + alpha], 'eps1 null');
    expectClose(floored, [1 - alpha * 1e-6, 1 + alpha * 1e-6], 'eps1 1e-3');
  });

  for (const backend of ['native', 'js'] as const) {
    it(`float32 (${backend}): G = 1e-8 has G² below ε₁² = 2^-46, so U = G/2^-23, not sign(G)`, () => {
      const p = new Float32Array([1, 1]);
      makeOptimizer('Adafactor', [p], {}, backend).step([new Float32Array([1e-8, -1e-8])]);
      const u = Math.fround(1e-8) / 2 ** -23;
      expectClose(p, [1 - 0.01 * u, 1 + 0.01 * u], 'float32', 1e-6);
    });
  }
});

describe('Adafactor: the factored kernel, native vs JS bit for bit', () => {
  const saved = getNumThreads();
  after(() => setNumThreads(saved));
  // 130 × 4100 spans 3 row tiles and 2 column tiles; 2×3×40001 a batch of wide matrices; 4099 × 3 many row tiles.
  const shapes: Shape[] = [[130, 4100], [3, 5, 7], [1, 1], null, [2, 3, 40001], [4099, 3], [2, 1, 1]];
  const lengths = shapes.map((s) => elements(s, 70_001));
  const optionSets = [{}, { lr: 0.3, beta2Decay: -0.5, eps: [1e-30, 1e-2], d: 1.5, weightDecay: 0.05, maximize: true }];
  for (const dtype of ['float32', 'float64'] as DType[]) {
    for (const options of optionSets) {
      it(`${dtype} ${JSON.stringify(options)}: 1 and 2 threads match the JS reference over five steps`, () => {
        const initial = randomTensors(dtype, lengths, 91);
        const results: Array<{ opt: AnyOptimizer; label: string }> = [];
        for (const [threads, backend] of [[1, 'js'], [1, 'native'], [2, 'native']] as const) {
          setNumThreads(threads);
          const opt = makeOptimizer('Adafactor', cloneTensors(initial), { ...options, shapes }, backend);
          for (let step = 1; step <= 5; step++) opt.step(caseGrads(initial, 92, step), { maxGradNorm: 200 });
          results.push({ opt, label: `${backend}, ${threads} thread(s)` });
        }
        setNumThreads(saved);
        for (const { opt, label } of results.slice(1)) expectSameOptimizer(opt, results[0].opt, label);
      });
    }
  }
});

describe('Adafactor: state dicts and checkpoints resume exactly', () => {
  const shapes: Shape[] = [[6, 7], null, [2, 3, 5]];
  const lengths = [42, 11, 30];

  function run(steps: readonly number[], opt: AnyOptimizer, initial: readonly Tensor[]): void {
    for (const step of steps) opt.step(caseGrads(initial, 95, step));
  }

  for (const dtype of ['float32', 'float64'] as DType[]) {
    it(`${dtype}: 3 steps, stateDict into a new optimizer, 3 more = 6 straight`, () => {
      const initial = randomTensors(dtype, lengths, 94);
      const straight = makeOptimizer('Adafactor', cloneTensors(initial), { shapes, weightDecay: 0.01 });
      run([1, 2, 3, 4, 5, 6], straight, initial);
      const first = makeOptimizer('Adafactor', cloneTensors(initial), { shapes, weightDecay: 0.01 });
      run([1, 2, 3], first, initial);
      const resumed = makeOptimizer('Adafactor', first.paramGroups[0].params.map((p) => p.slice()), { shapes, weightDecay: 0.01 }, 'js');
      resumed.loadStateDict(first.stateDict());
      run([4, 5, 6], resumed, initial);
      expectSameOptimizer(resumed, straight, 'resumed');
    });
  }

  it('through a checkpoint file, with a scheduler', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'adafactor-'));
    try {
      const initial = randomTensors('float32', lengths, 96);
      const make = (params: Tensor[]) => {
        const opt = makeOptimizer('Adafactor', params, { shapes, lr: 0.05 });
        return { opt, scheduler: new StepLR(opt as never, { stepSize: 2, gamma: 0.5 }) };
      };
      const straight = make(cloneTensors(initial));
      for (let step = 1; step <= 6; step++) {
        straight.opt.step(caseGrads(initial, 97, step));
        straight.scheduler.step();
      }
      const first = make(cloneTensors(initial));
      for (let step = 1; step <= 3; step++) {
        first.opt.step(caseGrads(initial, 97, step));
        first.scheduler.step();
      }
      const file = path.join(dir, 'ckpt.safetensors');
      saveCheckpoint(file, { model: { params: first.opt.paramGroups[0].params }, optimizer: first.opt, scheduler: first.scheduler });
      const resumed = make(randomTensors('float32', lengths, 1));
      loadCheckpoint(file, { model: { params: resumed.opt.paramGroups[0].params }, optimizer: resumed.opt, scheduler: resumed.scheduler });
      for (let step = 4; step <= 6; step++) {
        resumed.opt.step(caseGrads(initial, 97, step));
        resumed.scheduler.step();
      }
      expectSameOptimizer(resumed.opt, straight.opt, 'resumed from the file');
      expect(resumed.opt.lr).to.equal(straight.opt.lr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses row statistics of the wrong length, and a state dict of other shapes, changing nothing', () => {
    const initial = randomTensors('float32', lengths, 98);
    const source = makeOptimizer('Adafactor', cloneTensors(initial), { shapes });
    run([1], source, initial);
    const target = makeOptimizer('Adafactor', cloneTensors(initial), { shapes });
    run([1, 2], target, initial);
    const snap = snapshotOptimizer(target);

    const short = source.stateDict();
    short.state[0].rowVar = (short.state[0].rowVar as Float32Array).subarray(1);
    expectError(() => target.loadStateDict(short), range(STATE_DICT_MISMATCH, 'stateDict.state[0].rowVar', 'expected length 6'));

    // Saved where param 0 had no shape: a full variance, which a [6, 7] param does not keep.
    const vectors = makeOptimizer('Adafactor', cloneTensors(initial));
    run([1], vectors, initial);
    expectError(() => target.loadStateDict(vectors.stateDict()), range(STATE_DICT_MISMATCH, 'stateDict.state[0]', '"variance"', 'rowVar, colVar'));
    expectUnchanged(target, snap);
  });
});

describe('Adafactor: shapes are fixed, and checked against the params', () => {
  it('editing a group\'s shapes after it was added is refused at the next step, changing nothing', () => {
    const p = new Float32Array(6);
    const opt = new Adafactor([p], { shapes: [[2, 3]] });
    const g = new Float32Array([1, 2, 3, 4, 5, 6]);
    opt.step([g]);
    const snap = snapshotOptimizer(opt as never, [g]);
    (opt.paramGroups[0].shapes as number[][])[0][0] = 3;
    (opt.paramGroups[0].shapes as number[][])[0][1] = 2;
    expectError(() => opt.step([g]), range(INVALID_ARG_VALUE, 'Adafactor: paramGroups[0]: shapes is fixed when a group is added'));
    (opt.paramGroups[0].shapes as number[][])[0] = [2, 3];
    expectUnchanged(opt as never, snap);
    opt.step([g]);
    expect(opt.state[0].step).to.equal(2);
  });
});

describe('Adafactor: schedulers', () => {
  it('OneCycleLR cycles the lr (cycleMomentum false: Adafactor has no momentum nor betas), and refuses to cycle momentum', () => {
    const p = new Float32Array([1, 2, 3]);
    const opt = new Adafactor([p]);
    expectError(() => new OneCycleLR(opt as never, { maxLr: 0.1, totalSteps: 10 }), range(INVALID_ARG_VALUE, 'cycleMomentum', 'neither momentum nor betas'));
    const scheduler = new OneCycleLR(opt as never, { maxLr: 0.1, totalSteps: 10, cycleMomentum: false });
    const lrs: number[] = [];
    for (let k = 0; k < 5; k++) {
      lrs.push(opt.lr);
      opt.step([new Float32Array([1, -1, 0.5])]);
      scheduler.step();
    }
    expect(lrs[0]).to.be.closeTo(0.1 / 25, 1e-12);
    expect(Math.max(...lrs)).to.be.greaterThan(lrs[0]);
  });
});

describe('Adafactor: invalid options are rejected', () => {
  const cases: Array<[Record<string, unknown>, ExpectedError]> = [
    [{ lr: -1 }, range(OUT_OF_RANGE, 'Adafactor: options.lr', '-1')],
    [{ beta2Decay: 0.5 }, range(OUT_OF_RANGE, 'Adafactor: options.beta2Decay')],
    [{ eps: [-1, 1e-3] }, range(OUT_OF_RANGE, 'Adafactor: options.eps[0]')],
    [{ eps: [null, -1] }, range(OUT_OF_RANGE, 'Adafactor: options.eps[1]')],
    [{ eps: [null] }, range(INVALID_ARG_VALUE, 'Adafactor: options.eps', 'eps1 or null')],
    [{ eps: 1e-3 }, type(INVALID_ARG_TYPE, 'Adafactor: options.eps')],
    [{ d: 0.5 }, range(OUT_OF_RANGE, 'Adafactor: options.d')],
    [{ weightDecay: -0.1 }, range(OUT_OF_RANGE, 'Adafactor: options.weightDecay')],
    [{ foreach: 'yes' }, type(INVALID_ARG_TYPE, 'Adafactor: options.foreach')],
    [{ maximize: 1 }, type(INVALID_ARG_TYPE, 'Adafactor: options.maximize')],
    [{ shapes: 'x' }, type(INVALID_ARG_TYPE, 'Adafactor: options.shapes')],
    [{ shapes: [[3, 1]] }, range(SHAPE_MISMATCH, 'Adafactor.shapes', 'expected one shape (or null) per param, 2, got 1')],
    [{ shapes: [[3, 1], [2, 2]] }, range(SHAPE_MISMATCH, 'Adafactor.shapes[1]', '[2, 2] has 4 elements, params[1] has 5')],
    [{ shapes: [[3, -1], null] }, range(OUT_OF_RANGE, 'Adafactor: options.shapes[0][1]')],
    [{ shapes: [[1.5, 2], null] }, range(OUT_OF_RANGE, 'Adafactor: options.shapes[0][0]')],
    [{ shapes: [[3, 1], 5] }, type(INVALID_ARG_TYPE, 'Adafactor: options.shapes[1]')],
  ];
  for (const [options, expected] of cases) {
    it(JSON.stringify(options), () => {
      const p = [new Float32Array([1, 2, 3]), new Float32Array(5)];
      expectError(() => new Adafactor(p, options as never), expected, 'new Adafactor');
      expect(Array.from(p[0])).to.deep.equal([1, 2, 3]);
    });
  }

  it('a group of addParamGroup with shapes that do not fit is refused, the optimizer unchanged', () => {
    const opt = new Adafactor([new Float32Array(4)], { shapes: [[2, 2]] });
    const snap = snapshotOptimizer(opt as never);
    // The defaults' shapes (one) do not fit a group of two params: it needs its own.
    expectError(() => opt.addParamGroup({ params: [new Float32Array(2), new Float32Array(3)] }), range(SHAPE_MISMATCH, 'addParamGroup: group.shapes'));
    expectUnchanged(opt as never, snap);
    opt.addParamGroup({ params: [new Float32Array(2), new Float32Array(3)], shapes: [null, [3, 1]] });
    expect(opt.paramGroups).to.have.length(2);
  });
});

describe('Adafactor: the kernel call checks its row and column statistics as a shape', () => {
  it('lengths that fit no shape are ERR_SHAPE_MISMATCH on both backends', async () => {
    const { getBackend } = await import('../lib/backend');
    const { adafactorFactoredKernel } = await import('../lib/kernels/adafactor');
    const { scalarArray } = await import('../lib/kernels/kernel_def');
    const scalars = scalarArray(adafactorFactoredKernel, { gradScale: 1, oneMinusBeta2: 1, rho: 0.01, eps1: 0, machineEps1: 1, eps2: 1e-3, d: 1, decay: 1 });
    for (const backend of ['native', 'js'] as const) {
      const p = new Float32Array([1, 2, 3, 4, 5, 6]);
      // 6 elements with 4 row and 3 column statistics: no m·r·c = 6 with m·r = 4 and m·c = 3.
      const buffers = [p, new Float32Array(6), new Float32Array(4), new Float32Array(3)];
      expectError(() => getBackend(backend).update(adafactorFactoredKernel, buffers, scalars, 1), range(SHAPE_MISMATCH, 'buffers[2] and buffers[3]', 'lengths 4 and 3'));
      expect(Array.from(p)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      // 2 × 3: fine.
      getBackend(backend).update(adafactorFactoredKernel, [p, new Float32Array(6).fill(1), new Float32Array(2), new Float32Array(3)], scalars, 1);
      expect(p[0]).to.not.equal(1);
    }
  });
});
