/**
 * Optimizer.stateSize() (issue 24): before the first step, the bytes and
 * element types the steps will allocate, equal to what the state then holds;
 * after loadStateDict, the same (8-bit code maps, per-param copies then,
 * count once); and stateSize over a checkpoint's state dict the same again.
 */
import { expect } from 'chai';
import { Adafactor, Adam, AdamW, LAMB, Optimizer, SGD } from '../lib';
import { stateSize } from '../lib/optim/core/state_size';
import { encodeCheckpoint, readCheckpoint } from '../lib/train/checkpoint';
import type { StateSize } from '../lib';

type AnyOptimizer = Optimizer<{ lr: number }>;

/** Params of odd lengths, one above the 8-bit threshold used below (300). */
const lengths = [5000, 1, 333, 17];
const params32 = () => lengths.map((n) => new Float32Array(n).map((_, i) => Math.sin(i + n)));
const grads = (params: Float32Array[] | Float64Array[]) => params.map((p) => p.map((_, i) => Math.cos(i * 0.7 + p.length)));

/** What the state holds, each array once (a shared code map once): by element type. */
function held(opt: AnyOptimizer): StateSize {
  const out: StateSize = { bytes: 0, dtypes: {} };
  const seen = new Set<unknown>();
  for (const entry of opt.state) {
    for (const value of Object.values(entry)) {
      if (typeof value !== 'object' || seen.has(value)) continue;
      seen.add(value);
      const dtype = value instanceof Float32Array ? 'float32' : value instanceof Float64Array ? 'float64' : value instanceof Uint16Array ? 'bfloat16' : 'uint8';
      out.bytes += value.byteLength;
      out.dtypes[dtype] = (out.dtypes[dtype] ?? 0) + value.byteLength;
    }
  }
  return out;
}

const cases: Array<[string, () => { opt: AnyOptimizer; params: Float32Array[] | Float64Array[] }]> = [
  ['AdamW, float32 state', () => ((p) => ({ opt: new AdamW(p), params: p }))(params32())],
  ['Adam with amsgrad (a third buffer)', () => ((p) => ({ opt: new Adam(p, { amsgrad: true }), params: p }))(params32())],
  ['AdamW, bfloat16 state', () => ((p) => ({ opt: new AdamW(p, { stateDtype: 'bfloat16' }), params: p }))(params32())],
  ['AdamW, 8-bit state (small params keep float32)', () => ((p) => ({ opt: new AdamW(p, { stateDtype: 'int8', min8bitSize: 300 }), params: p }))(params32())],
  ['SGD with momentum, float64 params', () => ((p) => ({ opt: new SGD(p, { lr: 0.1, momentum: 0.9 }), params: p }))(lengths.map((n) => new Float64Array(n).fill(0.5)))],
  ['SGD without momentum (no state)', () => ((p) => ({ opt: new SGD(p, { lr: 0.1 }), params: p }))(params32())],
  ['LAMB', () => ((p) => ({ opt: new LAMB(p), params: p }))(params32())],
  [
    'Adafactor, matrices and vectors (row and column statistics)',
    () => ((p) => ({ opt: new Adafactor(p, { shapes: [[50, 100], null, [9, 37], [17]] }), params: p }))(params32()),
  ],
];

describe('Optimizer.stateSize', () => {
  for (const [name, make] of cases) {
    it(`${name}: before the first step, what the step allocates; after it, what is held`, () => {
      const { opt, params } = make();
      const planned = opt.stateSize();
      expect(opt.stateBytes()).to.equal(0);
      opt.step(grads(params) as never);
      expect(held(opt)).to.deep.equal(planned);
      expect(opt.stateSize()).to.deep.equal(planned);
      expect(opt.stateBytes()).to.equal(planned.bytes);
    });
  }

  it('a param group stepped once and one not yet: the held and the planned add up', () => {
    const [a, b] = [new Float32Array(100), new Float32Array(7)];
    const opt = new AdamW([a]);
    opt.step([new Float32Array(100).fill(1)]);
    opt.addParamGroup({ params: [b], stateDtype: 'bfloat16' });
    expect(opt.stateSize()).to.deep.equal({ bytes: 800 + 28, dtypes: { float32: 800, bfloat16: 28 } });
  });

  it("8-bit state: after loadStateDict (per-param code maps) and in a checkpoint's state dict, the same size", () => {
    const p = [new Float32Array(5000), new Float32Array(4000)];
    const opt = new AdamW(p, { stateDtype: 'int8', min8bitSize: 300 });
    opt.step(grads(p) as never);
    const size = opt.stateSize();
    // codes (1 B per element), one float32 scale per block of 256, and two code maps (signed, unsigned) once.
    expect(size.dtypes.uint8).to.equal(2 * 9000);
    expect(size.dtypes.float32).to.equal(2 * 4 * (Math.ceil(5000 / 256) + Math.ceil(4000 / 256)) + 2 * 256 * 4);
    const twin = new AdamW([new Float32Array(5000), new Float32Array(4000)], { stateDtype: 'int8', min8bitSize: 300 });
    twin.loadStateDict(opt.stateDict());
    expect(twin.stateSize()).to.deep.equal(size);
    const bytes = Buffer.concat(encodeCheckpoint({ model: { params: p }, optimizer: opt }));
    expect(stateSize(readCheckpoint(bytes).optimizer!.stateDict.state)).to.deep.equal(size);
  });
});
