/**
 * Learning-rate schedulers. Every expected value below is written from the
 * scheduler's formula (PyTorch's closed form, or the textbook's), never by
 * calling the code under test; every optimizer is a fake with two param groups
 * of different base lrs, so group-wise schedules are checked throughout.
 */
import { expect } from 'chai';
import {
  ChainedScheduler,
  ConstantLR,
  CosineAnnealingLR,
  CosineAnnealingWarmRestarts,
  CyclicLR,
  ExponentialLR,
  LambdaLR,
  LinearLR,
  LRScheduler,
  MultiplicativeLR,
  MultiStepLR,
  OneCycleLR,
  PolynomialLR,
  ReduceLROnPlateau,
  SchedulableOptimizer,
  SequentialLR,
  StepLR,
  StepScheduler,
  WarmupCosineScheduler,
} from '../lib/schedulers';
import { expectError } from './helpers/errors';

type FakeOptimizer = SchedulableOptimizer;

/** Base lrs of the two groups of every fake optimizer. */
const BASE = [0.1, 0.01];

function sgd(): FakeOptimizer {
  return { paramGroups: [{ lr: 0.1, momentum: 0.9 }, { lr: 0.01, momentum: 0.9 }] };
}

function adam(): FakeOptimizer {
  return { paramGroups: [{ lr: 0.1, betas: [0.9, 0.999] }, { lr: 0.01, betas: [0.9, 0.999] }] };
}

/** Relative tolerance 1e-12, with a floor for values that are exactly 0. */
function expectClose(actual: number, expected: number, what: string): void {
  expect(actual, what).to.be.a('number');
  expect(actual, what).to.be.closeTo(expected, 1e-12 * Math.abs(expected) + 1e-15);
}

/** Cosine annealing from `start` to `end` as `pct` goes 0 → 1. */
function cosAnneal(start: number, end: number, pct: number): number {
  return end + ((start - end) / 2) * (1 + Math.cos(Math.PI * pct));
}

/**
 * Checks steps 0..steps: after construction (step 0) and after each step(),
 * every group's lr and getLastLr() equal expected(s, group); `extra` checks more.
 */
function checkSchedule(
  scheduler: { step(): void; getLastLr(): number[] },
  optimizer: FakeOptimizer,
  steps: number,
  expected: (s: number, group: number) => number,
  extra?: (s: number) => void,
): void {
  for (let s = 0; s <= steps; s++) {
    if (s > 0) scheduler.step();
    const last = scheduler.getLastLr();
    expect(last).to.have.length(optimizer.paramGroups.length);
    optimizer.paramGroups.forEach((group, i) => {
      expectClose(group.lr, expected(s, i), `lr of group ${i} at step ${s}`);
      expectClose(last[i], expected(s, i), `getLastLr()[${i}] at step ${s}`);
    });
    extra?.(s);
  }
}

function momentumOf(optimizer: FakeOptimizer, i: number): number {
  const group = optimizer.paramGroups[i];
  return Array.isArray(group.betas) ? (group.betas[0] as number) : (group.momentum as number);
}

/**
 * Steps a scheduler `before` times, saves it through JSON, loads it into a new
 * scheduler over a new optimizer, then steps both `after` times: their lrs
 * (and momenta) must stay identical.
 */
function checkRoundTrip(
  make: (optimizer: FakeOptimizer) => LRScheduler,
  newOptimizer: () => FakeOptimizer = sgd,
  before = 23,
  after = 40,
): void {
  const optA = newOptimizer();
  const a = make(optA);
  for (let s = 0; s < before; s++) a.step();
  const saved = a.stateDict();
  const json = JSON.stringify(saved);
  expect(JSON.parse(json), 'the state dict survives JSON').to.deep.equal(saved);

  const optB = newOptimizer();
  const b = make(optB);
  b.loadStateDict(JSON.parse(json));
  expect(b.lastEpoch).to.equal(a.lastEpoch);
  for (let s = 0; s <= after; s++) {
    if (s > 0) {
      a.step();
      b.step();
    }
    expect(b.getLastLr(), `getLastLr() ${s} steps after loading`).to.deep.equal(a.getLastLr());
    optA.paramGroups.forEach((group, i) => {
      expect(optB.paramGroups[i].lr, `lr of group ${i}, ${s} steps after loading`).to.equal(group.lr);
      expect(optB.paramGroups[i].momentum).to.deep.equal(group.momentum);
      expect(optB.paramGroups[i].betas).to.deep.equal(group.betas);
    });
  }
}

/** Constructing with bad input throws `type` with `code` and a message naming the argument, and changes no group. */
function expectRejected(
  optimizer: FakeOptimizer,
  construct: (optimizer: FakeOptimizer) => unknown,
  type: typeof TypeError | typeof RangeError,
  code: string,
  message: string | RegExp,
): void {
  const before = structuredClone(optimizer.paramGroups);
  expectError(() => construct(optimizer), { type, code, mentions: [message] }, 'the constructor');
  expect(optimizer.paramGroups, 'the groups are untouched').to.deep.equal(before);
}

/** Every scheduler stepped by a step count, with its options and its schedule written from its formula. */
interface ScheduleCase {
  name: string;
  make: (optimizer: FakeOptimizer) => LRScheduler;
  expected: (s: number, group: number) => number;
  steps?: number;
}

const lambdas = [(s: number) => 1 / (1 + s), (s: number) => 0.9 ** s];
const multipliers = [() => 0.97, (t: number) => (t % 2 === 1 ? 1.02 : 0.96)];

/** CosineAnnealingWarmRestarts' position at an integer step: cycles of T0, T0·TMult, ... */
function warmRestartLr(s: number, base: number, T0: number, TMult: number, etaMin: number): number {
  let start = 0;
  let length = T0;
  while (s >= start + length) {
    start += length;
    length *= TMult;
  }
  return etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * (s - start)) / length))) / 2;
}

/** A triangle wave: up over `up` steps from 0 to 1, down over `down` steps; the cycle number from 1. */
function triangle(s: number, up: number, down: number): { height: number; cycle: number } {
  const position = s % (up + down);
  return { height: position <= up ? position / up : (up + down - position) / down, cycle: Math.floor(s / (up + down)) + 1 };
}

const CASES: ScheduleCase[] = [
  {
    name: 'StepLR',
    make: (opt) => new StepLR(opt, { stepSize: 7, gamma: 0.5 }),
    expected: (s, i) => BASE[i] * 0.5 ** Math.floor(s / 7),
  },
  {
    name: 'MultiStepLR',
    make: (opt) => new MultiStepLR(opt, { milestones: [10, 25, 40], gamma: 0.3 }),
    expected: (s, i) => BASE[i] * 0.3 ** [10, 25, 40].filter((m) => m <= s).length,
  },
  {
    // PyTorch keeps milestones in a Counter: 15 listed twice decays by gamma² at step 15.
    name: 'MultiStepLR with a repeated milestone',
    make: (opt) => new MultiStepLR(opt, { milestones: [0, 15, 15, 30], gamma: 0.5 }),
    expected: (s, i) => BASE[i] * (s < 15 ? 0.5 : s < 30 ? 0.125 : 0.0625),
    steps: 40,
  },
  {
    name: 'ConstantLR',
    make: (opt) => new ConstantLR(opt, { factor: 0.25, totalIters: 12 }),
    expected: (s, i) => BASE[i] * (s < 12 ? 0.25 : 1),
  },
  {
    name: 'LinearLR',
    make: (opt) => new LinearLR(opt, { startFactor: 0.2, endFactor: 0.9, totalIters: 30 }),
    expected: (s, i) => BASE[i] * (0.2 + (0.7 * Math.min(s, 30)) / 30),
  },
  {
    name: 'ExponentialLR',
    make: (opt) => new ExponentialLR(opt, { gamma: 0.95 }),
    expected: (s, i) => BASE[i] * 0.95 ** s,
  },
  {
    name: 'PolynomialLR',
    make: (opt) => new PolynomialLR(opt, { totalIters: 40, power: 2 }),
    expected: (s, i) => BASE[i] * (1 - Math.min(s, 40) / 40) ** 2,
  },
  {
    name: 'CosineAnnealingLR (past TMax: the cosine climbs back, through the special step at t − 1 = TMax)',
    make: (opt) => new CosineAnnealingLR(opt, { TMax: 25, etaMin: 0.001 }),
    expected: (s, i) => 0.001 + ((BASE[i] - 0.001) * (1 + Math.cos((Math.PI * s) / 25))) / 2,
    steps: 80,
  },
  {
    name: 'CosineAnnealingLR with etaMin = 0',
    make: (opt) => new CosineAnnealingLR(opt, { TMax: 30 }),
    expected: (s, i) => (BASE[i] * (1 + Math.cos((Math.PI * s) / 30))) / 2,
  },
  {
    name: 'LambdaLR with one function per group',
    make: (opt) => new LambdaLR(opt, { lrLambda: lambdas }),
    expected: (s, i) => BASE[i] * lambdas[i](s),
  },
  {
    name: 'LambdaLR with one function for all groups',
    make: (opt) => new LambdaLR(opt, { lrLambda: (s) => 1 - s / 100 }),
    expected: (s, i) => BASE[i] * (1 - s / 100),
  },
  {
    name: 'MultiplicativeLR',
    make: (opt) => new MultiplicativeLR(opt, { lrLambda: multipliers }),
    expected: (s, i) => {
      let lr = BASE[i];
      for (let t = 1; t <= s; t++) lr *= multipliers[i](t);
      return lr;
    },
  },
  {
    name: 'CosineAnnealingWarmRestarts with TMult = 2',
    make: (opt) => new CosineAnnealingWarmRestarts(opt, { T0: 5, TMult: 2, etaMin: 0.0005 }),
    expected: (s, i) => warmRestartLr(s, BASE[i], 5, 2, 0.0005),
    steps: 80,
  },
  {
    name: 'CosineAnnealingWarmRestarts with TMult = 1',
    make: (opt) => new CosineAnnealingWarmRestarts(opt, { T0: 9 }),
    expected: (s, i) => warmRestartLr(s, BASE[i], 9, 1, 0),
  },
  {
    name: 'WarmupCosineScheduler (textbook)',
    make: (opt) => new WarmupCosineScheduler(opt, { warmupSteps: 10, totalSteps: 50, minLr: [0.001, 0.0001] }),
    expected: (s, i) => {
      const minLr = [0.001, 0.0001][i];
      if (s < 10) return (BASE[i] * s) / 10;
      if (s >= 50) return minLr;
      const progress = (s - 10) / (50 - 10);
      return minLr + 0.5 * (BASE[i] - minLr) * (1 + Math.cos(Math.PI * progress));
    },
    steps: 70,
  },
  {
    name: 'StepScheduler (textbook)',
    make: (opt) => new StepScheduler(opt, { stepSize: 6, gamma: 0.5 }),
    expected: (s, i) => BASE[i] * 0.5 ** Math.floor(s / 6),
  },
  {
    name: 'CyclicLR triangular (asymmetric)',
    make: (opt) => new CyclicLR(opt, { baseLr: [0.01, 0.001], maxLr: [0.1, 0.005], stepSizeUp: 8, stepSizeDown: 4 }),
    expected: (s, i) => [0.01, 0.001][i] + ([0.1, 0.005][i] - [0.01, 0.001][i]) * triangle(s, 8, 4).height,
    steps: 70,
  },
  {
    name: 'CyclicLR triangular2',
    make: (opt) => new CyclicLR(opt, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 5, mode: 'triangular2' }),
    expected: (s) => {
      const { height, cycle } = triangle(s, 5, 5);
      return 0.01 + (0.1 - 0.01) * height * 0.5 ** (cycle - 1);
    },
  },
  {
    name: 'CyclicLR exp_range',
    make: (opt) => new CyclicLR(opt, { baseLr: [0.01, 0.002], maxLr: [0.1, 0.02], stepSizeUp: 6, mode: 'exp_range', gamma: 0.98 }),
    expected: (s, i) => [0.01, 0.002][i] + ([0.1, 0.02][i] - [0.01, 0.002][i]) * triangle(s, 6, 6).height * 0.98 ** s,
  },
  {
    name: 'OneCycleLR cos',
    make: (opt) => new OneCycleLR(opt, { maxLr: [0.1, 0.02], totalSteps: 100 }),
    expected: (s, i) => {
      const max = [0.1, 0.02][i];
      const initial = max / 25;
      const min = initial / 1e4;
      return s <= 29 ? cosAnneal(initial, max, s / 29) : cosAnneal(max, min, (s - 29) / 70);
    },
    steps: 100,
  },
  {
    name: 'SequentialLR: LinearLR warmup, ExponentialLR, then CosineAnnealingLR',
    make: (opt) =>
      new SequentialLR(opt, {
        schedulers: [
          new LinearLR(opt, { startFactor: 0.1, endFactor: 1, totalIters: 10 }),
          new ExponentialLR(opt, { gamma: 0.9 }),
          new CosineAnnealingLR(opt, { TMax: 20 }),
        ],
        milestones: [10, 30],
      }),
    expected: (s, i) => {
      if (s < 10) return BASE[i] * (0.1 + (0.9 * s) / 10);
      if (s < 30) return BASE[i] * 0.9 ** (s - 10);
      return (BASE[i] * (1 + Math.cos((Math.PI * (s - 30)) / 20))) / 2;
    },
    steps: 60,
  },
  {
    name: 'ChainedScheduler: ConstantLR · ExponentialLR',
    make: (opt) => new ChainedScheduler([new ConstantLR(opt, { factor: 0.1, totalIters: 20 }), new ExponentialLR(opt, { gamma: 0.9 })]),
    expected: (s, i) => BASE[i] * 0.9 ** s * (s < 20 ? 0.1 : 1),
  },
  {
    name: 'ChainedScheduler: LinearLR · StepLR · ExponentialLR',
    make: (opt) =>
      new ChainedScheduler(
        [
          new LinearLR(opt, { startFactor: 0.5, totalIters: 10 }),
          new StepLR(opt, { stepSize: 15, gamma: 0.5 }),
          new ExponentialLR(opt, { gamma: 0.99 }),
        ],
        opt,
      ),
    expected: (s, i) => BASE[i] * (0.5 + (0.5 * Math.min(s, 10)) / 10) * 0.5 ** Math.floor(s / 15) * 0.99 ** s,
  },
];

describe('schedulers', () => {
  describe('schedules, from their formulas, group by group', () => {
    for (const c of CASES) {
      it(c.name, () => {
        const optimizer = sgd();
        const scheduler = c.make(optimizer);
        checkSchedule(scheduler, optimizer, c.steps ?? 65, c.expected);
        expect(scheduler.lastEpoch).to.equal(c.steps ?? 65);
      });
    }
  });

  describe('stateDict / loadStateDict mid-schedule, through JSON, into a new optimizer and scheduler', () => {
    for (const c of CASES) {
      it(c.name, () => checkRoundTrip(c.make));
    }
    it('CyclicLR and OneCycleLR restore the momentum too (betas)', () => {
      checkRoundTrip((opt) => new CyclicLR(opt, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 7 }), adam);
      checkRoundTrip((opt) => new OneCycleLR(opt, { maxLr: 0.1, totalSteps: 70, threePhase: true }), adam, 20, 45);
    });
    it('CosineAnnealingWarmRestarts after a fractional step(epoch)', () => {
      checkRoundTrip((opt) => {
        const s = new CosineAnnealingWarmRestarts(opt, { T0: 4, TMult: 3 });
        s.step(2.25);
        return s;
      });
    });
  });

  describe('construction', () => {
    it('sets the lr of step 0 before the first optimizer step, unlike the textbook (0 for a warmup)', () => {
      const opt = sgd();
      new WarmupCosineScheduler(opt, { warmupSteps: 5, totalSteps: 20 });
      expect(opt.paramGroups.map((g) => g.lr)).to.deep.equal([0, 0]);
      const opt2 = sgd();
      new LinearLR(opt2, { startFactor: 0.5 });
      expect(opt2.paramGroups.map((g) => g.lr)).to.deep.equal([0.05, 0.005]);
    });

    it('stores initialLr in every group, and keeps one already there (a second scheduler starts from the same base)', () => {
      const opt = sgd();
      new ConstantLR(opt, { factor: 0.5 });
      expect(opt.paramGroups.map((g) => g.initialLr)).to.deep.equal(BASE);
      const second = new ExponentialLR(opt, { gamma: 0.5 });
      expect(second.baseLrs).to.deep.equal(BASE);
    });

    it('resuming with lastEpoch uses the initialLr stored in the groups, and requires it', () => {
      const opt = sgd();
      opt.paramGroups.forEach((g, i) => {
        g.lr = 123; // whatever the lr was left at; the textbook schedules are closed forms of the base
        g.initialLr = BASE[i];
      });
      const s = new StepScheduler(opt, { stepSize: 4, gamma: 0.5, lastEpoch: 9 });
      expect(s.lastEpoch).to.equal(10);
      expect(s.getLastLr()).to.deep.equal([0.1 * 0.25, 0.01 * 0.25]);
      expectRejected(sgd(), (o) => new StepLR(o, { stepSize: 3, lastEpoch: 4 }), RangeError, 'ERR_INVALID_ARG_VALUE', 'paramGroups[0].initialLr');
    });

    it('MultiStepLR resumed just before a repeated milestone decays twice on its first step', () => {
      const opt = sgd();
      opt.paramGroups.forEach((g, i) => {
        g.initialLr = BASE[i];
      });
      const s = new MultiStepLR(opt, { milestones: [3, 3, 8], gamma: 0.5, lastEpoch: 2 });
      expect(s.getLastLr()).to.deep.equal([0.1 * 0.25, 0.01 * 0.25]);
    });

    it('WarmupCosineScheduler: warmupSteps = 0 starts at the peak; warmupSteps = totalSteps has no cosine phase', () => {
      const opt = sgd();
      const atPeak = new WarmupCosineScheduler(opt, { warmupSteps: 0, totalSteps: 10 });
      checkSchedule(atPeak, opt, 12, (s, i) => (s >= 10 ? 0 : 0.5 * BASE[i] * (1 + Math.cos((Math.PI * s) / 10))));
      const opt2 = sgd();
      const noCosine = new WarmupCosineScheduler(opt2, { warmupSteps: 8, totalSteps: 8, minLr: 0.002 });
      checkSchedule(noCosine, opt2, 12, (s, i) => (s < 8 ? (BASE[i] * s) / 8 : 0.002));
    });
  });

  describe('bad input at construction throws, names the argument, and leaves the groups untouched', () => {
    const badOptions = { factor: 0.5, totalIters: 2, surprise: 1 } as unknown as { factor: number };
    const cases: Array<[string, (o: FakeOptimizer) => unknown, typeof TypeError | typeof RangeError, string, string | RegExp]> = [
      ['stepSize = 0', (o) => new StepLR(o, { stepSize: 0 }), RangeError, 'ERR_OUT_OF_RANGE', 'StepLR: stepSize: expected an integer >= 1, got 0'],
      ['stepSize < 0', (o) => new StepScheduler(o, { stepSize: -2 }), RangeError, 'ERR_OUT_OF_RANGE', 'StepScheduler: stepSize'],
      ['stepSize not an integer', (o) => new StepLR(o, { stepSize: 2.5 }), RangeError, 'ERR_OUT_OF_RANGE', 'StepLR: stepSize'],
      ['stepSize missing', (o) => new StepLR(o, {} as { stepSize: number }), TypeError, 'ERR_INVALID_ARG_TYPE', 'StepLR: stepSize'],
      ['gamma of the wrong type', (o) => new ExponentialLR(o, { gamma: '0.9' as unknown as number }), TypeError, 'ERR_INVALID_ARG_TYPE', 'ExponentialLR: gamma'],
      ['gamma NaN', (o) => new StepLR(o, { stepSize: 2, gamma: NaN }), RangeError, 'ERR_NON_FINITE', 'StepLR: gamma'],
      ['unknown option key', (o) => new ConstantLR(o, badOptions), RangeError, 'ERR_INVALID_ARG_VALUE', 'ConstantLR: options: unknown option "surprise"'],
      ['milestones decreasing', (o) => new MultiStepLR(o, { milestones: [10, 5] }), RangeError, 'ERR_INVALID_ARG_VALUE', 'MultiStepLR: milestones: expected non-decreasing values, got 10 then 5 at index 1'],
      ['warmupSteps > totalSteps', (o) => new WarmupCosineScheduler(o, { warmupSteps: 11, totalSteps: 10 }), RangeError, 'ERR_OUT_OF_RANGE', 'WarmupCosineScheduler: warmupSteps'],
      ['ConstantLR factor = 0', (o) => new ConstantLR(o, { factor: 0 }), RangeError, 'ERR_OUT_OF_RANGE', 'ConstantLR: factor'],
      ['LinearLR startFactor > 1', (o) => new LinearLR(o, { startFactor: 1.5 }), RangeError, 'ERR_OUT_OF_RANGE', 'LinearLR: startFactor'],
      ['CosineAnnealingLR TMax = 0', (o) => new CosineAnnealingLR(o, { TMax: 0 }), RangeError, 'ERR_OUT_OF_RANGE', 'CosineAnnealingLR: TMax'],
      ['CosineAnnealingWarmRestarts TMult = 1.5', (o) => new CosineAnnealingWarmRestarts(o, { T0: 3, TMult: 1.5 }), RangeError, 'ERR_OUT_OF_RANGE', 'CosineAnnealingWarmRestarts: TMult'],
      ['lastEpoch < -1', (o) => new ExponentialLR(o, { gamma: 0.9, lastEpoch: -2 }), RangeError, 'ERR_OUT_OF_RANGE', 'ExponentialLR: lastEpoch'],
      ['per-group maxLr of the wrong length', (o) => new OneCycleLR(o, { maxLr: [0.1, 0.2, 0.3], totalSteps: 10 }), RangeError, 'ERR_SHAPE_MISMATCH', 'OneCycleLR: maxLr'],
      ['per-group baseLr of the wrong length', (o) => new CyclicLR(o, { baseLr: [0.1], maxLr: 1 }), RangeError, 'ERR_SHAPE_MISMATCH', 'CyclicLR: baseLr'],
      ['per-group lrLambda of the wrong length', (o) => new LambdaLR(o, { lrLambda: [() => 1] }), RangeError, 'ERR_SHAPE_MISMATCH', 'LambdaLR: lrLambda'],
      ['lrLambda not a function', (o) => new MultiplicativeLR(o, { lrLambda: [() => 1, 2 as unknown as () => number] }), TypeError, 'ERR_INVALID_ARG_TYPE', 'MultiplicativeLR: lrLambda[1]'],
      ['per-group minLr of the wrong length', (o) => new ReduceLROnPlateau(o, { minLr: [0, 0, 0] }), RangeError, 'ERR_SHAPE_MISMATCH', 'ReduceLROnPlateau: minLr'],
      ['ReduceLROnPlateau factor >= 1', (o) => new ReduceLROnPlateau(o, { factor: 1 }), RangeError, 'ERR_OUT_OF_RANGE', 'ReduceLROnPlateau: factor'],
      ['ReduceLROnPlateau unknown mode', (o) => new ReduceLROnPlateau(o, { mode: 'minimum' as 'min' }), RangeError, 'ERR_INVALID_ARG_VALUE', 'ReduceLROnPlateau: mode'],
      ['OneCycleLR without totalSteps or epochs', (o) => new OneCycleLR(o, { maxLr: 0.1 }), RangeError, 'ERR_INVALID_ARG_VALUE', 'OneCycleLR: totalSteps'],
      ['OneCycleLR epochs without stepsPerEpoch', (o) => new OneCycleLR(o, { maxLr: 0.1, epochs: 3 }), TypeError, 'ERR_INVALID_ARG_TYPE', 'OneCycleLR: stepsPerEpoch'],
      ['OneCycleLR threePhase with pctStart > 0.5', (o) => new OneCycleLR(o, { maxLr: 0.1, totalSteps: 10, threePhase: true, pctStart: 0.6 }), RangeError, 'ERR_OUT_OF_RANGE', 'OneCycleLR: pctStart'],
      ['CyclicLR unknown mode', (o) => new CyclicLR(o, { baseLr: 0.1, maxLr: 1, mode: 'sine' as 'triangular' }), RangeError, 'ERR_INVALID_ARG_VALUE', 'CyclicLR: mode'],
      ['a lambda giving NaN at step 0 (before initialLr is stored)', (o) => new LambdaLR(o, { lrLambda: () => NaN }), RangeError, 'ERR_NON_FINITE', 'LambdaLR: lrLambda(0)'],
      ['SequentialLR over a scheduler of another optimizer', (o) => new SequentialLR(o, { schedulers: [new StepLR(sgd(), { stepSize: 1 })], milestones: [] }), RangeError, 'ERR_INVALID_ARG_VALUE', 'SequentialLR: schedulers[0]: schedules another optimizer'],
    ];
    for (const [what, construct, type, code, message] of cases) {
      it(what, () => expectRejected(sgd(), construct, type, code, message));
    }

    it('momentum cycling on a group with neither momentum nor betas', () => {
      const mixed = (): FakeOptimizer => ({ paramGroups: [{ lr: 0.1, momentum: 0.9 }, { lr: 0.01 }] });
      expectRejected(mixed(), (o) => new CyclicLR(o, { baseLr: 0.01, maxLr: 0.1 }), RangeError, 'ERR_INVALID_ARG_VALUE', 'CyclicLR: cycleMomentum: optimizer.paramGroups[1] has neither momentum nor betas');
      expectRejected(mixed(), (o) => new OneCycleLR(o, { maxLr: 0.1, totalSteps: 10 }), RangeError, 'ERR_INVALID_ARG_VALUE', 'OneCycleLR: cycleMomentum');
      const plain = { paramGroups: [{ lr: 0.1 }] };
      new OneCycleLR(plain, { maxLr: 0.1, totalSteps: 10, cycleMomentum: false });
      expect(plain.paramGroups[0]).to.not.have.property('momentum');
    });

    it('SequentialLR: milestones not increasing, or not one fewer than the schedulers', () => {
      for (const [milestones, message] of [
        [[5, 5], 'SequentialLR: milestones: expected strictly increasing'],
        [[5], 'SequentialLR: milestones: expected 2 milestones'],
      ] as const) {
        const opt = sgd();
        const schedulers = [new ExponentialLR(opt, { gamma: 0.9 }), new StepLR(opt, { stepSize: 2 }), new ConstantLR(opt)];
        // Building the schedulers wrote the groups; SequentialLR must not change them, nor the schedulers, any further.
        const before = structuredClone(opt.paramGroups);
        expect(() => new SequentialLR(opt, { schedulers, milestones: [...milestones] })).to.throw(RangeError, message);
        expect(opt.paramGroups).to.deep.equal(before);
        expect(schedulers.map((s) => s.lastEpoch)).to.deep.equal([0, 0, 0]);
      }
    });

    it('composites take only LRSchedulers of the one optimizer, each once', () => {
      const opt = sgd();
      const exp = new ExponentialLR(opt, { gamma: 0.9 });
      expect(() => new ChainedScheduler([])).to.throw(RangeError, 'ChainedScheduler: schedulers: expected at least one scheduler');
      expect(() => new ChainedScheduler([exp, exp])).to.throw(RangeError, 'ChainedScheduler: schedulers[1]: the same scheduler as');
      expect(() => new ChainedScheduler([exp, new ReduceLROnPlateau(opt) as unknown as LRScheduler])).to.throw(RangeError, 'ReduceLROnPlateau cannot be composed');
      expect(() => new ChainedScheduler([exp, {} as LRScheduler])).to.throw(TypeError, 'ChainedScheduler: schedulers[1]: expected an LRScheduler');
      expect(() => new ChainedScheduler([exp], sgd())).to.throw(RangeError, 'schedules another optimizer');
    });

    it('an optimizer without param groups, or with a bad lr', () => {
      expectRejected({ paramGroups: [] }, (o) => new StepLR(o, { stepSize: 1 }), RangeError, 'ERR_INVALID_ARG_VALUE', 'StepLR: optimizer.paramGroups');
      expectRejected({ paramGroups: [{ lr: -1 }] }, (o) => new StepLR(o, { stepSize: 1 }), RangeError, 'ERR_OUT_OF_RANGE', 'StepLR: optimizer.paramGroups[0].lr');
      expect(() => new StepLR({} as FakeOptimizer, { stepSize: 1 })).to.throw(TypeError, 'StepLR: optimizer.paramGroups');
    });
  });

  describe('loadStateDict checks everything first', () => {
    it('rejects a state dict of another scheduler, a wrong group count, a bad setting; and changes nothing', () => {
      const opt = sgd();
      const s = new StepLR(opt, { stepSize: 3 });
      for (let i = 0; i < 4; i++) s.step();
      const before = { sd: s.stateDict(), groups: structuredClone(opt.paramGroups) };
      const good = s.stateDict();
      const bad = [
        [new ExponentialLR(sgd(), { gamma: 0.5 }).stateDict(), 'StepLR: loadStateDict: stateDict.scheduler: expected "StepLR", got "ExponentialLR"'],
        [{ ...good, lastLr: [0.1] }, 'StepLR: loadStateDict: stateDict.lastLr'],
        [{ ...good, stepSize: 0 }, 'StepLR: loadStateDict: stateDict.stepSize: expected an integer >= 1, got 0'],
        [{ ...good, gamma: undefined }, 'StepLR: loadStateDict: stateDict.gamma'],
        ['not a state dict', 'StepLR: loadStateDict: stateDict'],
      ] as const;
      for (const [sd, message] of bad) {
        expectError(() => s.loadStateDict(sd), { type: RangeError, code: 'ERR_STATE_DICT_MISMATCH', mentions: [message] }, 'loadStateDict');
        expect(s.stateDict()).to.deep.equal(before.sd);
        expect(opt.paramGroups).to.deep.equal(before.groups);
      }
    });

    it('restores settings too, as PyTorch (the state dict wins over the constructor)', () => {
      const a = new StepLR(sgd(), { stepSize: 3, gamma: 0.5 });
      const opt = sgd();
      const b = new StepLR(opt, { stepSize: 10 });
      b.loadStateDict(a.stateDict());
      for (let i = 0; i < 3; i++) b.step();
      expectClose(opt.paramGroups[0].lr, 0.05, 'lr after the restored stepSize');
    });

    it('a composite checks every nested state before loading any', () => {
      const make = (opt: FakeOptimizer) =>
        new SequentialLR(opt, { schedulers: [new ConstantLR(opt), new ExponentialLR(opt, { gamma: 0.9 })], milestones: [5] });
      const a = make(sgd());
      for (let i = 0; i < 8; i++) a.step();
      const sd = a.stateDict();
      const opt = sgd();
      const b = make(opt);
      const before = { sd: b.stateDict(), groups: structuredClone(opt.paramGroups) };
      const broken = structuredClone(sd) as unknown as { schedulers: Array<Record<string, unknown>> };
      broken.schedulers[1].gamma = -1;
      expect(() => b.loadStateDict(broken)).to.throw(RangeError, 'SequentialLR: loadStateDict: stateDict.schedulers[1].gamma');
      expect(b.stateDict()).to.deep.equal(before.sd);
      expect(opt.paramGroups).to.deep.equal(before.groups);
    });
  });

  describe('CyclicLR', () => {
    it('cycles SGD momentum inversely to the lr, and stores the bounds in the groups', () => {
      const opt = sgd();
      const s = new CyclicLR(opt, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 5, stepSizeDown: 3, baseMomentum: [0.8, 0.85], maxMomentum: 0.95 });
      expect(opt.paramGroups.map((g) => [g.initialLr, g.baseMomentum, g.maxMomentum])).to.deep.equal([
        [0.01, 0.8, 0.95],
        [0.01, 0.85, 0.95],
      ]);
      checkSchedule(
        s,
        opt,
        64,
        (t) => 0.01 + 0.09 * triangle(t, 5, 3).height,
        (t) => [0.8, 0.85].forEach((base, i) => expectClose(momentumOf(opt, i), 0.95 - (0.95 - base) * triangle(t, 5, 3).height, `momentum ${i} at ${t}`)),
      );
    });

    it("cycles Adam's beta1, keeping beta2, replacing the betas array rather than mutating it", () => {
      const opt = adam();
      const s = new CyclicLR(opt, { baseLr: [0.001, 0.0001], maxLr: [0.01, 0.001], stepSizeUp: 4, mode: 'triangular2' });
      const original = opt.paramGroups[0].betas as number[];
      checkSchedule(
        s,
        opt,
        60,
        (t, i) => {
          const { height, cycle } = triangle(t, 4, 4);
          return [0.001, 0.0001][i] + ([0.01, 0.001][i] - [0.001, 0.0001][i]) * height * 0.5 ** (cycle - 1);
        },
        (t) => {
          const { height, cycle } = triangle(t, 4, 4);
          for (const group of opt.paramGroups) {
            const betas = group.betas as number[];
            expectClose(betas[0], 0.9 - (0.9 - 0.8) * height * 0.5 ** (cycle - 1), `beta1 at ${t}`);
            expect(betas[1]).to.equal(0.999);
          }
        },
      );
      expect(original).to.deep.equal([0.9, 0.999]);
      expect(opt.paramGroups[0].betas).to.not.equal(original);
    });

    it('a custom scaleFn of the step (scaleMode iterations) or of the cycle', () => {
      const opt = sgd();
      const s = new CyclicLR(opt, { baseLr: 0.01, maxLr: 0.05, stepSizeUp: 3, scaleFn: (x) => 1 / (1 + x), scaleMode: 'iterations', cycleMomentum: false });
      checkSchedule(s, opt, 60, (t) => 0.01 + 0.04 * triangle(t, 3, 3).height * (1 / (1 + t)));
      expect(opt.paramGroups[0].momentum).to.equal(0.9);
      const opt2 = sgd();
      const byCycle = new CyclicLR(opt2, { baseLr: 0.01, maxLr: 0.05, stepSizeUp: 3, scaleFn: (cycle) => 1 / cycle });
      checkSchedule(byCycle, opt2, 60, (t) => 0.01 + 0.04 * triangle(t, 3, 3).height * (1 / triangle(t, 3, 3).cycle));
    });

    it('a scaleFn returning a non-number stops the step before anything is written', () => {
      const opt = sgd();
      const s = new CyclicLR(opt, { baseLr: 0.01, maxLr: 0.05, stepSizeUp: 3, scaleFn: (x) => (x > 2 ? (undefined as unknown as number) : 1), scaleMode: 'iterations' });
      s.step();
      s.step();
      const before = structuredClone(opt.paramGroups);
      expect(() => s.step()).to.throw(TypeError, 'CyclicLR: scaleFn(3)');
      expect(opt.paramGroups).to.deep.equal(before);
      expect(s.lastEpoch).to.equal(2);
    });
  });

  describe('OneCycleLR', () => {
    const bounds = (i: number) => {
      const max = [0.1, 0.02][i];
      return { max, initial: max / 25, min: max / 25 / 1e4 };
    };

    it('cycles momentum and stores its bounds in the groups', () => {
      const opt = sgd();
      const s = new OneCycleLR(opt, { maxLr: [0.1, 0.02], totalSteps: 100 });
      expect(opt.paramGroups[1]).to.include({ initialLr: 0.02 / 25, maxLr: 0.02, minLr: 0.02 / 25 / 1e4, maxMomentum: 0.95, baseMomentum: 0.85 });
      checkSchedule(
        s,
        opt,
        100,
        (t, i) => (t <= 29 ? cosAnneal(bounds(i).initial, bounds(i).max, t / 29) : cosAnneal(bounds(i).max, bounds(i).min, (t - 29) / 70)),
        (t) => expectClose(momentumOf(opt, 0), t <= 29 ? cosAnneal(0.95, 0.85, t / 29) : cosAnneal(0.85, 0.95, (t - 29) / 70), `momentum at ${t}`),
      );
    });

    it('linear annealing, totalSteps from epochs · stepsPerEpoch', () => {
      const opt = sgd();
      const s = new OneCycleLR(opt, { maxLr: [0.1, 0.02], epochs: 8, stepsPerEpoch: 10, pctStart: 0.25, annealStrategy: 'linear', divFactor: 10, finalDivFactor: 100 });
      const lin = (a: number, b: number, pct: number) => a + (b - a) * pct;
      checkSchedule(s, opt, 80, (t, i) => {
        const max = [0.1, 0.02][i];
        return t <= 19 ? lin(max / 10, max, t / 19) : lin(max, max / 10 / 100, (t - 19) / 60);
      });
    });

    it('three phases, cycling Adam beta1', () => {
      const opt = adam();
      const s = new OneCycleLR(opt, { maxLr: [0.1, 0.02], totalSteps: 80, pctStart: 0.25, threePhase: true });
      const phase = (t: number): [number, 'up' | 'down' | 'anneal', number] =>
        t <= 19 ? [t / 19, 'up', 0] : t <= 38 ? [(t - 19) / 19, 'down', 0] : [(t - 38) / 41, 'anneal', 0];
      checkSchedule(
        s,
        opt,
        80,
        (t, i) => {
          const [pct, which] = phase(t);
          const b = bounds(i);
          if (which === 'up') return cosAnneal(b.initial, b.max, pct);
          if (which === 'down') return cosAnneal(b.max, b.initial, pct);
          return cosAnneal(b.initial, b.min, pct);
        },
        (t) => {
          const [pct, which] = phase(t);
          const beta1 = which === 'up' ? cosAnneal(0.95, 0.85, pct) : which === 'down' ? cosAnneal(0.85, 0.95, pct) : 0.95;
          expectClose((opt.paramGroups[1].betas as number[])[0], beta1, `beta1 at ${t}`);
          expect((opt.paramGroups[1].betas as number[])[1]).to.equal(0.999);
        },
      );
    });

    it('stepping past totalSteps throws a RangeError and changes nothing', () => {
      const opt = sgd();
      const s = new OneCycleLR(opt, { maxLr: 0.1, totalSteps: 10 });
      for (let i = 0; i < 10; i++) s.step();
      const before = { groups: structuredClone(opt.paramGroups), lastLr: s.getLastLr() };
      expectError(() => s.step(), { type: RangeError, code: 'ERR_OUT_OF_RANGE', mentions: ['totalSteps = 10'] }, 'step');
      expect(s.lastEpoch).to.equal(10);
      expect(s.getLastLr()).to.deep.equal(before.lastLr);
      expect(opt.paramGroups).to.deep.equal(before.groups);
    });

    it('a warmup phase of zero width is at its peak at once (PyTorch divides by zero)', () => {
      const opt = sgd();
      // pctStart · totalSteps − 1 = 0: the warmup ends where it starts.
      const s = new OneCycleLR(opt, { maxLr: [0.1, 0.02], totalSteps: 10, pctStart: 0.1 });
      checkSchedule(s, opt, 10, (t, i) => cosAnneal(bounds(i).max, bounds(i).min, t / 9));
    });
  });

  describe('CosineAnnealingWarmRestarts: step(epoch)', () => {
    it('jumps to a fractional epoch, and step() continues from there as in PyTorch', () => {
      const opt = sgd();
      const s = new CosineAnnealingWarmRestarts(opt, { T0: 5, TMult: 2, etaMin: 0.001 });
      const at = (Tcur: number, Ti: number, i: number) => 0.001 + ((BASE[i] - 0.001) * (1 + Math.cos((Math.PI * Tcur) / Ti))) / 2;
      s.step(7.5); // cycle 1: steps 5..15, Ti = 10
      expect(s.lastEpoch).to.equal(7);
      s.getLastLr().forEach((lr, i) => expectClose(lr, at(2.5, 10, i), 'lr at epoch 7.5'));
      s.step(); // Tcur 3.5
      expect(s.lastEpoch).to.equal(8);
      s.getLastLr().forEach((lr, i) => expectClose(lr, at(3.5, 10, i), 'lr one step after 7.5'));
      s.step(2.25);
      s.getLastLr().forEach((lr, i) => expectClose(lr, at(2.25, 5, i), 'lr back at 2.25'));
    });

    it('finds the cycle exactly at cycle boundaries, however far', () => {
      const opt = sgd();
      const s = new CosineAnnealingWarmRestarts(opt, { T0: 5, TMult: 3 });
      for (let n = 1; n <= 12; n++) {
        const start = (5 * (3 ** n - 1)) / 2;
        s.step(start);
        expect(s.getLastLr(), `restart ${n} at epoch ${start}`).to.deep.equal(BASE);
      }
      expect(() => s.step(-1)).to.throw(RangeError, 'CosineAnnealingWarmRestarts: step: epoch');
    });
  });

  describe('composition', () => {
    it('SequentialLR restarts each scheduler at its milestone from the closed form (StepLR after a warmup)', () => {
      const opt = sgd();
      const s = new SequentialLR(opt, {
        schedulers: [new ConstantLR(opt, { factor: 0.5, totalIters: 100 }), new StepLR(opt, { stepSize: 4, gamma: 0.5 })],
        milestones: [6],
      });
      checkSchedule(s, opt, 60, (t, i) => (t < 6 ? BASE[i] * 0.5 : BASE[i] * 0.5 ** Math.floor((t - 6) / 4)));
    });

    it('a ChainedScheduler step that fails in one scheduler puts every scheduler and group back', () => {
      const opt = sgd();
      const exp = new ExponentialLR(opt, { gamma: 0.5 });
      const oneCycle = new OneCycleLR(opt, { maxLr: 0.1, totalSteps: 3 });
      const chain = new ChainedScheduler([exp, oneCycle]);
      for (let i = 0; i < 3; i++) chain.step();
      const before = { groups: structuredClone(opt.paramGroups), exp: exp.stateDict(), chain: chain.stateDict() };
      expect(() => chain.step()).to.throw(RangeError, 'OneCycleLR: step');
      expect(opt.paramGroups).to.deep.equal(before.groups);
      expect(exp.stateDict()).to.deep.equal(before.exp);
      expect(chain.stateDict()).to.deep.equal(before.chain);
    });

    it('a ChainedScheduler nested in a SequentialLR', () => {
      const opt = sgd();
      const warmup = new LinearLR(opt, { startFactor: 0.25, totalIters: 4 });
      const chain = new ChainedScheduler([new StepLR(opt, { stepSize: 5, gamma: 0.5 }), new ExponentialLR(opt, { gamma: 0.9 })]);
      const s = new SequentialLR(opt, { schedulers: [warmup, chain], milestones: [4] });
      checkSchedule(s, opt, 60, (t, i) => (t < 4 ? BASE[i] * (0.25 + (0.75 * t) / 4) : BASE[i] * 0.5 ** Math.floor((t - 4) / 5) * 0.9 ** (t - 4)));
    });
  });

  describe('ReduceLROnPlateau', () => {
    function feed(s: ReduceLROnPlateau, opt: FakeOptimizer, metrics: number[]): number[][] {
      return metrics.map((m) => {
        s.step(m);
        return opt.paramGroups.map((g) => g.lr);
      });
    }

    it('does not touch the lr at construction', () => {
      const opt = sgd();
      const s = new ReduceLROnPlateau(opt);
      expect(opt.paramGroups).to.deep.equal(sgd().paramGroups);
      expect(s.getLastLr()).to.deep.equal(BASE);
    });

    it('patience: with a flat metric, reduces after patience + 1 bad steps, every patience + 1 steps (65 steps)', () => {
      const opt = sgd();
      const s = new ReduceLROnPlateau(opt, { factor: 0.5, patience: 2, eps: 0 }); // eps 0: group 1's reductions shrink below 1e-8
      // Step 1 sets the best; reductions at steps 4, 7, 10, ...: floor((t − 1) / 3) of them by step t.
      checkSchedule({ step: () => s.step(1), getLastLr: () => s.getLastLr() }, opt, 65, (t, i) => BASE[i] * 0.5 ** Math.floor(Math.max(t - 1, 0) / 3));
    });

    it('cooldown: bad steps during cooldown do not count; minLr floors each group (65 steps)', () => {
      const opt = sgd();
      const s = new ReduceLROnPlateau(opt, { factor: 0.7, patience: 2, cooldown: 1, minLr: [0.002, 0.0005] });
      // Reductions at steps 4, 8, 12, ... (patience + 1 bad steps, then 1 step of cooldown).
      const reductions = (t: number) => (t < 4 ? 0 : 1 + Math.floor((t - 4) / 4));
      checkSchedule({ step: () => s.step(3), getLastLr: () => s.getLastLr() }, opt, 65, (t, i) =>
        Math.max(BASE[i] * 0.7 ** reductions(t), [0.002, 0.0005][i]),
      );
    });

    it('threshold modes: rel compares with best · (1 − threshold), abs with best − threshold', () => {
      const rel = new ReduceLROnPlateau(sgd(), { threshold: 0.1 });
      rel.step(10);
      rel.step(9.5); // needs < 9
      expect([rel.best, rel.numBadEpochs]).to.deep.equal([10, 1]);
      rel.step(8.9);
      expect([rel.best, rel.numBadEpochs]).to.deep.equal([8.9, 0]);
      const abs = new ReduceLROnPlateau(sgd(), { threshold: 0.1, thresholdMode: 'abs' });
      abs.step(10);
      abs.step(9.95); // needs < 9.9
      expect([abs.best, abs.numBadEpochs]).to.deep.equal([10, 1]);
      abs.step(9.5);
      expect([abs.best, abs.numBadEpochs]).to.deep.equal([9.5, 0]);
    });

    it("mode max: higher is better (rel: > best · (1 + threshold); abs: > best + threshold)", () => {
      const opt = sgd();
      const s = new ReduceLROnPlateau(opt, { mode: 'max', patience: 1, factor: 0.5, threshold: 0.1, thresholdMode: 'abs' });
      const lrs = feed(s, opt, [0.5, 0.55, 0.58, 0.7, 0.6, 0.65]);
      // 0.5 best; 0.55 bad (needs > 0.6); 0.58 bad → reduce; 0.7 best; 0.6 bad; 0.65 bad → reduce
      expect(lrs.map((l) => l[0])).to.deep.equal([0.1, 0.1, 0.05, 0.05, 0.05, 0.025]);
      expect(s.best).to.equal(0.7);
      const rel = new ReduceLROnPlateau(sgd(), { mode: 'max', threshold: 0.1 });
      rel.step(1);
      rel.step(1.05); // needs > 1.1
      expect(rel.best).to.equal(1);
      rel.step(1.2);
      expect(rel.best).to.equal(1.2);
    });

    it('eps: a reduction of eps or less is skipped', () => {
      const opt = sgd();
      const s = new ReduceLROnPlateau(opt, { patience: 0, factor: 0.5, minLr: [0.1 - 1e-9, 0], eps: 1e-8 });
      feed(s, opt, [1, 1]);
      expect(opt.paramGroups.map((g) => g.lr)).to.deep.equal([0.1, 0.005]);
      const opt2 = sgd();
      const noEps = new ReduceLROnPlateau(opt2, { patience: 0, factor: 0.5, minLr: [0.1 - 1e-9, 0], eps: 0 });
      feed(noEps, opt2, [1, 1]);
      expect(opt2.paramGroups[0].lr).to.equal(0.1 - 1e-9);
    });

    it('a NaN metric is never better: it counts as a bad step; a non-number is a TypeError', () => {
      const opt = sgd();
      const s = new ReduceLROnPlateau(opt, { patience: 1 });
      feed(s, opt, [NaN, NaN]);
      expect(s.best).to.equal(Infinity);
      expect(opt.paramGroups[0].lr).to.be.closeTo(0.01, 1e-15);
      expect(() => s.step('1' as unknown as number)).to.throw(TypeError, 'ReduceLROnPlateau: step: metric');
    });

    it('stateDict round trip through JSON, Infinity best included, into a new optimizer', () => {
      const make = (opt: FakeOptimizer) => new ReduceLROnPlateau(opt, { mode: 'max', patience: 2, cooldown: 2, factor: 0.5, minLr: [0.001, 0.0001] });
      const optA = sgd();
      const a = make(optA);
      const fresh = JSON.parse(JSON.stringify(a.stateDict()));
      expect(fresh.best).to.equal('-Infinity');
      const metrics = [1, 0.9, 0.8, 0.7, 1.2, 1.1, 1, 0.9, 0.8, 0.7, 0.6, 1.5, 1.4];
      feed(a, optA, metrics.slice(0, 7));
      const optB = sgd();
      const b = make(optB);
      b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
      expect(feed(b, optB, metrics.slice(7))).to.deep.equal(feed(a, optA, metrics.slice(7)));
      expect(b.stateDict()).to.deep.equal(a.stateDict());
      const c = make(sgd());
      c.loadStateDict(fresh);
      expect(c.best).to.equal(-Infinity);
      expect(() => c.loadStateDict({ ...fresh, numBadEpochs: -1 })).to.throw(RangeError, 'ReduceLROnPlateau: loadStateDict: stateDict.numBadEpochs');
    });
  });
});
