/**
 * fusedoptim/tfjs (issue 14): bad input gets a coded TypeError / RangeError
 * naming what is wrong, and a call that throws changes nothing: no variable,
 * no optimizer state, no iteration count. Skipped when TensorFlow.js is not installed.
 */
import { expect } from 'chai';
import { AdamW, ErrorCodes, Optimizer, SGD, StepLR } from '../lib';
import { expectError, expectFailure } from './helpers/errors';
import { Tfjs, requireTfjs } from './helpers/tfjs';

describe('fusedoptim/tfjs: errors', function () {
  this.timeout(60_000);
  let t: Tfjs;
  before(async function () {
    t = requireTfjs(this);
    await t.tf.setBackend('cpu');
  });

  describe('construction', () => {
    it('refuses a class that is not a fusedoptim optimizer', () => {
      const { fused, tf } = t;
      expectError(() => fused.optimizer(class NotOurs {} as never), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['fusedoptim optimizer class', 'NotOurs'] });
      expectError(() => fused.optimizer(tf.AdamOptimizer as never), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['AdamOptimizer'] });
      expectError(() => fused.optimizer('AdamW' as never), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['optimizerClass'] });
    });

    it("reads a class's declaration from the registry: a subclass of a registered class works, an Optimizer of one's own is refused", () => {
      const { fused } = t;
      class MyAdamW extends AdamW {}
      const mine = fused.optimizer(MyAdamW, { weightDecay: 0.1 });
      expect(mine.lr).to.equal(1e-3);
      expectError(() => fused.optimizer(MyAdamW, { lr: -1 }), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['AdamW: options.lr'] });
      // Built on Optimizer itself with a borrowed declaration: not in the registry, nor a subclass of a class that is.
      class OwnSGD extends Optimizer<{ lr: number }> {
        constructor(params: Float32Array[], options?: Record<string, unknown>) {
          super((SGD as unknown as { spec: never }).spec, params, options as never);
        }
      }
      expectError(() => fused.optimizer(OwnSGD), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['OwnSGD', 'registry'] });
    });

    it("checks the wrapped optimizer's options and its own at once", () => {
      const { fused } = t;
      expectError(() => fused.adamW({ lr: -1 }), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['lr'] });
      expectError(() => fused.adamW({ learningRate: 1e-3 } as never), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['learningRate'] });
      expectError(() => fused.adamW({}, { maxGradNorm: -1 }), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['maxGradNorm'] });
      expectError(() => fused.adamW({}, { clip: 1 } as never), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['clip'] });
      expectError(() => fused.adamW({}, { scheduler: {} as never }), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['fused.scheduler'] });
    });

    it('checks schedules: a scheduler class, its options, one optimizer per schedule', () => {
      const { fused } = t;
      expectError(() => fused.scheduler(AdamW as never, {}), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['LRScheduler'] });
      expectError(() => fused.scheduler(StepLR, { stepSize: 0 }), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['stepSize'] });
      expectError(() => fused.scheduler(StepLR, { stepSize: 1 }, { per: 'step' as never }), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['per'] });
      const schedule = fused.scheduler(StepLR, { stepSize: 1 });
      fused.sgd({ lr: 0.1 }, { scheduler: schedule });
      expectError(() => fused.sgd({ lr: 0.1 }, { scheduler: schedule }), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['already drives'] });
    });
  });

  describe('applyGradients changes nothing when it throws', () => {
    /** Two variables stepped once (adopted on CPU), and a clone sharing one's values. */
    function setup(prefix: string) {
      const { tf, fused } = t;
      const a = tf.variable(tf.tensor1d([1, 2, 3]), true, `${prefix}A`);
      const b = tf.variable(tf.tensor2d([[1, 2], [3, 4]]), true, `${prefix}B`);
      const opt = fused.adamW({ lr: 0.1 });
      opt.applyGradients({ [a.name]: tf.ones([3]), [b.name]: tf.ones([2, 2]) });
      const clone = tf.clone(a);
      const before = { a: Array.from(a.dataSync()), b: Array.from(b.dataSync()), state: JSON.stringify(stateOf(opt)), iterations: opt.iterations };
      const unchanged = () => {
        expect(Array.from(a.dataSync()), 'a').to.deep.equal(before.a);
        expect(Array.from(b.dataSync()), 'b').to.deep.equal(before.b);
        expect(Array.from(clone.dataSync()), 'the clone of a').to.deep.equal(before.a);
        expect(JSON.stringify(stateOf(opt)), 'optimizer state').to.equal(before.state);
        expect(opt.iterations).to.equal(before.iterations);
      };
      return { a, b, opt, clone, unchanged };
    }

    function stateOf(opt: { optimizer: { stateDict(): { state: Record<number, Record<string, unknown>> } } | null }) {
      const sd = opt.optimizer!.stateDict();
      return Object.values(sd.state).map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? v : Array.from(v as Float32Array)])));
    }

    it('a gradient for a variable that is not registered (disposed, or never made)', () => {
      const { tf } = t;
      const { a, opt, unchanged } = setup('gone');
      const doomed = tf.variable(tf.zeros([2]), true, 'goneLater');
      doomed.dispose();
      expectError(() => opt.applyGradients({ [a.name]: tf.ones([3]), goneLater: tf.ones([2]) }), {
        type: RangeError,
        code: ErrorCodes.INVALID_ARG_VALUE,
        mentions: ['"goneLater"', 'no variable of that name is registered'],
      });
      unchanged();
    });

    it('an int32 variable (fusedoptim steps float32 only)', () => {
      const { tf } = t;
      const { a, opt, unchanged } = setup('int');
      const counts = tf.variable(tf.tensor1d([1, 2], 'int32'), true, 'intCounts');
      expectError(() => opt.applyGradients([{ name: a.name, tensor: tf.ones([3]) }, { name: 'intCounts', tensor: tf.ones([2], 'int32') }]), {
        type: TypeError,
        code: ErrorCodes.DTYPE_MISMATCH,
        mentions: ['"intCounts"', 'int32 variable'],
      });
      unchanged();
      counts.dispose();
    });

    it('a gradient of the wrong shape, a disposed gradient, a non-tensor, a name given twice', () => {
      const { tf } = t;
      const { a, b, opt, unchanged } = setup('bad');
      expectError(() => opt.applyGradients({ [a.name]: tf.ones([3]), [b.name]: tf.ones([4]) }), { type: RangeError, code: ErrorCodes.SHAPE_MISMATCH, mentions: ['[4]', '[2,2]'] });
      const disposed = tf.ones([3]);
      disposed.dispose();
      expectError(() => opt.applyGradients({ [b.name]: tf.ones([2, 2]), [a.name]: disposed }), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['disposed'] });
      expectError(() => opt.applyGradients({ [a.name]: new Float32Array(3) as never }), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['tf.Tensor'] });
      expectError(() => opt.applyGradients([{ name: a.name, tensor: tf.ones([3]) }, { name: a.name, tensor: tf.ones([3]) }]), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['given twice'] });
      expectError(() => opt.applyGradients(null as never), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE });
      unchanged();
    });

    it('a step the wrapped optimizer refuses (a bad lr written between steps) after the params were prepared', () => {
      const { tf } = t;
      const { a, b, opt, unchanged } = setup('lr');
      opt.lr = -1;
      expectError(() => opt.applyGradients({ [a.name]: tf.ones([3]), [b.name]: tf.ones([2, 2]) }), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['lr'] });
      unchanged();
      // And the next good step works, in place again.
      opt.lr = 0.1;
      opt.applyGradients({ [a.name]: tf.ones([3]) });
      expect(a.dataSync()[0]).to.be.below(1);
    });

    it('a refused step that brings a new variable: the variable is unchanged, and the next step takes it', () => {
      const { tf } = t;
      const { a, b, opt, unchanged } = setup('grow');
      const c = tf.variable(tf.tensor1d([5, 5]), true, 'growC');
      opt.lr = -1;
      expectError(() => opt.applyGradients({ [a.name]: tf.ones([3]), growC: tf.ones([2]) }), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['lr'] });
      unchanged();
      expect(Array.from(c.dataSync())).to.deep.equal([5, 5]);
      opt.lr = 0.1;
      opt.applyGradients({ [a.name]: tf.ones([3]), [b.name]: tf.ones([2, 2]), growC: tf.ones([2]) });
      expect(opt.variableNames).to.deep.equal([a.name, b.name, 'growC']);
      expect(c.dataSync()[0]).to.be.below(5);
      c.dispose();
    });

    it('a variable registered again under a known name with another size (a rebuilt model)', () => {
      const { tf } = t;
      const { a, b, opt } = setup('rebuilt');
      const aBefore = Array.from(a.dataSync());
      const iterations = opt.iterations;
      b.dispose();
      const again = tf.variable(tf.zeros([3, 3]), true, b.name);
      expectError(() => opt.applyGradients({ [a.name]: tf.ones([3]), [b.name]: tf.ones([3, 3]) }), { type: RangeError, code: ErrorCodes.SHAPE_MISMATCH, mentions: ['9 elements', '4 when'] });
      expect(Array.from(a.dataSync())).to.deep.equal(aBefore);
      expect(Array.from(again.dataSync())).to.deep.equal(new Array(9).fill(0));
      expect(opt.iterations).to.equal(iterations);
      again.dispose();
    });

    it('a first step whose pending state (setWeights) does not fit: nothing is created', async () => {
      const { tf, fused } = t;
      const a = tf.variable(tf.tensor1d([1, 2, 3]), true, 'pendingA');
      const opt = fused.adamW({ lr: 0.1 });
      await opt.setWeights([
        { name: 'iter', tensor: tf.scalar(4, 'int32') },
        { name: 'x/expAvg', tensor: tf.zeros([5]) },
        { name: 'x/expAvgSq', tensor: tf.zeros([5]) },
        { name: 'x/step', tensor: tf.scalar(4, 'int32') },
      ]);
      expectError(() => opt.applyGradients({ pendingA: tf.ones([3]) }), { type: RangeError, code: ErrorCodes.STATE_DICT_MISMATCH, mentions: ['setWeights', 'expected length 3'] });
      expect(Array.from(a.dataSync())).to.deep.equal([1, 2, 3]);
      expect(opt.optimizer).to.equal(null);
      expect(opt.variableNames).to.deep.equal([]);
    });
  });

  describe('setWeights / getConfig / fromConfig', () => {
    it('setWeights refuses state for another number of variables, or a non-list, changing nothing', async () => {
      const { tf, fused } = t;
      const a = tf.variable(tf.tensor1d([1, 2, 3]), true, 'swA');
      const opt = fused.adamW({ lr: 0.1 });
      opt.applyGradients({ swA: tf.ones([3]) });
      const before = (await opt.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())]);
      await expectFailure(() => opt.setWeights([{ name: 'iter', tensor: tf.scalar(9, 'int32') }, { name: 'x/step', tensor: tf.scalar(1, 'int32') }, { name: 'y/step', tensor: tf.scalar(1, 'int32') }]), {
        type: RangeError,
        code: ErrorCodes.STATE_DICT_MISMATCH,
        mentions: ['2 variables', 'has 1'],
      });
      await expectFailure(() => opt.setWeights('weights' as never), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE });
      await expectFailure(() => opt.setWeights([{ name: 'iter', tensor: tf.scalar(1) }, { name: 'noSlash', tensor: tf.scalar(1) }]), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['noSlash'] });
      const after = (await opt.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())]);
      expect(after).to.deep.equal(before);
      a.dispose();
    });

    it('getConfig names only the built-in classes; fromConfig refuses an unknown one', () => {
      const { fused } = t;
      class MyAdamW extends AdamW {}
      expectError(() => fused.optimizer(MyAdamW).getConfig(), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['MyAdamW'] });
      expect(fused.lion({ lr: 1e-4 }, { maxGradNorm: 1 }).getConfig()).to.deep.equal({ name: 'Lion', options: { lr: 1e-4 }, maxGradNorm: 1 });
      expectError(() => fused.FusedOptimizer.fromConfig(fused.FusedOptimizer as never, { name: 'Shampoo', options: {} }), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['Shampoo'] });
      // Every optimizer class of the library is built in.
      const built = fused.FusedOptimizer.fromConfig(fused.FusedOptimizer as never, { name: 'Adafactor', options: { lr: 0.1 } }) as unknown as InstanceType<typeof fused.FusedOptimizer>;
      expect(built.optimizerClass.name).to.equal('Adafactor');
    });
  });
});
