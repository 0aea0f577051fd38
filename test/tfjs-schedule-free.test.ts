/**
 * Schedule-Free through fusedoptim/tfjs (issue 21): model.fit with
 * AdamWScheduleFree and trainOnBatch with SGDScheduleFree give, bit for bit,
 * what the plain fusedoptim API computes from the same gradients; eval()
 * puts the average x into the variables, so model.evaluate sees it, and
 * train() brings y back; the groups' values (k, weightSum, ..., trainMode)
 * travel with getWeights / setWeights and model.save / loadLayersModel, so a
 * run resumed in either mode continues exactly as the uninterrupted one. On
 * the CPU and WASM backends and on the copying path. Skipped (with a
 * message) when TensorFlow.js is not installed.
 */
import { expect } from 'chai';
import { AdamW, AdamWScheduleFree, ErrorCodes, SGDScheduleFree } from '../lib';
import type { AdamWScheduleFreeOptions, SGDScheduleFreeOptions } from '../lib';
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as TfLayers from '@tensorflow/tfjs-layers';
import type { FusedOptimizer } from '../lib/tfjs';
import { expectBitIdentical } from './helpers/bits';
import { expectError, expectFailure } from './helpers/errors';
import { Tfjs, loadFromMemory, onEachTfjsBackend, recordGradients, saveToMemory, smallData, smallModel, snapshot } from './helpers/tfjs';

type Model = TfLayers.LayersModel;
type ScheduleFree = AdamWScheduleFree | SGDScheduleFree;
type Steps = Map<string, Float32Array>[];

const ADAMW: Partial<AdamWScheduleFreeOptions> = { lr: 0.02, betas: [0.9, 0.99], weightDecay: 0.01, warmupSteps: 3 };
const SGD_OPTIONS: Partial<SGDScheduleFreeOptions> = { lr: 0.05, momentum: 0.8, r: 1 };
const GROUP_VALUES = ['k', 'lrMax', 'weightSum', 'scheduledLr', 'trainMode'];

/** The plain fusedoptim run: the recorded gradients stepped directly on copies of the initial weights, params in the bridge's order. */
class Reference {
  readonly params: Float32Array[];
  readonly opt: ScheduleFree;

  constructor(
    Class: typeof AdamWScheduleFree | typeof SGDScheduleFree,
    options: object,
    initial: Map<string, Float32Array>,
    readonly names: readonly string[],
  ) {
    this.params = names.map((n) => initial.get(n)!.slice());
    this.opt = new Class(this.params, options);
    this.opt.train();
  }

  steps(steps: Steps): void {
    for (const grads of steps) this.opt.step(this.names.map((n) => grads.get(n) ?? null));
  }

  valueOf(name: string): Float32Array {
    return this.params[this.names.indexOf(name)];
  }

  /** The model's trainable weights are the reference's params, bit for bit; so are the state and the groups' values. */
  expectSame(model: Model, fused: FusedOptimizer, label: string): void {
    const actual = snapshot(model);
    expect([...actual.keys()].sort()).to.deep.equal([...this.names].sort());
    for (const name of this.names) expectBitIdentical(actual.get(name)!, this.valueOf(name), `${label}: ${name}`);
    const inner = fused.optimizer!;
    this.names.forEach((_, i) => {
      for (const [key, value] of Object.entries(this.opt.state[i])) {
        if (typeof value === 'number') expect(inner.state[i][key], `${label}: ${key} of param ${i}`).to.equal(value);
        else expectBitIdentical(inner.state[i][key] as Float32Array, value as Float32Array, `${label}: ${key} of param ${i}`);
      }
    });
    const groupsOf = (opt: { paramGroups: readonly object[] }) =>
      opt.paramGroups.map((g) => GROUP_VALUES.map((key) => (g as Record<string, unknown>)[key]));
    // deep.equal compares numbers with Object.is semantics (SameValueZero), so the doubles agree exactly.
    expect(groupsOf(inner), `${label}: the groups' values`).to.deep.equal(groupsOf(this.opt));
    expect(fused.training, `${label}: mode`).to.equal(this.opt.training);
  }
}

/** `model`'s weights (all of them, in order) replaced by the reference's params, in a fresh model of the same shape. */
function twinWith(t: Tfjs, model: Model, ref: Reference): Model {
  const twin = smallModel(t, 999);
  twin.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const values = model.weights.map((w) => t.tf.tensor(ref.valueOf(w.name).slice(), w.shape as number[]));
  twin.setWeights(values);
  t.tf.dispose(values);
  return twin;
}

/** model.evaluate's loss, as a number. */
function lossOf(t: Tfjs, model: Model, x: TfCore.Tensor, y: TfCore.Tensor): number {
  const loss = model.evaluate(x, y, { batchSize: 64 }) as TfCore.Scalar;
  const value = loss.dataSync()[0];
  loss.dispose();
  return value;
}

describe('fusedoptim/tfjs: Schedule-Free', function () {
  this.timeout(120_000);
  let t: Tfjs;
  onEachTfjsBackend((loaded) => (t = loaded), (_backend, path) => {
    it('model.fit with AdamWScheduleFree equals fusedoptim on the same gradients; eval() puts x in the variables for model.evaluate, train() brings y back', async () => {
      const { tf, fused } = t;
      const model = smallModel(t, 81);
      const opt = fused.adamWScheduleFree(ADAMW);
      expect(opt.training).to.equal(true);
      model.compile({ optimizer: opt, loss: 'meanSquaredError' });
      const initial = snapshot(model);
      const steps = recordGradients(opt);
      const { x, y } = smallData(t);
      await model.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0 });
      expect(steps).to.have.length(6);
      const ref = new Reference(AdamWScheduleFree, ADAMW, initial, opt.variableNames);
      ref.steps(steps);
      ref.expectSame(model, opt, 'after model.fit');
      expect(opt.optimizer!.paramGroups[0]).to.include({ k: 6, trainMode: true });
      expect(new Set(Object.values(opt.writePaths()))).to.deep.equal(new Set([path]));

      // eval(): the variables hold x, and model.evaluate computes with it. A clone taken before keeps y.
      const lossAtY = lossOf(t, model, x, y);
      const kernel = model.trainableWeights[0];
      const clone = tf.clone(kernel.read());
      const yValues = (kernel.read().dataSync() as Float32Array).slice();
      opt.eval();
      ref.opt.eval();
      ref.expectSame(model, opt, 'after eval()');
      expect(opt.training).to.equal(false);
      expectBitIdentical(clone.dataSync() as Float32Array, yValues, 'a clone taken before eval()');
      const twin = twinWith(t, model, ref);
      const lossAtX = lossOf(t, model, x, y);
      expect(lossAtX).to.equal(lossOf(t, twin, x, y));
      expect(lossAtX).to.not.equal(lossAtY);
      opt.eval(); // already there: nothing moves
      ref.expectSame(model, opt, 'after a second eval()');

      // train(): y again, and training continues as the plain run does after the same round trip.
      opt.train();
      ref.opt.train();
      ref.expectSame(model, opt, 'after train()');
      const more = recordGradients(opt);
      await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
      ref.steps(more);
      ref.expectSame(model, opt, 'after model.fit again');
      tf.dispose([x, y, clone]);
      model.dispose();
      twin.dispose();
    });

    it('trainOnBatch with SGDScheduleFree (fused.sgdScheduleFree) equals fusedoptim; a step in eval mode is refused, changing nothing', async () => {
      const { tf, fused } = t;
      const model = smallModel(t, 83);
      const opt = fused.sgdScheduleFree(SGD_OPTIONS);
      model.compile({ optimizer: opt, loss: 'meanSquaredError' });
      const initial = snapshot(model);
      const steps = recordGradients(opt);
      const { x, y } = smallData(t, 8, 3);
      for (let i = 0; i < 3; i++) await model.trainOnBatch(x, y);
      const ref = new Reference(SGDScheduleFree, SGD_OPTIONS, initial, opt.variableNames);
      ref.steps(steps);
      ref.expectSame(model, opt, 'trainOnBatch');

      opt.eval();
      ref.opt.eval();
      const before = snapshot(model);
      await expectFailure(() => model.trainOnBatch(x, y), { type: RangeError, code: ErrorCodes.NOT_IN_TRAIN_MODE, mentions: ['eval mode', 'train()'] });
      for (const [name, values] of before) expectBitIdentical(snapshot(model).get(name)!, values, `${name} after the refused step`);
      expect(opt.iterations).to.equal(3);
      ref.expectSame(model, opt, 'after the refused step');
      opt.train();
      ref.opt.train();
      await model.trainOnBatch(x, y);
      // (steps[3] is the refused step's, taken at x.)
      ref.steps(steps.slice(4));
      ref.expectSame(model, opt, 'after train() and a step');
      tf.dispose([x, y]);
      model.dispose();
    });

    describe('save and load mid-run continue exactly as the uninterrupted run', () => {
      const fit = (model: Model, epochs: number) => {
        const { x, y } = smallData(t, 24, 17);
        // shuffle: false, so every run sees the same batches.
        return model.fit(x, y, { epochs, batchSize: 8, shuffle: false, verbose: 0 }).finally(() => t.tf.dispose([x, y]));
      };
      const trained = async (): Promise<Model> => {
        const model = smallModel(t, 85);
        model.compile({ optimizer: t.fused.adamWScheduleFree(ADAMW), loss: 'meanSquaredError' });
        await fit(model, 1);
        return model;
      };
      const fusedOf = (model: Model) => model.optimizer as unknown as FusedOptimizer;
      const weightsOf = (model: Model) => model.getWeights().map((w) => (w.dataSync() as Float32Array).slice());
      const expectWeights = (model: Model, expected: Float32Array[], label: string) =>
        model.getWeights().forEach((w, i) => expectBitIdentical(w.dataSync() as Float32Array, expected[i], `${label}: weight ${i}`));
      const save = (model: Model) => saveToMemory(t, model);
      const load = (artifacts: TfCore.io.ModelArtifacts) => loadFromMemory(t, artifacts);

      /** 1 + 2 epochs without a break; and with eval() and train() after the first. */
      let uninterrupted: Float32Array[];
      let roundTrip: Float32Array[];
      beforeEach(async () => {
        if (uninterrupted !== undefined) return;
        const a = await trained();
        await fit(a, 2);
        uninterrupted = weightsOf(a);
        const b = await trained();
        fusedOf(b).eval();
        fusedOf(b).train();
        await fit(b, 2);
        roundTrip = weightsOf(b);
        a.dispose();
        b.dispose();
      });

      it('getWeights holds every group value exactly (a number as its float64 bits, trainMode as a bool); setWeights into a fresh optimizer continues bit for bit', async () => {
        const { tf, fused } = t;
        const source = await trained();
        const opt = fusedOf(source);
        const weights = await opt.getWeights();
        const names = weights.map((w) => w.name);
        expect(names.slice(0, 6)).to.deep.equal(['iter', ...GROUP_VALUES.map((v) => `paramGroups[0]/${v}`)]);
        // iter, 5 group values, and z, expAvgSq and step of each of the 4 variables.
        expect(weights).to.have.length(18);
        const group = opt.optimizer!.paramGroups[0] as unknown as Record<string, number | boolean>;
        for (const w of weights.filter((w) => w.name.startsWith('paramGroups[0]/'))) {
          const value = group[w.name.slice('paramGroups[0]/'.length)];
          if (typeof value === 'boolean') {
            expect([w.tensor.dtype, w.tensor.shape, Array.from(w.tensor.dataSync())], w.name).to.deep.equal(['bool', [], [value ? 1 : 0]]);
          } else {
            expect([w.tensor.dtype, w.tensor.shape], w.name).to.deep.equal(['int32', [2]]);
            expect(Array.from(w.tensor.dataSync()), w.name).to.deep.equal(Array.from(new Int32Array(Float64Array.of(value).buffer)));
          }
        }
        // weightSum is not a float32: a float32 tensor would have rounded it.
        expect(Math.fround(group.weightSum as number)).to.not.equal(group.weightSum);

        const twin = smallModel(t, 86);
        twin.setWeights(source.getWeights());
        const twinOpt = fused.adamWScheduleFree(ADAMW);
        twin.compile({ optimizer: twinOpt, loss: 'meanSquaredError' });
        await twinOpt.setWeights(weights);
        // Before its first step, getWeights gives the state back as it came.
        const back = await twinOpt.getWeights();
        expect(back.map((w) => [w.name, w.tensor.dtype, w.tensor.shape, Array.from(w.tensor.dataSync())])).to.deep.equal(
          weights.map((w) => [w.name, w.tensor.dtype, w.tensor.shape, Array.from(w.tensor.dataSync())]),
        );
        await fit(twin, 2);
        expectWeights(twin, uninterrupted, 'setWeights, then fit');
        tf.dispose([...weights, ...back].map((w) => w.tensor));
        source.dispose();
        twin.dispose();
      });

      it('model.save in train mode → loadLayersModel → fit; or → eval(variables): the model holds x before any step', async () => {
        const source = await trained();
        const artifacts = await save(source);
        const loaded = await load(artifacts);
        expect(fusedOf(loaded).optimizerClass).to.equal(AdamWScheduleFree);
        expect(fusedOf(loaded).training).to.equal(true);
        await fit(loaded, 2);
        expectWeights(loaded, uninterrupted, 'save/load/fit');

        // To evaluate at x before the first step, eval() is given the variables the state is for.
        fusedOf(source).eval();
        const atX = weightsOf(source);
        const again = await load(artifacts);
        expectError(() => fusedOf(again).eval(), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['train mode', 'eval(model.trainableWeights)'] });
        expect(fusedOf(again).training).to.equal(true);
        fusedOf(again).eval(again.trainableWeights);
        expect(fusedOf(again).training).to.equal(false);
        expectWeights(again, atX, 'eval(variables) after load');
        fusedOf(again).train();
        await fit(again, 2);
        expectWeights(again, roundTrip, 'load/eval/train/fit');
        source.dispose();
        loaded.dispose();
        again.dispose();
      });

      it('model.save in eval mode → loadLayersModel: the model holds x; train() → fit continues as the run that did eval() and train()', async () => {
        const source = await trained();
        fusedOf(source).eval();
        const atX = weightsOf(source);
        const artifacts = await save(source);
        const loaded = await load(artifacts);
        expectWeights(loaded, atX, 'the loaded model');
        expect(fusedOf(loaded).training).to.equal(false);
        // Its variables must move to y before model.fit takes the first gradients: train() needs them.
        expectError(() => fusedOf(loaded).train(), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['eval mode', 'train(model.trainableWeights)'] });
        expectWeights(loaded, atX, 'after the refused train()');
        fusedOf(loaded).train(loaded.trainableWeights);
        expect(fusedOf(loaded).training).to.equal(true);
        expect(fusedOf(loaded).variableNames).to.deep.equal(loaded.trainableWeights.map((w) => w.name));
        await fit(loaded, 2);
        expectWeights(loaded, roundTrip, 'eval/save/load/train/fit');

        // Without train(), the first step is refused (changing nothing), and train() then knows the variables.
        const again = await load(artifacts);
        await expectFailure(() => fit(again, 2), { type: RangeError, code: ErrorCodes.NOT_IN_TRAIN_MODE });
        expectWeights(again, atX, 'after the refused step');
        expect(again.optimizer.iterations).to.equal(3);
        fusedOf(again).train();
        await fit(again, 2);
        expectWeights(again, roundTrip, 'refused, then train() and fit');
        source.dispose();
        loaded.dispose();
        again.dispose();
      });

      it('load → save before any step → load → fit', async () => {
        const first = await save(await trained());
        const loaded = await load(first);
        const again = await load(await save(loaded));
        await fit(again, 2);
        expectWeights(again, uninterrupted, 'load/save/load/fit');
        loaded.dispose();
        again.dispose();
      });
    });
  });

  describe('modes and group values', () => {
    it('train() and eval() do nothing for an optimizer without modes', () => {
      const { tf, fused } = t;
      const v = tf.variable(tf.tensor1d([1, 2, 3]), true, 'noModes');
      const opt = fused.adamW({ lr: 0.1 });
      opt.applyGradients({ noModes: tf.ones([3]) });
      const before = Array.from(v.dataSync());
      opt.eval();
      expect(opt.training).to.equal(true);
      expect(Array.from(v.dataSync())).to.deep.equal(before);
      opt.applyGradients({ noModes: tf.ones([3]) });
      opt.train();
      expect(opt.training).to.equal(true);
      v.dispose();
    });

    it('eval() before the first step: that step is refused; after train() the run equals one that never called them', () => {
      const { tf, fused } = t;
      const v = tf.variable(tf.tensor1d([1, -2, 3, 0.5]), true, 'evalFirst');
      const param = (v.dataSync() as Float32Array).slice();
      const opt = fused.adamWScheduleFree(ADAMW);
      opt.eval();
      expect(opt.training).to.equal(false);
      expectError(() => opt.applyGradients({ evalFirst: tf.ones([4]) }), { type: RangeError, code: ErrorCodes.NOT_IN_TRAIN_MODE });
      expect(Array.from(v.dataSync())).to.deep.equal(Array.from(param));
      expect(opt.iterations).to.equal(0);
      opt.train();
      const grads = [0.5, -1, 2].map((g) => new Float32Array(4).fill(g));
      for (const g of grads) opt.applyGradients({ evalFirst: tf.tensor1d(g) });
      const ref = new AdamWScheduleFree([param], ADAMW);
      ref.train();
      for (const g of grads) ref.step([g]);
      expectBitIdentical(v.dataSync() as Float32Array, param, 'the variable');
      v.dispose();
    });

    it('train(variables) and eval(variables) check the variables as a step checks its gradients, changing nothing when they throw', () => {
      const { tf, fused } = t;
      const a = tf.variable(tf.tensor1d([1, 2]), true, 'modeVarsA');
      const counts = tf.variable(tf.tensor1d([1, 2], 'int32'), true, 'modeVarsInt');
      const frozen = tf.variable(tf.tensor1d([1]), false, 'modeVarsFrozen');
      const opt = fused.adamWScheduleFree(ADAMW);
      expectError(() => opt.train('a' as never), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['variables'] });
      expectError(() => opt.train([{}] as never), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['variables[0]'] });
      expectError(() => opt.train([a, a]), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['given twice'] });
      expectError(() => opt.eval([a, counts]), { type: TypeError, code: ErrorCodes.DTYPE_MISMATCH, mentions: ['modeVarsInt', 'int32'] });
      expect(opt.optimizer).to.equal(null);
      expect(opt.training).to.equal(true);
      // Frozen ones are skipped, as a step skips them.
      opt.train([a, frozen]);
      expect(opt.variableNames).to.deep.equal(['modeVarsA']);
      a.dispose();
      const rebuilt = tf.variable(tf.zeros([3]), true, 'modeVarsA');
      expectError(() => opt.eval([rebuilt]), { type: RangeError, code: ErrorCodes.SHAPE_MISMATCH, mentions: ['3 elements', '2 when'] });
      expect(opt.training).to.equal(true);
      tf.dispose([counts, frozen, rebuilt]);
    });

    it('a variable seen later joins in the current mode, and eval() moves it with the others', () => {
      const { tf, fused } = t;
      const a = tf.variable(tf.tensor1d([1, 2]), true, 'lateA');
      const b = tf.variable(tf.tensor1d([3, 4, 5]), true, 'lateB');
      const pa = (a.dataSync() as Float32Array).slice();
      const pb = (b.dataSync() as Float32Array).slice();
      const opt = fused.sgdScheduleFree(SGD_OPTIONS);
      const ga = new Float32Array([0.5, -0.25]);
      const gb = new Float32Array([1, -1, 0.5]);
      opt.applyGradients({ lateA: tf.tensor1d(ga) });
      opt.applyGradients({ lateA: tf.tensor1d(ga), lateB: tf.tensor1d(gb) });
      expect(opt.optimizer!.paramGroups.map((g) => (g as unknown as { trainMode: boolean }).trainMode)).to.deep.equal([true, true]);
      const ref = new SGDScheduleFree([pa], SGD_OPTIONS);
      ref.train();
      ref.step([ga]);
      ref.addParamGroup({ params: [pb] });
      ref.step([ga, gb]);
      opt.eval();
      ref.eval();
      expectBitIdentical(a.dataSync() as Float32Array, pa, 'a');
      expectBitIdentical(b.dataSync() as Float32Array, pb, 'b');
      tf.dispose([a, b]);
    });

    it('setWeights refuses group values that do not fit, and Schedule-Free state without them, changing nothing', async () => {
      const { tf, fused } = t;
      const v = tf.variable(tf.tensor1d([1, 2, 3]), true, 'groupsV');
      const opt = fused.adamWScheduleFree(ADAMW);
      opt.applyGradients({ groupsV: tf.ones([3]) });
      const weights = await opt.getWeights();
      const without = (prefix: string) => weights.filter((w) => !w.name.startsWith(prefix));
      const replaced = (name: string, tensor: TfCore.Tensor) => weights.map((w) => (w.name === name ? { name, tensor } : w));
      const state = () => JSON.stringify(opt.optimizer!.stateDict(), (_, value) => (ArrayBuffer.isView(value) ? Array.from(value as Float32Array) : value));
      const before = state();
      // z and expAvgSq without k and weightSum would restart the averaging.
      await expectFailure(() => opt.setWeights(without('paramGroups[')), { type: RangeError, code: ErrorCodes.STATE_DICT_MISMATCH, mentions: ['no values of its param groups', 'AdamWScheduleFree'] });
      await expectFailure(() => opt.setWeights(without('paramGroups[0]/weightSum')), { type: RangeError, code: ErrorCodes.STATE_DICT_MISMATCH, mentions: ['lacks weightSum'] });
      await expectFailure(() => opt.setWeights([...weights, { name: 'paramGroups[1]/k', tensor: tf.tensor1d([1, 0], 'int32') }]), {
        type: RangeError,
        code: ErrorCodes.STATE_DICT_MISMATCH,
        mentions: ['2 param groups', 'has 1'],
      });
      await expectFailure(() => opt.setWeights([...weights, { name: 'paramGroups[2]/k', tensor: tf.tensor1d([1, 0], 'int32') }]), {
        type: RangeError,
        code: ErrorCodes.INVALID_ARG_VALUE,
        mentions: ['none of paramGroups[1]'],
      });
      await expectFailure(() => opt.setWeights(replaced('paramGroups[0]/k', tf.scalar(1))), { type: TypeError, code: ErrorCodes.DTYPE_MISMATCH, mentions: ['paramGroups[0]/k', 'float64 bits'] });
      await expectFailure(() => opt.setWeights(replaced('paramGroups[0]/k', tf.tensor1d([1, 2, 3], 'int32'))), { type: RangeError, code: ErrorCodes.SHAPE_MISMATCH, mentions: ['paramGroups[0]/k'] });
      // Values of the wrong type for the group: checked as a state dict's are.
      await expectFailure(() => opt.setWeights(replaced('paramGroups[0]/trainMode', tf.tensor1d([1, 0], 'int32'))), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['trainMode'] });
      expect(state()).to.equal(before);
      // Schedule-Free's group values are refused by an optimizer that keeps none.
      const other = fused.adamW({ lr: 0.1 });
      other.applyGradients({ groupsV: tf.ones([3]) });
      const adamWeights = await other.getWeights();
      expect(adamWeights.some((w) => w.name.startsWith('paramGroups['))).to.equal(false);
      await expectFailure(() => other.setWeights([...adamWeights, weights.find((w) => w.name === 'paramGroups[0]/k')!]), {
        type: RangeError,
        code: ErrorCodes.STATE_DICT_MISMATCH,
        mentions: ['paramGroups[0]/k', 'AdamW keeps no group value k'],
      });
      expect(other.optimizerClass).to.equal(AdamW);
      tf.dispose([...weights, ...adamWeights].map((w) => w.tensor));
      v.dispose();
    });
  });
});
