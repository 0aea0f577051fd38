/**
 * fusedoptim/tfjs (issue 14): TensorFlow.js training through the wrapper
 * gives, bit for bit, what fusedoptim computes stepping the same gradients
 * directly (model.fit, trainOnBatch, minimize; clipping and schedules
 * included), on the CPU and the WASM backend and on one that takes the
 * copying path; the state survives getWeights /
 * setWeights and model.save / loadLayersModel; the digits train.
 * Skipped (with a message) when TensorFlow.js is not installed.
 */
import { expect } from 'chai';
import { Adafactor, Adam, AdamW, AdamWScheduleFree, OPTIMIZERS, SGD, WarmupCosineScheduler, StepLR } from '../lib';
import type { Optimizer } from '../lib';
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as TfLayers from '@tensorflow/tfjs-layers';
import { expectBitIdentical } from './helpers/bits';
import { Tfjs, loadFromMemory, onEachTfjsBackend, recordGradients, saveToMemory, replay, smallData, smallModel, snapshot } from './helpers/tfjs';

type FusedClass = new (params: Float32Array[], options?: never) => Optimizer<{ lr: number }>;

function expectSameParams(actual: Map<string, Float32Array>, expected: Map<string, Float32Array>, label: string): void {
  expect([...actual.keys()].sort()).to.deep.equal([...expected.keys()].sort());
  for (const [name, values] of expected) expectBitIdentical(actual.get(name)!, values, `${label}: ${name}`);
}

/** Two more trainOnBatch steps of each model on the same batch leave them bit-identical. */
async function expectSameTraining(a: TfLayers.LayersModel, b: TfLayers.LayersModel, x: TfCore.Tensor, y: TfCore.Tensor): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await a.trainOnBatch(x, y);
    await b.trainOnBatch(x, y);
  }
  const wb = b.getWeights();
  a.getWeights().forEach((w, i) => expectBitIdentical(wb[i].dataSync() as Float32Array, w.dataSync() as Float32Array, `weight ${i}`));
}

describe('fusedoptim/tfjs: training', function () {
  this.timeout(120_000);
  let t: Tfjs;
  onEachTfjsBackend((loaded) => (t = loaded), (backend, path) => {
    it("model.fit with Adafactor gives it each variable's shape: kernels factored, biases not, the steps equal fusedoptim's", async () => {
      const { tf } = t;
      const model = smallModel(t, 12);
      const opt = t.fused.adafactor({ lr: 0.05, weightDecay: 0.01 });
      model.compile({ optimizer: opt, loss: 'meanSquaredError' });
      const initial = snapshot(model);
      const steps = recordGradients(opt);
      const { x, y } = smallData(t);
      await model.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0 });
      const names = [...steps[0].keys()];
      const shapes = names.map((n) => model.trainableWeights.find((w) => w.name === n)!.shape);
      const expected = replay(Adafactor as unknown as FusedClass, { lr: 0.05, weightDecay: 0.01, shapes }, initial, steps);
      expectSameParams(snapshot(model), expected, 'model.fit');
      // [6, 16] and [16, 3] kernels keep rows + cols numbers; the biases a full variance.
      const state = (opt as unknown as { inner: { state: Array<Record<string, unknown>> } }).inner.state;
      expect(state.map((s) => Object.keys(s).sort().join(','))).to.deep.equal(shapes.map((sh) => (sh.length >= 2 ? 'colVar,rowVar,step' : 'step,variance')));
      expect(() => t.fused.optimizer(Adafactor, { shapes: [[1]] } as never)).to.throw(/options.shapes: each variable's own shape/);
      tf.dispose([x, y]);
      model.dispose();
    });

    it('model.fit with AdamW, clipping and a per-batch warmup-cosine equals fusedoptim on the same gradients', async () => {
      const { tf, fused } = t;
      const model = smallModel(t, 11);
      const options = { lr: 0.05, weightDecay: 0.1 };
      const schedule = { warmupSteps: 3, totalSteps: 9 };
      const opt = fused.adamW(options, { maxGradNorm: 0.5, scheduler: fused.scheduler(WarmupCosineScheduler, schedule) });
      model.compile({ optimizer: opt, loss: 'meanSquaredError' });
      const initial = snapshot(model);
      const steps = recordGradients(opt);
      const { x, y } = smallData(t);
      await model.fit(x, y, { epochs: 3, batchSize: 8, verbose: 0 });
      expect(steps).to.have.length(9);
      expect(opt.iterations).to.equal(9);
      const expected = replay(AdamW as unknown as FusedClass, options, initial, steps, { maxGradNorm: 0.5 }, (o) => new WarmupCosineScheduler(o, schedule));
      expectSameParams(snapshot(model), expected, 'model.fit');
      // The clip did bite: the first gradients' global norm is above 0.5.
      const norm0 = Math.sqrt([...steps[0].values()].reduce((s, g) => s + g.reduce((a, v) => a + v * v, 0), 0));
      expect(norm0).to.be.greaterThan(0.5);
      expect(new Set(Object.values(opt.writePaths()))).to.deep.equal(new Set([path]));
      tf.dispose([x, y]);
      model.dispose();
    });

    it("the backend computes with the stepped values: predictions equal a fresh model's given the same weights", async () => {
      // Catches a write the backend does not see: the WASM backend caches XNNPACK's packed
      // matmul weights under the tensor's id, so an in-place write into its memory goes unseen.
      const { tf, fused } = t;
      const model = smallModel(t, 61);
      model.compile({ optimizer: fused.adamW({ lr: 0.05 }), loss: 'meanSquaredError' });
      const { x, y } = smallData(t);
      await model.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0 });
      const fresh = smallModel(t, 62);
      const copies = model.getWeights().map((w) => tf.tensor((w.dataSync() as Float32Array).slice(), w.shape));
      fresh.setWeights(copies);
      const [a, b] = [model.predict(x) as ReturnType<typeof tf.zeros>, fresh.predict(x) as ReturnType<typeof tf.zeros>];
      expectBitIdentical(a.dataSync() as Float32Array, b.dataSync() as Float32Array, 'predictions');
      tf.dispose([x, y, a, b, ...copies]);
      model.dispose();
      fresh.dispose();
    });

    it('trainOnBatch with SGD (momentum, nesterov) equals fusedoptim on the same gradients', async () => {
      const { tf, fused } = t;
      const model = smallModel(t, 21);
      const options = { lr: 0.1, momentum: 0.9, nesterov: true };
      const opt = fused.sgd(options);
      model.compile({ optimizer: opt, loss: 'meanSquaredError' });
      const initial = snapshot(model);
      const steps = recordGradients(opt);
      const { x, y } = smallData(t, 8, 3);
      for (let i = 0; i < 4; i++) await model.trainOnBatch(x, y);
      expectSameParams(snapshot(model), replay(SGD as unknown as FusedClass, options, initial, steps), 'trainOnBatch');
      tf.dispose([x, y]);
      model.dispose();
    });

    // Issue 24: a model loaded and saved again before any step lost its optimizer's state (only `iter` was saved).
    describe('any sequence of save, load and fit continues exactly as the uninterrupted run', () => {
      type Model = TfLayers.LayersModel;
      /** The uninterrupted run's weights after 1 + `more` epochs of Adam. */
      let uninterrupted: Float32Array[];
      const more = 2;
      const fit = (model: Model, epochs: number) => {
        const { x, y } = smallData(t, 24, 13);
        // shuffle: false, so every run sees the same batches.
        return model.fit(x, y, { epochs, batchSize: 8, shuffle: false, verbose: 0 }).finally(() => t.tf.dispose([x, y]));
      };
      const trained = async (): Promise<Model> => {
        const model = smallModel(t, 71);
        model.compile({ optimizer: t.fused.adam({ lr: 0.02, amsgrad: true }), loss: 'meanSquaredError' });
        await fit(model, 1);
        return model;
      };
      const save = (model: Model) => saveToMemory(t, model);
      const load = (artifacts: TfCore.io.ModelArtifacts) => loadFromMemory(t, artifacts);
      /** The optimizer weights saved in `artifacts`, in saved order: name, shape, dtype, values. */
      const optimizerWeights = (artifacts: TfCore.io.ModelArtifacts) => {
        const tensors = t.tf.io.decodeWeights(artifacts.weightData as ArrayBuffer, artifacts.weightSpecs!);
        const out = artifacts.weightSpecs!.filter((w) => w.group === 'optimizer').map((w) => {
          const tensor = tensors[w.name];
          return { name: w.name, shape: tensor.shape, dtype: tensor.dtype, values: Array.from(tensor.dataSync()) };
        });
        t.tf.dispose(Object.values(tensors));
        return out;
      };
      const expectUninterrupted = (model: Model, label: string) => {
        model.getWeights().forEach((w, i) => expectBitIdentical(w.dataSync() as Float32Array, uninterrupted[i], `${label}: weight ${i}`));
      };

      beforeEach(async () => {
        if (uninterrupted !== undefined) return;
        const model = await trained();
        await fit(model, more);
        uninterrupted = model.getWeights().map((w) => (w.dataSync() as Float32Array).slice());
        model.dispose();
      });

      it('save → load → save (before any step) → load → fit: the second save holds the first one\'s 17 weights', async () => {
        const first = await save(await trained());
        const loaded = await load(first);
        const second = await save(loaded);
        // iter, and expAvg, expAvgSq, maxExpAvgSq and step of each of the 4 variables.
        expect(optimizerWeights(first)).to.have.length(17);
        expect(optimizerWeights(second)).to.deep.equal(optimizerWeights(first));
        const again = await load(second);
        expect(again.optimizer.iterations).to.equal(3);
        await fit(again, more);
        expectUninterrupted(again, 'save/load/save/load/fit');
      });

      it('save → load three times over, then fit', async () => {
        let model: Model = await trained();
        for (let i = 0; i < 3; i++) model = await load(await save(model));
        await fit(model, more);
        expectUninterrupted(model, 'three round trips');
      });

      it('load → fit → save → load → fit', async () => {
        const loaded = await load(await save(await trained()));
        await fit(loaded, 1);
        const again = await load(await save(loaded));
        await fit(again, more - 1);
        expectUninterrupted(again, 'load/fit/save/load/fit');
      });

      it('setWeights → getWeights before any step gives back the same weights', async () => {
        const source = await trained();
        const weights = await source.optimizer.getWeights();
        const fresh = t.fused.adam({ lr: 0.02, amsgrad: true });
        await fresh.setWeights(weights);
        const back = await fresh.getWeights();
        expect(back.map((w) => [w.name, w.tensor.shape, w.tensor.dtype])).to.deep.equal(weights.map((w) => [w.name, w.tensor.shape, w.tensor.dtype]));
        back.forEach((w, i) => expect(Array.from(w.tensor.dataSync()), w.name).to.deep.equal(Array.from(weights[i].tensor.dataSync())));
        t.tf.dispose([...weights, ...back].map((w) => w.tensor));
        source.dispose();
      });
    });

    it('minimize over plain variables (gradients as a map) equals fusedoptim; a variable seen later gets its own group', () => {
      const { tf, fused } = t;
      const a = tf.variable(tf.tensor1d([1, -2, 3, 0.5]), true, `a${backend}`);
      const b = tf.variable(tf.tensor2d([[0.25, 4], [-1, 2]]), true, `b${backend}`);
      const initial = new Map([
        [a.name, (a.dataSync() as Float32Array).slice()],
        [b.name, (b.dataSync() as Float32Array).slice()],
      ]);
      const opt = fused.adam({ lr: 0.1, amsgrad: true });
      const steps = recordGradients(opt);
      const loss = () => tf.add(tf.sum(tf.square(a)), tf.sum(tf.mul(b, b)));
      opt.minimize(() => tf.sum(tf.square(a)), false, [a]);
      expect(opt.variableNames).to.deep.equal([a.name]);
      for (let i = 0; i < 3; i++) opt.minimize(loss as () => ReturnType<typeof tf.scalar>);
      expect(opt.variableNames).to.deep.equal([a.name, b.name]);
      expect(opt.optimizer!.paramGroups).to.have.length(2);
      // Reference: the same two groups, b's added at the second step.
      const pa = initial.get(a.name)!.slice();
      const pb = initial.get(b.name)!.slice();
      const ref = new Adam([pa], { lr: 0.1, amsgrad: true });
      ref.step([steps[0].get(a.name)!]);
      ref.addParamGroup({ params: [pb] });
      for (const s of steps.slice(1)) ref.step([s.get(a.name)!, s.get(b.name)!]);
      expectBitIdentical(a.dataSync() as Float32Array, pa, 'a');
      expectBitIdentical(b.dataSync() as Float32Array, pb, 'b');
      tf.dispose([a, b]);
    });
  });

  describe('factories', () => {
    it('one per step optimizer of the registry, named after its class, building that class', () => {
      const { fused } = t;
      // Every lower-case function export but the two general ones is a short form.
      const factories = Object.entries(fused).filter(([name, v]) => typeof v === 'function' && /^[a-z]/.test(name) && name !== 'optimizer' && name !== 'scheduler');
      const built = new Map(factories.map(([name, make]) => [name, (make as () => InstanceType<typeof fused.FusedOptimizer>)().optimizerClass as unknown]));
      const steps = OPTIMIZERS.filter((e) => !e.capabilities.closure);
      for (const e of steps) {
        const name = [...built.keys()].find((n) => n.toLowerCase() === e.name.toLowerCase());
        expect(name, `no short form of ${e.name}: add its line to lib/tfjs/index.ts`).to.not.equal(undefined);
        expect(built.get(name!), name).to.equal(e.class);
      }
      expect(built.size, `short forms: ${[...built.keys()].join(', ')}`).to.equal(steps.length);
      expect(fused.adamWScheduleFree().optimizerClass).to.equal(AdamWScheduleFree);
      expect(fused.sgdScheduleFree({ lr: 0.5 }).lr).to.equal(0.5);
    });
  });

  describe('on the CPU backend, in place', () => {
    it("the variable's values are the param fusedoptim steps (no copy), and a clone taken between steps keeps its values", () => {
      const { tf, fused } = t;
      const v = tf.variable(tf.tensor1d([1, 2, 3]), true, 'inPlace');
      const opt = fused.sgd({ lr: 0.5 });
      opt.applyGradients({ inPlace: tf.ones([3]) });
      const backend = tf.backend() as unknown as { readSync(id: object): unknown };
      expect(backend.readSync(v.dataId)).to.equal(opt.optimizer!.paramGroups[0].params[0]);
      const clone = tf.clone(v);
      const reshaped = tf.reshape(v, [3, 1]);
      opt.applyGradients({ inPlace: tf.ones([3]) });
      expect(Array.from(clone.dataSync())).to.deep.equal([0.5, 1.5, 2.5]);
      expect(Array.from(reshaped.dataSync())).to.deep.equal([0.5, 1.5, 2.5]);
      expect(Array.from(v.dataSync())).to.deep.equal([0, 1, 2]);
      // Adopted again after the clone broke the sharing: in place from the next step.
      opt.applyGradients({ inPlace: tf.ones([3]) });
      expect(backend.readSync(v.dataId)).to.equal(opt.optimizer!.paramGroups[0].params[0]);
      expect(Array.from(clone.dataSync())).to.deep.equal([0.5, 1.5, 2.5]);
      // A value assigned from outside (model.setWeights, loadWeights) is taken up at the next step.
      v.assign(tf.tensor1d([10, 10, 10]));
      opt.applyGradients({ inPlace: tf.ones([3]) });
      expect(Array.from(v.dataSync())).to.deep.equal([9.5, 9.5, 9.5]);
      tf.dispose([v, clone, reshaped]);
    });
  });

  describe('state', () => {
    it('getWeights / setWeights round-trip: a fresh optimizer given the weights continues bit for bit', async () => {
      const { tf, fused } = t;
      const model = smallModel(t, 31);
      const opt = fused.adamW({ lr: 0.02 });
      model.compile({ optimizer: opt, loss: 'meanSquaredError' });
      const { x, y } = smallData(t, 8, 5);
      for (let i = 0; i < 3; i++) await model.trainOnBatch(x, y);
      const weights = await opt.getWeights();
      expect(weights[0].name).to.equal('iter');
      expect(weights.map((w) => w.name)).to.include(`${model.trainableWeights[0].name}/expAvgSq`);
      // A twin: same params, a new optimizer that gets the state through setWeights.
      const twin = smallModel(t, 99);
      twin.setWeights(model.getWeights());
      const twinOpt = fused.adamW({ lr: 0.02 });
      twin.compile({ optimizer: twinOpt, loss: 'meanSquaredError' });
      await twinOpt.setWeights(weights);
      expect(twinOpt.iterations).to.equal(3);
      await expectSameTraining(model, twin, x, y);
      tf.dispose([x, y, ...weights.map((w) => w.tensor)]);
    });

    it('model.save / loadLayersModel (memory handler, includeOptimizer) restores the wrapper, its options and its state', async () => {
      const { tf, fused } = t;
      const model = smallModel(t, 41);
      model.compile({ optimizer: fused.adamW({ lr: 0.01, weightDecay: 0.05, betas: [0.8, 0.99] }, { maxGradNorm: 2 }), loss: 'meanSquaredError' });
      const { x, y } = smallData(t, 8, 9);
      for (let i = 0; i < 3; i++) await model.trainOnBatch(x, y);
      const loaded = await loadFromMemory(t, await saveToMemory(t, model));
      const restored = loaded.optimizer as InstanceType<typeof fused.FusedOptimizer>;
      expect(restored).to.be.instanceOf(fused.FusedOptimizer);
      expect(restored.optimizerClass).to.equal(AdamW);
      expect(restored.getConfig()).to.deep.equal((model.optimizer as InstanceType<typeof fused.FusedOptimizer>).getConfig());
      expect(restored.iterations).to.equal(3);
      await expectSameTraining(model, loaded, x, y);
      tf.dispose([x, y]);
    });
  });

  describe('schedules', () => {
    it("per epoch: the schedule is model.fit's callback and steps once per epoch", async () => {
      const { tf, fused } = t;
      const model = smallModel(t, 51);
      const schedule = fused.scheduler(StepLR, { stepSize: 1, gamma: 0.5 }, { per: 'epoch' });
      const opt = fused.sgd({ lr: 0.1 }, { scheduler: schedule });
      model.compile({ optimizer: opt, loss: 'meanSquaredError' });
      const steps = recordGradients(opt);
      const lrs: number[] = [];
      const probe = opt.applyGradients;
      opt.applyGradients = (g) => {
        lrs.push(opt.lr);
        probe(g);
      };
      const { x, y } = smallData(t);
      await model.fit(x, y, { epochs: 3, batchSize: 12, verbose: 0, callbacks: [schedule] });
      expect(steps).to.have.length(6);
      expect(lrs).to.deep.equal([0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
      expect(schedule.scheduler!.lastEpoch).to.equal(3);
      tf.dispose([x, y]);
    });
  });

  it("a schedule resumes through its scheduler's stateDict (it is not saved with the model)", () => {
    const { tf, fused } = t;
    const v = tf.variable(tf.zeros([4]), true, 'resumed');
    const options = { warmupSteps: 2, totalSteps: 10 };
    const first = fused.scheduler(WarmupCosineScheduler, options);
    const opt = fused.adamW({ lr: 0.1 }, { scheduler: first });
    for (let i = 0; i < 4; i++) opt.applyGradients({ resumed: tf.ones([4]) });
    const second = fused.scheduler(WarmupCosineScheduler, options);
    const again = fused.adamW({ lr: 0.1 }, { scheduler: second });
    second.scheduler!.loadStateDict(first.scheduler!.stateDict());
    expect(again.lr).to.equal(opt.lr);
    expect(second.scheduler!.lastEpoch).to.equal(4);
    v.dispose();
  });

  describe('the digits', () => {
    it('a 64-128-64-10 MLP compiled with fused.adamW trains the digits to at least 95% validation accuracy', async () => {
      const { tf, tfl, fused } = t;
      const { loadDigits, splitTrainValidation } = await import('../lib/cli/jobs/digits/data');
      const { train, validation } = splitTrainValidation(loadDigits(), { validationFraction: 0.2, seed: 1 });
      const model = tfl.sequential({
        layers: [
          tfl.layers.dense({ units: 128, inputShape: [64], activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: 1 }) }),
          tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: 2 }) }),
          tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
        ],
      });
      model.compile({ optimizer: fused.adamW({ lr: 3e-3 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      const xs = (d: typeof train) => tf.tensor2d(d.x, [d.size, 64]);
      const ys = (d: typeof train) => tf.oneHot(tf.tensor1d(Array.from(d.y), 'int32'), 10);
      const [tx, ty, vx, vy] = [xs(train), ys(train), xs(validation), ys(validation)];
      const history = await model.fit(tx, ty, { epochs: 15, batchSize: 32, verbose: 0, validationData: [vx, vy] });
      const accuracy = history.history.val_acc ?? history.history.val_accuracy;
      expect(Number(accuracy[accuracy.length - 1])).to.be.at.least(0.95);
      tf.dispose([tx, ty, vx, vy]);
      model.dispose();
    });
  });
});
