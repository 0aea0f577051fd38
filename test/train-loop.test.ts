/**
 * The training loop (lib/train/loop.ts) on a tiny float64 least-squares model: the shape of the
 * history, the lr schedule it follows, gradient accumulation, non-finite steps, stopping (maxSteps,
 * callbacks, AbortSignal), async steps, and argument checks.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AdamW, SGD } from '../lib';
import { ErrorCodes } from '../lib/errors';
import { StepLR } from '../lib/schedulers';
import { readCheckpoint } from '../lib/train/checkpoint';
import { train } from '../lib/train/loop';
import { expectAllBitIdentical } from './helpers/bits';
import { expectFailure } from './helpers/errors';
import { LinearModel, RegressionBatch, batchesOf, epochData, regressionData } from './helpers/tiny-model';

const data = regressionData(48, 7);
const valBatch = regressionData(16, 8);
const quiet = { quiet: true } as const;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-loop-'));
}

describe('train(): the training loop', () => {
  it('logs loss, lr and grad norm per step and train/validation loss per epoch', async () => {
    const model = new LinearModel();
    const opt = new SGD(model.params, { lr: 0.05 });
    const result = await train(model, batchesOf(data, 8), [valBatch], { ...quiet, optimizer: opt, scheduler: null, epochs: 3 });
    const h = result.history;
    expect(result.stopReason).to.equal('completed');
    expect(h.trainLoss).to.have.length(18);
    expect(h.learningRate).to.deep.equal(new Array(18).fill(0.05));
    expect(h.gradNorm).to.have.length(18);
    expect(h.gradNorm.every((g) => g > 0 && Number.isFinite(g))).to.equal(true);
    expect(h.epochTrainLoss).to.have.length(3);
    expect(h.valLoss).to.have.length(3);
    expect(h.epochEndStep).to.deep.equal([6, 12, 18]);
    expect(h.skippedSteps).to.deep.equal([]);
    // The epoch's train loss is the mean of its step losses; validation is the model's forward.
    const mean = h.trainLoss.slice(6, 12).reduce((a, b) => a + b, 0) / 6;
    expect(h.epochTrainLoss[1]).to.equal(mean);
    expect(h.valLoss[2]).to.equal(model.forward(valBatch));
    expect(h.valLoss[2]).to.be.below(h.valLoss[0]);
    expect(result.bestValLoss).to.equal(Math.min(...h.valLoss));
    expect(model.evalCalls).to.equal(3);
    expect(model.trainCalls).to.be.at.least(3);
  });

  it('steps the params exactly as optimizer.step on the same batches would', async () => {
    const model = new LinearModel();
    await train(model, batchesOf(data, 8), null, { ...quiet, optimizer: new SGD(model.params, { lr: 0.05, momentum: 0.9 }), scheduler: null, maxGradNorm: Infinity });
    const manual = new LinearModel();
    const opt = new SGD(manual.params, { lr: 0.05, momentum: 0.9 });
    for (const batch of batchesOf(data, 8)) opt.step(manual.forwardBackward(batch).grads);
    expectAllBitIdentical(model.params, manual.params, 'params');
  });

  it('defaults to AdamW + warmup-cosine and follows the schedule step by step', async () => {
    const model = new LinearModel();
    const result = await train(model, batchesOf(data, 8), [valBatch], { ...quiet, epochs: 2, peakLr: 0.1, warmupSteps: 3, minLr: 0.01 });
    expect(result.optimizer).to.be.instanceOf(AdamW);
    expect(result.optimizer.paramGroups[0].weightDecay).to.equal(0.01);
    // totalSteps defaults to epochs × steps per epoch = 12; the lr of step s is the schedule at s - 1.
    const expected = Array.from({ length: 12 }, (_, s) =>
      s < 3 ? (0.1 * s) / 3 : 0.01 + 0.5 * (0.1 - 0.01) * (1 + Math.cos((Math.PI * (s - 3)) / (12 - 3))),
    );
    result.history.learningRate.forEach((lr, s) => expect(lr, `lr of step ${s + 1}`).to.be.closeTo(expected[s], 1e-15));
  });

  it('uses any scheduler instance, stepped once per optimizer step', async () => {
    const model = new LinearModel();
    const opt = new SGD(model.params, { lr: 0.1 });
    const result = await train(model, batchesOf(data, 8), null, { ...quiet, optimizer: opt, scheduler: new StepLR(opt, { stepSize: 4, gamma: 0.5 }) });
    expect(result.history.learningRate).to.deep.equal([0.1, 0.1, 0.1, 0.1, 0.05, 0.05]);
    expect(opt.lr).to.equal(0.05); // after 6 steps: one decay
  });

  describe('gradient accumulation', () => {
    for (const make of [
      (p: Float64Array[]) => new SGD(p, { lr: 0.05, momentum: 0.9 }),
      (p: Float64Array[]) => new AdamW(p, { lr: 0.05 }),
    ]) {
      it(`k micro-batches of b equal one batch of k·b in float64 (${make([new Float64Array(1)]).constructor.name}, with clipping)`, async () => {
        const k = 4;
        const b = 3;
        const big = new LinearModel();
        const micro = new LinearModel();
        const run = (model: LinearModel, batchSize: number, accumulationSteps: number) =>
          train(model, batchesOf(data, batchSize), [valBatch], {
            ...quiet,
            optimizer: make(model.params),
            scheduler: null,
            maxGradNorm: 0.5,
            accumulationSteps,
            epochs: 3,
          });
        const a = await run(big, k * b, 1);
        const m = await run(micro, b, k);
        expect(m.history.trainLoss).to.have.length(a.history.trainLoss.length);
        m.history.trainLoss.forEach((loss, i) => expect(Math.abs(loss - a.history.trainLoss[i])).to.be.below(1e-12 * Math.abs(a.history.trainLoss[i])));
        m.history.gradNorm.forEach((g, i) => expect(Math.abs(g - a.history.gradNorm[i])).to.be.below(1e-12 * a.history.gradNorm[i]));
        micro.params.forEach((p, i) => p.forEach((v, j) => expect(Math.abs(v - big.params[i][j]), `params[${i}][${j}]`).to.be.below(1e-12)));
      });
    }

    it('a last partial group of micro-batches still makes a step, averaged over its size', async () => {
      const model = new LinearModel();
      const batches = batchesOf(data, 8); // 6 micro-batches: groups of 4 and 2
      const result = await train(model, batches, null, { ...quiet, optimizer: new SGD(model.params, { lr: 0.1 }), scheduler: null, accumulationSteps: 4, maxGradNorm: Infinity });
      expect(result.history.trainLoss).to.have.length(2);
      const manual = new LinearModel();
      const opt = new SGD(manual.params, { lr: 0.1 });
      const acc = [new Float64Array(3), new Float64Array(1)];
      for (const group of [batches.slice(0, 4), batches.slice(4)]) {
        acc.forEach((a) => a.fill(0));
        for (const batch of group) manual.forwardBackward(batch).grads.forEach((g, i) => g.forEach((v, j) => (acc[i][j] += v)));
        opt.step(acc, { gradScale: 1 / group.length });
      }
      expectAllBitIdentical(model.params, manual.params, 'params');
    });
  });

  it('skips a step whose gradients are non-finite, counts it, and leaves the weights untouched', async () => {
    const model = new LinearModel();
    model.poisonCalls = new Set([2]);
    const snapshots: Float64Array[][] = [];
    const result = await train(model, batchesOf(data, 8), [valBatch], {
      ...quiet,
      optimizer: new SGD(model.params, { lr: 0.05 }),
      scheduler: null,
      onStep: () => void snapshots.push(model.params.map((p) => p.slice())),
    });
    const h = result.history;
    expect(h.skippedSteps).to.deep.equal([3]);
    expect(h.trainLoss[2]).to.be.NaN;
    expect(h.gradNorm[2]).to.be.NaN;
    expectAllBitIdentical(snapshots[2], snapshots[1], 'params after the skipped step');
    expect(model.params.every((p) => p.every(Number.isFinite))).to.equal(true);
    // The epoch's mean leaves the skipped step out.
    const finite = h.trainLoss.filter(Number.isFinite);
    expect(h.epochTrainLoss[0]).to.equal(finite.reduce((a, b) => a + b, 0) / finite.length);
  });

  describe('stopping', () => {
    it('maxSteps stops mid-epoch', async () => {
      const model = new LinearModel();
      const result = await train(model, batchesOf(data, 8), [valBatch], { ...quiet, epochs: 5, maxSteps: 9, peakLr: 0.1 });
      expect(result.stopReason).to.equal('maxSteps');
      expect(result.history.trainLoss).to.have.length(9);
      expect(result.history.valLoss).to.have.length(1);
      expect(result.progress).to.include({ epoch: 1, batchInEpoch: 3, globalStep: 9 });
    });

    it("onStep returning false or 'stop' stops after that step; onEpoch too", async () => {
      for (const verdict of [false, 'stop'] as const) {
        const model = new LinearModel();
        const result = await train(model, batchesOf(data, 8), null, { ...quiet, epochs: 3, peakLr: 0.1, onStep: (s) => (s.globalStep === 4 ? verdict : undefined) });
        expect(result.stopReason).to.equal('callback');
        expect(result.history.trainLoss).to.have.length(4);
      }
      const epochs: number[] = [];
      const model = new LinearModel();
      const result = await train(model, batchesOf(data, 8), [valBatch], {
        ...quiet,
        epochs: 4,
        peakLr: 0.1,
        onEpoch: async (e) => {
          epochs.push(e.epoch);
          expect(e.history.valLoss).to.have.length(e.epoch + 1);
          return e.epoch === 1 ? false : true;
        },
      });
      expect(epochs).to.deep.equal([0, 1]);
      expect(result.stopReason).to.equal('callback');
      expect(result.history.valLoss).to.have.length(2);
    });

    it('an AbortSignal stops after the current step and writes the last checkpoint', async () => {
      const dir = tempDir();
      const last = path.join(dir, 'last.safetensors');
      const controller = new AbortController();
      const model = new LinearModel();
      const result = await train(model, batchesOf(data, 8), [valBatch], {
        ...quiet,
        epochs: 3,
        peakLr: 0.1,
        lastCheckpointPath: last,
        signal: controller.signal,
        onStep: (s) => void (s.globalStep === 7 && controller.abort()),
      });
      expect(result.stopReason).to.equal('aborted');
      expect(result.history.trainLoss).to.have.length(7);
      const ck = readCheckpoint(last);
      expect(ck.progress).to.include({ globalStep: 7, epoch: 1, batchInEpoch: 1 });
      expectAllBitIdentical(ck.params.map((p) => p.data), model.params, 'checkpointed params');
    });

    it('an abort from a timer is seen even with synchronous steps (the loop yields to the event loop)', async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 30);
      const model = new LinearModel();
      const result = await train(model, batchesOf(data, 8), null, { ...quiet, epochs: 1_000_000, peakLr: 0.01, signal: controller.signal });
      expect(result.stopReason).to.equal('aborted');
      expect(result.history.trainLoss.length).to.be.above(0).and.below(6_000_000);
    });

    it('an already-aborted signal trains nothing', async () => {
      const model = new LinearModel();
      const before = model.params.map((p) => p.slice());
      const result = await train(model, batchesOf(data, 8), null, { ...quiet, peakLr: 0.1, signal: AbortSignal.abort() });
      expect(result.stopReason).to.equal('aborted');
      expectAllBitIdentical(model.params, before, 'params');
    });
  });

  it('async steps, async data and async models give bit-identical results', async () => {
    const sync = new LinearModel();
    const a = await train(sync, epochData(data, 8), [valBatch], { ...quiet, epochs: 3, peakLr: 0.1, stepsPerEpoch: 6 });
    const asyncModel = new LinearModel();
    const wrapped = {
      params: asyncModel.params,
      forwardBackward: async (batch: RegressionBatch) => asyncModel.forwardBackward(batch),
      forward: async (batch: RegressionBatch) => asyncModel.forward(batch),
    };
    async function* epochBatches(epoch: number) {
      for (const batch of epochData(data, 8)(epoch)) {
        await new Promise((resolve) => setImmediate(resolve));
        yield batch;
      }
    }
    const b = await train(wrapped, epochBatches, [valBatch], { ...quiet, epochs: 3, peakLr: 0.1, async: true, stepsPerEpoch: 6 });
    expectAllBitIdentical(asyncModel.params, sync.params, 'params');
    expect(b.history).to.deep.equal(a.history);
  });

  it('extra validation metrics go into the history per epoch', async () => {
    const model = new LinearModel();
    const result = await train(model, batchesOf(data, 8), [valBatch], {
      ...quiet,
      epochs: 2,
      peakLr: 0.1,
      evaluate: (m, epoch) => ({ bias: m.params[1][0], epoch }),
    });
    expect(result.history.valMetrics.epoch).to.deep.equal([0, 1]);
    expect(result.history.valMetrics.bias[1]).to.equal(model.params[1][0]);
  });

  it('progress: log lines every logEvery steps and an epoch summary; nothing when quiet', async () => {
    const lines: string[] = [];
    const output = Object.assign(new (require('stream').Writable)({ write: (chunk: Buffer, _e: string, cb: () => void) => (lines.push(chunk.toString()), cb()) }), { isTTY: false });
    await train(new LinearModel(), batchesOf(data, 8), [valBatch], { epochs: 2, peakLr: 0.1, logEvery: 4, output });
    const text = lines.join('');
    expect(text.match(/^step \d+ \| epoch \d\/2 \| loss [^|]+\| lr [^|]+\| grad norm [^|]+\| [\d.]+ steps\/s$/gm)).to.have.length(3);
    expect(text.match(/^epoch \d\/2 \| train loss \S+ \| val loss \S+/gm)).to.have.length(2);
    lines.length = 0;
    await train(new LinearModel(), batchesOf(data, 8), [valBatch], { epochs: 2, peakLr: 0.1, quiet: true, output });
    expect(lines).to.deep.equal([]);
  });

  describe('argument checks (nothing is trained when they fail)', () => {
    const model = new LinearModel();
    const cases: Array<[string, () => Promise<unknown>, typeof TypeError | typeof RangeError, string, string]> = [
      ['unknown config key', () => train(model, [], null, { epoch: 2 } as never), RangeError, ErrorCodes.INVALID_ARG_VALUE, 'unknown option "epoch"'],
      ['epochs 0', () => train(model, [], null, { epochs: 0 }), RangeError, ErrorCodes.OUT_OF_RANGE, 'config.epochs'],
      ['checkpointEvery alone', () => train(model, [], null, { checkpointEvery: 5, totalSteps: 5 }), RangeError, ErrorCodes.INVALID_ARG_VALUE, 'lastCheckpointPath'],
      ['peakLr with an optimizer', () => train(model, [], null, { optimizer: new SGD(model.params, { lr: 1 }), peakLr: 1 }), RangeError, ErrorCodes.INVALID_ARG_VALUE, 'config.peakLr'],
      ['an optimizer over other params', () => train(model, [], null, { optimizer: new SGD([new Float64Array(3)], { lr: 1 }) }), RangeError, ErrorCodes.INVALID_ARG_VALUE, 'model.params'],
      ['no length for the default schedule', () => train(model, () => [], null, {}), RangeError, ErrorCodes.INVALID_ARG_VALUE, 'totalSteps'],
      ['data that is not iterable', () => train(model, 42 as never, null, {}), TypeError, ErrorCodes.INVALID_ARG_TYPE, 'trainData'],
      ['a model without forward', () => train({ params: model.params, forwardBackward: model.forwardBackward } as never, [], null), TypeError, ErrorCodes.INVALID_ARG_TYPE, 'model.forward'],
    ];
    for (const [what, call, type, code, mention] of cases) {
      it(what, async () => {
        const before = model.params.map((p) => p.slice());
        await expectFailure(call, { type, code, mentions: [mention] });
        expectAllBitIdentical(model.params, before, 'params');
      });
    }

    it('grads of the wrong count from the model', async () => {
      const bad = { params: model.params, forwardBackward: () => ({ loss: 1, grads: [model.grads[0]] }), forward: () => 1 };
      await expectFailure(() => train(bad, batchesOf(data, 8), null, { ...quiet, peakLr: 0.1 }), {
        type: RangeError,
        code: ErrorCodes.SHAPE_MISMATCH,
        mentions: ['forwardBackward (epoch 0, batch 0)', 'expected 2 gradients'],
      });
    });

    it('invalid arguments reject the promise (train never throws synchronously)', async () => {
      let promise: Promise<unknown> | undefined;
      expect(() => (promise = train(model, [], null, { epochs: -1 }))).not.to.throw();
      await expectFailure(() => promise, { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['config.epochs'] });
    });
  });
});
