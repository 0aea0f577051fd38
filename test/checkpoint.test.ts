/**
 * Checkpoints (lib/train/checkpoint.ts): the round trip, the file is plain safetensors, and every
 * kind of damaged or mismatched file is refused with a clear error and changes nothing live;
 * error feedback's residuals (every rank's, per param) round-trip and are checked as strictly.
 */
import { expect } from 'chai';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Adam, AdamW, SGD } from '../lib';
import { ErrorCodes } from '../lib/errors';
import type { OptimizerStateDict } from '../lib/optim/core/optimizer';
import { CosineAnnealingLR, WarmupCosineScheduler } from '../lib/schedulers';
import type { StateArray } from '../lib/tensor';
import { CHECKPOINT_VERSION, encodeCheckpoint, loadCheckpoint, readCheckpoint, saveCheckpoint } from '../lib/train/checkpoint';
import { TensorToWrite, parseSafetensors, encodeSafetensors } from '../lib/train/safetensors';
import { expectAllBitIdentical } from './helpers/bits';
import { expectError } from './helpers/errors';
import { expectUnchanged, snapshotOptimizer } from './helpers/snapshot';
import { LinearModel, batchesOf, regressionData } from './helpers/tiny-model';

const data = regressionData(24, 3);

/** A model, AdamW and warmup-cosine after a few steps: state in every part. */
function trained(seed = 1) {
  const model = new LinearModel(seed);
  const optimizer = new AdamW(model.params, { lr: 0.1 });
  const scheduler = new WarmupCosineScheduler(optimizer, { warmupSteps: 2, totalSteps: 10 });
  for (const batch of batchesOf(data, 6)) {
    optimizer.step(model.forwardBackward(batch).grads);
    scheduler.step();
  }
  return { model, optimizer, scheduler };
}

const progress = { epoch: 1, batchInEpoch: 2, globalStep: 4, bestValLoss: 0.25, epochLossSum: 0.5, epochLossCount: 2 };
const history = {
  trainLoss: [1, 0.5, NaN, 0.25],
  learningRate: [0, 0.05, 0.1, 0.09],
  gradNorm: [2, 1, Infinity, 0.5],
  skippedSteps: [3],
  epochTrainLoss: [0.75],
  valLoss: [0.25],
  valMetrics: { accuracy: [0.5] },
  epochEndStep: [2],
};

function tempFile(name = 'ck.safetensors'): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-ck-')), name);
}

function bytesOfFile(parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

/** A fresh, differently initialised set of live objects, and a snapshot to prove they did not change. */
function live(seed = 9) {
  const model = new LinearModel(seed);
  const optimizer = new AdamW(model.params, { lr: 0.1 });
  const scheduler = new WarmupCosineScheduler(optimizer, { warmupSteps: 2, totalSteps: 10 });
  optimizer.step(model.forwardBackward(batchesOf(data, 6)[0]).grads);
  scheduler.step();
  const snap = snapshotOptimizer(optimizer);
  const schedulerState = JSON.stringify(scheduler.stateDict());
  const expectUntouched = (what: string) => {
    expectUnchanged(optimizer, snap, what);
    expect(JSON.stringify(scheduler.stateDict()), `${what}: scheduler`).to.equal(schedulerState);
  };
  return { targets: { model, optimizer, scheduler }, model, optimizer, scheduler, expectUntouched };
}

/** The checksum as the header comment of lib/train/checkpoint.ts defines it (little-endian hosts). */
function checksumOf(tensors: ReadonlyMap<string, { dtype: string; shape: readonly number[]; data: StateArray }>, metadata: Record<string, string>): string {
  const hash = createHash('sha256');
  const field = (text: string) => hash.update(`${text.length}:${text}`);
  for (const name of [...tensors.keys()].sort()) {
    const t = tensors.get(name)!;
    field(name);
    field(t.dtype);
    field(JSON.stringify(t.shape));
    hash.update(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  for (const key of Object.keys(metadata).sort()) {
    if (key === 'checksum') continue;
    field(key);
    field(metadata[key]);
  }
  return `sha256:${hash.digest('hex')}`;
}

describe('checkpoints', () => {
  it('round trip: params, optimizer state and step counts, scheduler, progress, history and extra', () => {
    const src = trained();
    const file = tempFile();
    saveCheckpoint(file, { ...src, progress, history, extra: { seed: 7, sizes: [3, 1] } });
    const dst = live();
    const ck = loadCheckpoint(file, dst.targets);
    expectAllBitIdentical(dst.model.params, src.model.params, 'params');
    const a = src.optimizer.stateDict();
    const b = dst.optimizer.stateDict();
    expect(b.paramGroups).to.deep.equal(a.paramGroups);
    for (const i of [0, 1]) {
      expect(b.state[i].step).to.equal(a.state[i].step);
      expectAllBitIdentical([b.state[i].expAvg, b.state[i].expAvgSq] as Float64Array[], [a.state[i].expAvg, a.state[i].expAvgSq] as Float64Array[], `state[${i}]`);
    }
    expect(dst.scheduler.stateDict()).to.deep.equal(src.scheduler.stateDict());
    expect(dst.optimizer.lr).to.equal(src.optimizer.lr);
    expect(ck.progress).to.deep.equal(progress);
    expect(ck.history).to.deep.equal(history); // NaN and Infinity survive
    expect(ck.extra).to.deep.equal({ seed: 7, sizes: [3, 1] });
    expect(ck.paramNames).to.deep.equal(['weight', 'bias']);
    // The next steps of both agree bit for bit.
    for (const s of [src, dst]) {
      s.optimizer.step(s.model.forwardBackward(batchesOf(data, 6)[1]).grads);
      s.scheduler.step();
    }
    expectAllBitIdentical(dst.model.params, src.model.params, 'params after one more step');
  });

  it('is a plain safetensors file: stable tensor names, shapes, string metadata', () => {
    const src = trained();
    const file = tempFile();
    saveCheckpoint(file, { ...src, progress, history });
    const bytes = fs.readFileSync(file);
    const parsed = parseSafetensors(bytes);
    expect([...parsed.tensors.keys()].sort()).to.deep.equal(['optim.0.expAvg', 'optim.0.expAvgSq', 'optim.1.expAvg', 'optim.1.expAvgSq', 'param.0', 'param.1']);
    expect(parsed.tensors.get('param.0')!.shape).to.deep.equal([3]);
    expect(parsed.tensors.get('optim.1.expAvg')!.dtype).to.equal('F64');
    expect(Object.keys(parsed.metadata).sort()).to.deep.equal(['checksum', 'format', 'history', 'optimizer', 'params', 'progress', 'scheduler', 'version']);
    expect(parsed.metadata.format).to.equal('fusedoptim.checkpoint');
    expect(parsed.metadata.version).to.equal(String(CHECKPOINT_VERSION));
    expect(JSON.parse(parsed.metadata.optimizer).class).to.equal('AdamW');
    expect(JSON.parse(parsed.metadata.optimizer).state).to.deep.equal({ 0: { step: 4 }, 1: { step: 4 } });
    expect(JSON.parse(parsed.metadata.scheduler).class).to.equal('WarmupCosineScheduler');
    // The header length prefix is little-endian and the header is JSON, as the specification says.
    const n = Number(bytes.readBigUInt64LE(0));
    expect(() => JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'))).not.to.throw();
    // Writing the same state twice gives the same bytes (no timestamps): runs can be compared by file.
    expect(bytesOfFile(encodeCheckpoint({ ...src, progress, history }))).to.deep.equal(bytes);
  });

  it('the write is atomic: no temporary file is left, and a failed write leaves the old checkpoint', () => {
    const src = trained();
    const file = tempFile();
    saveCheckpoint(file, src);
    const before = fs.readFileSync(file);
    expect(fs.readdirSync(path.dirname(file))).to.deep.equal([path.basename(file)]);
    expect(() => saveCheckpoint(file, { ...src, extra: 5 as never })).to.throw(TypeError);
    expect(fs.readFileSync(file)).to.deep.equal(before);
    expect(fs.readdirSync(path.dirname(file))).to.deep.equal([path.basename(file)]);
  });

  it('loads only the weights when given only the model', () => {
    const src = trained();
    const file = tempFile();
    saveCheckpoint(file, src);
    const model = new LinearModel(5);
    loadCheckpoint(file, { model });
    expectAllBitIdentical(model.params, src.model.params, 'params');
  });

  describe('damaged files: ERR_CHECKPOINT_CORRUPT, nothing changed', () => {
    const src = trained();
    const good = bytesOfFile(encodeCheckpoint({ ...src, progress, history }));
    const headerEnd = 8 + Number(good.readBigUInt64LE(0));

    function expectCorrupt(bytes: Uint8Array, what: string, mention?: string | RegExp): void {
      const target = live();
      const before = target.model.params.map((p) => p.slice());
      expectError(() => loadCheckpoint(bytes, target.targets), { type: RangeError, code: ErrorCodes.CHECKPOINT_CORRUPT, mentions: mention ? [mention] : [] }, what);
      expectAllBitIdentical(target.model.params, before, `${what}: params`);
      target.expectUntouched(what);
    }

    it('truncated at every offset of the header and at many of the data', () => {
      const offsets = new Set<number>();
      for (let i = 0; i < headerEnd + 16; i++) offsets.add(i);
      for (let i = headerEnd; i < good.length; i += 7) offsets.add(i);
      offsets.add(good.length - 1);
      for (const n of offsets) expectCorrupt(good.subarray(0, n), `truncated to ${n} bytes`);
    });

    it('any byte of the header or the data flipped', () => {
      for (let i = 0; i < good.length; i++) {
        for (const mask of i < headerEnd ? [0x01, 0x80] : [0x01]) {
          const bad = Buffer.from(good);
          bad[i] ^= mask;
          expectCorrupt(bad, `byte ${i} ^ 0x${mask.toString(16)}`);
        }
      }
    });

    it('offsets out of range, overlapping, or leaving a gap', () => {
      const header = JSON.parse(good.subarray(8, headerEnd).toString('utf8'));
      const data = good.subarray(headerEnd);
      const withHeader = (h: unknown) => {
        const json = Buffer.from(JSON.stringify(h));
        const prefix = Buffer.alloc(8);
        prefix.writeBigUInt64LE(BigInt(json.length));
        return Buffer.concat([prefix, json, data]);
      };
      const first = Object.keys(header).find((k) => k !== '__metadata__')!;
      for (const offsets of [[0, data.length + 8], [data.length, data.length + 8], [-8, 0], [8, 0]]) {
        const h = structuredClone(header);
        h[first].data_offsets = offsets;
        expectCorrupt(withHeader(h), `data_offsets ${JSON.stringify(offsets)}`, /data_offsets|overlap|belong to no tensor|needs/);
      }
      const h = structuredClone(header);
      h[first].shape = [2];
      expectCorrupt(withHeader(h), 'shape not matching the byte range', 'needs');
    });

    it('not a checkpoint, an unknown version, a bad checksum, unknown tensors, bad metadata JSON', () => {
      const tensors = new Map([['param.0', { data: new Float64Array(3), shape: [3] }]]);
      expectCorrupt(Buffer.concat(encodeSafetensors(tensors, {})), 'plain safetensors', 'not a fusedoptim checkpoint');
      const parsed = parseSafetensors(good);
      const rewrite = (metadata: Record<string, string>, extraTensors: [string, { data: Float64Array; shape: number[] }][] = []) =>
        Buffer.concat(
          encodeSafetensors(
            new Map([...[...parsed.tensors].map(([name, t]) => [name, { data: t.data, shape: t.shape }] as const), ...extraTensors]),
            metadata,
          ),
        );
      expectCorrupt(rewrite({ ...parsed.metadata, version: '2' }), 'version 2', 'format version 2');
      expectCorrupt(rewrite({ ...parsed.metadata, version: 'one' }), 'version "one"', 'version');
      expectCorrupt(rewrite({ ...parsed.metadata, progress: '{"epoch":1}' }), 'edited metadata', 'checksum');
      expectCorrupt(rewrite(parsed.metadata, [['stray', { data: new Float64Array(1), shape: [1] }]]), 'an extra tensor', 'checksum');
      const { checksum: _dropped, ...noChecksum } = parsed.metadata;
      expectCorrupt(rewrite(noChecksum), 'no checksum', 'checksum');
    });

    it('a missing file', () => {
      const target = live();
      expectError(() => loadCheckpoint(path.join(os.tmpdir(), 'no-such-fusedoptim-checkpoint'), target.targets), {
        type: RangeError,
        code: ErrorCodes.INVALID_ARG_VALUE,
        mentions: ['cannot read'],
      });
    });
  });

  // Issue 24: `tensor "optim.4.expAvgSq": data_offsets ... (truncated?)` left a user guessing which of a run's files it was.
  describe('every error about a checkpoint file names the file', () => {
    const src = trained();
    const good = bytesOfFile(encodeCheckpoint({ ...src, progress, history }));
    const file = tempFile('last.safetensors');
    const named = (what: string) => new RegExp(`^checkpoint ${JSON.stringify(file).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ${what}`);

    it('readCheckpoint and loadCheckpoint of a truncated, a damaged, a missing file; the code and class kept', () => {
      fs.writeFileSync(file, good.subarray(0, good.length - 5));
      const t = live();
      for (const read of [() => readCheckpoint(file), () => loadCheckpoint(file, t.targets)]) {
        expectError(read, { type: RangeError, code: ErrorCodes.CHECKPOINT_CORRUPT, mentions: [named('.*run past the end')] });
      }
      const flipped = Buffer.from(good);
      flipped[flipped.length - 1] ^= 1;
      fs.writeFileSync(file, flipped);
      expectError(() => loadCheckpoint(file, t.targets), { type: RangeError, code: ErrorCodes.CHECKPOINT_CORRUPT, mentions: [named('checksum mismatch')] });
      fs.rmSync(file);
      expectError(() => readCheckpoint(file), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: [named('cannot read it: ENOENT')] });
      t.expectUntouched('after the refused loads');
    });

    it('a sound file that does not fit, and a save of bad contents, name it too; bytes (no file) are named as before', () => {
      fs.writeFileSync(file, good);
      expectError(() => loadCheckpoint(file, { model: { params: [new Float64Array(3)] } }), {
        type: RangeError,
        code: ErrorCodes.CHECKPOINT_MISMATCH,
        mentions: [named('it has 2 params, the model 1')],
      });
      expectError(() => saveCheckpoint(file, { model: { params: [new Float64Array(3)], paramShapes: [[2]] } }), {
        type: RangeError,
        code: ErrorCodes.SHAPE_MISMATCH,
        mentions: [named('checkpoint.model.paramShapes\\[0\\]')],
      });
      expect(fs.readFileSync(file).equals(good), 'the refused save left the file').to.equal(true);
      expectError(() => readCheckpoint(good.subarray(0, 20)), { type: RangeError, code: ErrorCodes.CHECKPOINT_CORRUPT, mentions: [/^safetensors: /] });
    });
  });

  describe('sound files that do not fit: ERR_CHECKPOINT_MISMATCH, nothing changed', () => {
    const src = trained();
    const file = tempFile();
    saveCheckpoint(file, { ...src, progress, history });

    function expectMismatch(targets: Parameters<typeof loadCheckpoint>[1], what: string, mention: string, check: () => void = () => undefined): void {
      const before = targets.model.params.map((p) => p.slice());
      expectError(() => loadCheckpoint(file, targets), { type: RangeError, code: ErrorCodes.CHECKPOINT_MISMATCH, mentions: [mention] }, what);
      expectAllBitIdentical(targets.model.params as Float64Array[], before as Float64Array[], `${what}: params`);
      check();
    }

    it('a param of another shape, dtype or count', () => {
      const t = live();
      expectMismatch({ ...t.targets, model: { params: t.model.params, paramShapes: [[3, 1], [1]] } }, 'shape', 'shape [3]', () => t.expectUntouched('shape'));
      expectMismatch({ model: { params: [new Float32Array(3), new Float32Array(1)] } }, 'dtype', 'param.0 is F64');
      expectMismatch({ model: { params: [new Float64Array(3)] } }, 'count', 'it has 2 params, the model 1');
      expectMismatch({ model: { params: [new Float64Array(4), new Float64Array(1)] } }, 'length', 'param.0 has shape [3]');
    });

    it('another optimizer class, or optimizer hyper-parameters that do not fit', () => {
      const model = new LinearModel(4);
      const sgd = new SGD(model.params, { lr: 0.1 });
      const snap = snapshotOptimizer(sgd);
      expectMismatch({ model, optimizer: sgd }, 'SGD', 'state of a AdamW optimizer, not of a SGD', () => expectUnchanged(sgd, snap));
      const adam = new Adam(model.params, { lr: 0.1 });
      expectMismatch({ model, optimizer: adam }, 'Adam', 'not of a Adam');
      const twoGroups = new AdamW([{ params: [model.params[0]] }, { params: [model.params[1]] }], { lr: 0.1 });
      expectMismatch({ model, optimizer: twoGroups }, 'two groups', 'optimizer: AdamW: loadStateDict');
    });

    it('another scheduler class, or a scheduler state that does not fit: the optimizer is not loaded either', () => {
      const t = live();
      const cosine = new CosineAnnealingLR(t.optimizer, { TMax: 10 });
      const cosineState = JSON.stringify(cosine.stateDict());
      const snap = snapshotOptimizer(t.optimizer);
      expectMismatch({ model: t.model, optimizer: t.optimizer, scheduler: cosine }, 'class', 'WarmupCosineScheduler scheduler, not of a CosineAnnealingLR', () =>
        expectUnchanged(t.optimizer, snap),
      );
      expect(JSON.stringify(cosine.stateDict())).to.equal(cosineState);
    });

    it('a scheduler without checkStateDict that refuses the state: the optimizer is put back', () => {
      const t = live();
      const snap = snapshotOptimizer(t.optimizer);
      class WarmupCosineScheduler {
        stateDict() {
          return {};
        }
        loadStateDict() {
          throw Object.assign(new RangeError('nope'), { code: ErrorCodes.STATE_DICT_MISMATCH });
        }
      }
      expectMismatch({ model: t.model, optimizer: t.optimizer, scheduler: new WarmupCosineScheduler() }, 'refused', 'scheduler: nope', () =>
        expectUnchanged(t.optimizer, snap),
      );
    });

    it('classes are matched by the names they declare, not constructor.name (which a minifier renames)', () => {
      // What a minifier does: the same classes under other names.
      const MinifiedAdamW = class a extends AdamW {};
      const MinifiedScheduler = class b extends WarmupCosineScheduler {};
      const model = new LinearModel(1);
      const optimizer = new MinifiedAdamW(model.params, { lr: 0.1 });
      const scheduler = new MinifiedScheduler(optimizer, { warmupSteps: 2, totalSteps: 10 });
      expect([optimizer.constructor.name, optimizer.kind, scheduler.constructor.name, scheduler.kind]).to.deep.equal(['a', 'AdamW', 'b', 'WarmupCosineScheduler']);
      const file = tempFile();
      saveCheckpoint(file, { model, optimizer, scheduler });
      const ck = readCheckpoint(file);
      expect([ck.optimizer!.class, ck.scheduler!.class]).to.deep.equal(['AdamW', 'WarmupCosineScheduler']);
      const t = live();
      loadCheckpoint(file, t.targets); // into the unminified classes
      const back = new MinifiedScheduler(new MinifiedAdamW(new LinearModel(2).params, { lr: 0.1 }), { warmupSteps: 2, totalSteps: 10 });
      loadCheckpoint(file, { model: new LinearModel(3), optimizer: back.optimizer as AdamW, scheduler: back });
    });

    it('no optimizer or scheduler state in the file, but objects to load it into', () => {
      const weightsOnly = tempFile();
      saveCheckpoint(weightsOnly, { model: src.model });
      const t = live();
      expect(() => loadCheckpoint(weightsOnly, t.targets)).to.throw(RangeError, 'no optimizer state');
      t.expectUntouched('weights only');
    });
  });

  describe('optimizer state of any state dtype and length (BF16, U8, one scale per block, ...)', () => {
    type State = Record<number, Record<string, StateArray | number>>;

    /**
     * A model and an AdamW whose stateDict() is replaced by `state`: the checkpoint only reads
     * stateDict(), and readCheckpoint does not call loadStateDict, so the buffers need not fit
     * AdamW's own schema. (The js backend: nothing here needs the addon.)
     */
    function withState(state: State) {
      const model = { params: [Float64Array.from([0.25, -0.5, 1]), new Float64Array([2])], paramShapes: [[3, 1], [1, 1]], paramNames: ['weight', 'bias'] };
      const optimizer = new AdamW(model.params, { lr: 0.1, backend: 'js' });
      const sd = { state, paramGroups: optimizer.stateDict().paramGroups };
      optimizer.stateDict = () => sd as unknown as OptimizerStateDict;
      return { model, optimizer };
    }

    const state = (): State => ({
      0: {
        step: 3,
        muProduct: 0.875,
        expAvg: Uint16Array.from([0x3f80, 0xc040, 0x7fc1]), // bfloat16 1, -3, a NaN with a payload; the param's length
        scales: Uint8Array.from([0, 1, 127, 128, 255]), // another length
      },
      1: {
        step: 3,
        muProduct: -1.5e-7,
        expAvgSq: Uint8Array.from([7]), // the param's length, so the param's shape
        absmax: Float32Array.from([0.5, -0, NaN]),
        blocks: new Uint16Array(0),
      },
    });

    function expectSameBytes(actual: StateArray | number, expected: StateArray | number, label: string): void {
      if (typeof expected === 'number') {
        expect(actual, label).to.equal(expected);
        return;
      }
      const a = actual as StateArray;
      expect(a.constructor, `${label}: type`).to.equal(expected.constructor);
      expect(a.length, `${label}: length`).to.equal(expected.length);
      expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)), `${label}: bytes`).to.equal(true);
    }

    it('round-trips through saveCheckpoint and readCheckpoint with the same bits, dtypes, shapes and numbers', () => {
      const file = tempFile();
      const saved = state();
      saveCheckpoint(file, withState(saved));
      const ck = readCheckpoint(file);
      expect(ck.optimizer!.class).to.equal('AdamW');
      const read = ck.optimizer!.stateDict.state as unknown as State;
      expect(Object.keys(read)).to.deep.equal(['0', '1']);
      for (const i of [0, 1]) {
        expect(Object.keys(read[i]).sort(), `state[${i}] keys`).to.deep.equal(Object.keys(saved[i]).sort());
        for (const [key, value] of Object.entries(saved[i])) expectSameBytes(read[i][key], value, `state[${i}].${key}`);
      }
      const header = (name: string) => ({ dtype: ck.tensors.get(name)!.dtype, shape: ck.tensors.get(name)!.shape });
      expect(header('optim.0.expAvg')).to.deep.equal({ dtype: 'BF16', shape: [3, 1] });
      expect(header('optim.0.scales')).to.deep.equal({ dtype: 'U8', shape: [5] });
      expect(header('optim.1.expAvgSq')).to.deep.equal({ dtype: 'U8', shape: [1, 1] });
      expect(header('optim.1.absmax')).to.deep.equal({ dtype: 'F32', shape: [3] });
      expect(header('optim.1.blocks')).to.deep.equal({ dtype: 'BF16', shape: [0] });
      expect(JSON.parse(ck.metadata.optimizer).state).to.deep.equal({ 0: { step: 3, muProduct: 0.875 }, 1: { step: 3, muProduct: -1.5e-7 } });
      expect(ck.params.map((p) => p.dtype)).to.deep.equal(['F64', 'F64']);
    });

    it('hashes the real dtype names (BF16, U8) into the checksum', function () {
      if (os.endianness() !== 'LE') this.skip();
      const parsed = parseSafetensors(bytesOfFile(encodeCheckpoint(withState(state()))));
      expect(parsed.metadata.checksum).to.equal(checksumOf(parsed.tensors, parsed.metadata));
    });

    it('a flipped byte of such a file is still detected', () => {
      const good = bytesOfFile(encodeCheckpoint(withState(state())));
      const headerEnd = 8 + Number(good.readBigUInt64LE(0));
      expect(readCheckpoint(good).optimizer).not.to.equal(null);
      for (let i = 0; i < good.length; i++) {
        const bad = Buffer.from(good);
        bad[i] ^= 0x01;
        // In the data section only the checksum can tell; in the header any check may.
        const mentions = i >= headerEnd ? ['checksum'] : [];
        expectError(() => readCheckpoint(bad), { type: RangeError, code: ErrorCodes.CHECKPOINT_CORRUPT, mentions }, `byte ${i} ^ 0x01`);
      }
    });

    it('readCheckpoint leaves the buffers\' dtypes and lengths to the optimizer, but a param must be F32 or F64', function () {
      if (os.endianness() !== 'LE') this.skip();
      const parsed = parseSafetensors(bytesOfFile(encodeCheckpoint(withState(state()))));
      const rewrite = (replace: Record<string, TensorToWrite & { dtype: string }>) => {
        const tensors = new Map([...parsed.tensors].map(([name, t]) => [name, replace[name] ?? t] as const));
        const metadata = { ...parsed.metadata, checksum: checksumOf(tensors, parsed.metadata) };
        return bytesOfFile(encodeSafetensors(new Map([...tensors].map(([name, t]) => [name, { data: t.data, shape: t.shape }])), metadata));
      };
      // A state buffer of another dtype and length than before (and than its param): read as it is.
      const ck = readCheckpoint(rewrite({ 'optim.0.expAvg': { dtype: 'U8', data: Uint8Array.from([1, 2, 3, 4]), shape: [2, 2] } }));
      expectSameBytes((ck.optimizer!.stateDict.state as unknown as State)[0].expAvg, Uint8Array.from([1, 2, 3, 4]), 'optim.0.expAvg');
      // A param that is not F32 or F64: not a checkpoint of this library.
      expectError(() => readCheckpoint(rewrite({ 'param.1': { dtype: 'BF16', data: Uint16Array.from([0x3f80]), shape: [1, 1] } })), {
        type: RangeError,
        code: ErrorCodes.CHECKPOINT_CORRUPT,
        mentions: ['param.1 is BF16'],
      });
      expectError(() => readCheckpoint(rewrite({ 'param.0': { dtype: 'U8', data: Uint8Array.from([1, 2, 3]), shape: [3, 1] } })), {
        type: RangeError,
        code: ErrorCodes.CHECKPOINT_CORRUPT,
        mentions: ['param.0 is U8'],
      });
      // The other structural checks stand: a buffer of no param, a number that is also a tensor.
      const stray = new Map([...parsed.tensors, ['optim.2.expAvg', { dtype: 'U8', data: Uint8Array.from([1]), shape: [1] }]]);
      const strayMetadata = { ...parsed.metadata, checksum: checksumOf(stray, parsed.metadata) };
      expectError(() => readCheckpoint(bytesOfFile(encodeSafetensors(new Map([...stray].map(([n, t]) => [n, { data: t.data, shape: t.shape }])), strayMetadata))), {
        type: RangeError,
        code: ErrorCodes.CHECKPOINT_CORRUPT,
        mentions: ['"optim.2.expAvg" names no param'],
      });
      const both = new Map([...parsed.tensors, ['optim.0.muProduct', { dtype: 'BF16', data: Uint16Array.from([1]), shape: [1] }]]);
      const bothMetadata = { ...parsed.metadata, checksum: checksumOf(both, parsed.metadata) };
      expectError(() => readCheckpoint(bytesOfFile(encodeSafetensors(new Map([...both].map(([n, t]) => [n, { data: t.data, shape: t.shape }])), bothMetadata))), {
        type: RangeError,
        code: ErrorCodes.CHECKPOINT_CORRUPT,
        mentions: ['"muProduct" both as a number and as a tensor'],
      });
    });
  });

  describe("error feedback's residuals (data-parallel with compressed gradients)", () => {
    /** A float32 model, and two ranks' residuals of its params. */
    function withResiduals() {
      const model = { params: [Float32Array.from([0.25, -0.5, 1, 2, 3, 4]), Float32Array.from([2])], paramShapes: [[2, 3], [1]] };
      const residuals = [0, 1].map((r) => model.params.map((p, i) => Float32Array.from(p, (_, k) => (r + 1) * 2 ** -20 * (k - i))));
      residuals[1][0][1] = NaN; // kept as it is: a residual is data, not checked for finiteness
      return { model, errorFeedback: { compression: 'bf16' as const, residuals } };
    }

    it('round trip: every rank\'s residual of every param, F32 in the param\'s shape, with the format and the rank count', () => {
      const { model, errorFeedback } = withResiduals();
      const file = tempFile();
      saveCheckpoint(file, { model, errorFeedback });
      const parsed = parseSafetensors(fs.readFileSync(file));
      expect([...parsed.tensors.keys()].sort()).to.deep.equal(['param.0', 'param.1', 'residual.0.0', 'residual.0.1', 'residual.1.0', 'residual.1.1']);
      expect(parsed.tensors.get('residual.1.0')!.shape).to.deep.equal([2, 3]);
      expect(parsed.tensors.get('residual.1.0')!.dtype).to.equal('F32');
      expect(JSON.parse(parsed.metadata.errorFeedback)).to.deep.equal({ compression: 'bf16', ranks: 2 });
      const ck = loadCheckpoint(file, { model: { params: model.params.map((p) => new Float32Array(p.length)) } });
      expect(ck.errorFeedback!.compression).to.equal('bf16');
      ck.errorFeedback!.residuals.forEach((list, r) => expectAllBitIdentical(list as Float32Array[], errorFeedback.residuals[r], `rank ${r}`));
      // Without them, nothing of theirs is written or read.
      expect(readCheckpoint(bytesOfFile(encodeCheckpoint({ model }))).errorFeedback).to.equal(null);
    });

    it('a save of residuals that do not fit the params is refused, with codes, and writes nothing', () => {
      const { model, errorFeedback } = withResiduals();
      const file = tempFile();
      const [r0, r1] = errorFeedback.residuals;
      const refused = (residuals: unknown, compression: unknown, type: typeof TypeError | typeof RangeError, code: string, mention: string) =>
        expectError(() => saveCheckpoint(file, { model, errorFeedback: { compression, residuals } as never }), { type, code, mentions: [mention] }, mention);
      refused([r0, r1], 'int8', RangeError, ErrorCodes.INVALID_ARG_VALUE, 'checkpoint.errorFeedback.compression');
      refused([], 'bf16', TypeError, ErrorCodes.INVALID_ARG_TYPE, 'checkpoint.errorFeedback.residuals');
      refused([r0, [r1[0]]], 'fp16', RangeError, ErrorCodes.SHAPE_MISMATCH, 'checkpoint.errorFeedback.residuals[1]');
      refused([r0, [r1[0], new Float64Array(1)]], 'fp16', TypeError, ErrorCodes.DTYPE_MISMATCH, 'checkpoint.errorFeedback.residuals[1][1]');
      refused([[r0[0], new Float32Array(2)], r1], 'fp16', RangeError, ErrorCodes.SHAPE_MISMATCH, 'checkpoint.errorFeedback.residuals[0][1]');
      expect(fs.existsSync(file)).to.equal(false);
    });

    it('a file whose residuals are missing, stray, of another dtype or length, or whose metadata is bad: ERR_CHECKPOINT_CORRUPT', function () {
      if (os.endianness() !== 'LE') this.skip();
      const { model, errorFeedback } = withResiduals();
      const parsed = parseSafetensors(bytesOfFile(encodeCheckpoint({ model, errorFeedback })));
      const forged = (change: (tensors: Map<string, TensorToWrite & { dtype: string }>) => void, metadata: Record<string, string> = {}) => {
        const tensors = new Map<string, TensorToWrite & { dtype: string }>([...parsed.tensors].map(([name, t]) => [name, { ...t }] as const));
        change(tensors);
        const meta = { ...parsed.metadata, ...metadata };
        meta.checksum = checksumOf(tensors, meta);
        return bytesOfFile(encodeSafetensors(new Map([...tensors].map(([name, t]) => [name, { data: t.data, shape: t.shape }])), meta));
      };
      const corrupt = (bytes: Buffer, mention: string) => expectError(() => readCheckpoint(bytes), { type: RangeError, code: ErrorCodes.CHECKPOINT_CORRUPT, mentions: [mention] }, mention);
      corrupt(forged((t) => t.delete('residual.1.1')), 'no tensor residual.1.1');
      corrupt(forged((t) => t.set('residual.2.0', { ...t.get('residual.1.0')! })), 'unexpected tensor "residual.2.0"');
      corrupt(forged((t) => t.set('residual.0.1', { dtype: 'F64', data: new Float64Array(1), shape: [1] })), 'residual.0.1 is F64');
      corrupt(forged((t) => t.set('residual.0.1', { dtype: 'F32', data: new Float32Array(2), shape: [2] })), 'expected F32 of 1');
      corrupt(forged(() => undefined, { errorFeedback: '{"compression":"int8","ranks":2}' }), 'errorFeedback.compression');
      corrupt(forged(() => undefined, { errorFeedback: '{"compression":"fp16","ranks":0}' }), 'errorFeedback.ranks');
      // Residuals without their metadata entry are stray tensors.
      const { errorFeedback: _dropped, ...noEntry } = parsed.metadata;
      const tensors = new Map([...parsed.tensors]);
      const bare = bytesOfFile(encodeSafetensors(new Map([...tensors].map(([name, t]) => [name, { data: t.data, shape: t.shape }])), { ...noEntry, checksum: checksumOf(tensors, noEntry) }));
      corrupt(bare, 'unexpected tensor "residual.0.0"');
    });
  });

  it('readCheckpoint checks without loading; bad arguments are TypeErrors', () => {
    const src = trained();
    const file = tempFile();
    saveCheckpoint(file, { ...src, progress, history });
    const ck = readCheckpoint(file);
    expect(ck.params.map((p) => p.shape)).to.deep.equal([[3], [1]]);
    expect(ck.optimizer!.class).to.equal('AdamW');
    expectError(() => saveCheckpoint(file, { model: { params: [new Float64Array(2), 'x' as never] } }), {
      type: TypeError,
      code: ErrorCodes.INVALID_ARG_TYPE,
      mentions: ['checkpoint.model.params[1]'],
    });
    expectError(() => loadCheckpoint(file, { model: src.model, optimizer: {} as never }), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['targets.optimizer'] });
  });
});
