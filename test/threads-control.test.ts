/**
 * Thread control (issue 6): setNumThreads(n) is passed with every kernel call,
 * and a call with n = 1 really runs on one OS thread. "Really" is checked with
 * the addon's threadProbe, which drives the kernels' own work splitting
 * (multi_tensor.h) and reports the distinct threads that ran it: a
 * deterministic answer, unlike comparing CPU time with wall time on a noisy
 * two-core machine.
 */
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { addonInfo, clipGradNorm, clipGradNormAsync, getNumThreads, setNumThreads } from '../lib';
import type { Tensor } from '../lib';
import { Addon, loadAddon } from '../lib/native';
import { OPTIMIZER_CASES, caseGrads, caseParams } from './helpers/optimizers';

/** Far above the size at which the kernels open a parallel region, for any team. */
const LARGE = 1 << 24;
const SEED = 11;

type Entry = 'update' | 'updateAsync' | 'reduce' | 'reduceAsync';
const ENTRIES: Entry[] = ['update', 'updateAsync', 'reduce', 'reduceAsync'];

/** Runs `body` with every kernel entry point of the addon wrapped to record the `threads` argument it received. */
async function recordThreadArguments(body: () => unknown): Promise<number[]> {
  const addon = loadAddon() as unknown as Record<Entry, (...args: unknown[]) => unknown>;
  const seen: number[] = [];
  const originals = ENTRIES.map((name) => addon[name]);
  ENTRIES.forEach((name, i) => {
    addon[name] = (...args: unknown[]) => {
      seen.push(args[3] as number);
      return originals[i](...args);
    };
  });
  try {
    await body();
  } finally {
    ENTRIES.forEach((name, i) => {
      addon[name] = originals[i];
    });
  }
  return seen;
}

describe('thread control', () => {
  let addon: Addon;
  let saved: number;
  before(() => {
    addon = loadAddon();
    saved = getNumThreads();
  });
  afterEach(() => setNumThreads(saved));

  describe('threadProbe (the kernels’ work splitting)', () => {
    it('with 1 thread runs every segment on the calling thread, in no parallel region', () => {
      const seen = addon.threadProbe(LARGE, 1);
      expect(seen).to.deep.equal({ segments: 1, threadsUsed: 1, team: 1, callerRan: true, callerSegments: 1, covered: true });
    });

    it('with 2 threads and enough work runs on 2 distinct OS threads (so the probe can tell)', function () {
      if (!addonInfo().openmp) this.skip();
      const seen = addon.threadProbe(LARGE, 2);
      expect(seen.team).to.equal(2);
      expect(seen.threadsUsed).to.equal(2);
      expect(seen.callerRan, 'the calling thread is member 0 of its team').to.equal(true);
      expect(seen.segments, 'chunks of 16K elements').to.equal(LARGE / 16384);
      expect(seen.covered).to.equal(true);
    });

    it('with a late helper, the caller claims every chunk and nothing is done twice or skipped', function () {
      if (!addonInfo().openmp) this.skip();
      // The helper sleeps 50 ms before claiming; the caller's no-op chunks take microseconds.
      const elements = (1 << 20) + 4093;
      const seen = addon.threadProbe(elements, 2, 50);
      expect(seen.team).to.equal(2);
      expect(seen.threadsUsed, 'the helper still joins the team').to.equal(2);
      expect(seen.segments).to.equal(Math.ceil(elements / 16384));
      expect(seen.callerSegments, 'the late helper found no work left').to.equal(seen.segments);
      expect(seen.covered).to.equal(true);
    });

    it('after a team that did not pay, the next calls of that size run on the calling thread alone, then try the team again', function () {
      if (!addonInfo().openmp) this.skip();
      const elements = 3 << 20; // a size class of its own: nothing else here runs paced at it
      expect(addon.threadProbe(elements, 2, 20, true).team, 'the losing region').to.equal(2);
      const after = [1, 2, 3, 4].map(() => addon.threadProbe(elements, 2, 0, true));
      for (const seen of after) {
        expect(seen).to.deep.equal({ segments: 1, threadsUsed: 1, team: 1, callerRan: true, callerSegments: 1, covered: true });
      }
      expect(addon.threadProbe(elements, 2, 0, true).team, 'the team is tried again after 4 calls').to.equal(2);
      expect(addon.threadProbe(elements, 2, 0, false).team, 'unpaced calls never run alone').to.equal(2);
    });

    it('keeps small work on the calling thread whatever the setting', () => {
      expect(addon.threadProbe(1000, 8)).to.deep.equal({ segments: 1, threadsUsed: 1, team: 1, callerRan: true, callerSegments: 1, covered: true });
    });

    it('rejects bad arguments with codes, without crashing', () => {
      expect(() => addon.threadProbe(-1, 1)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
      expect(() => addon.threadProbe(1.5, 1)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
      expect(() => addon.threadProbe(10, 0)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
      expect(() => (addon.threadProbe as (a: unknown, b: unknown) => unknown)('10', 1)).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
      expect(() => addon.threadProbe(2 ** 33, 1)).to.throw(RangeError, /elements/).with.property('code', 'ERR_OUT_OF_RANGE');
      expect(() => addon.threadProbe(10, 1, 1001)).to.throw(RangeError, /lateHelperMs/).with.property('code', 'ERR_OUT_OF_RANGE');
      expect(() => addon.threadProbe(10, 1, 0, 1 as unknown as boolean)).to.throw(TypeError, /paced/).with.property('code', 'ERR_INVALID_ARG_TYPE');
    });
  });

  describe('setNumThreads', () => {
    it('is passed to every kernel call of step, stepAsync and clipping, and 1 means one OS thread', async () => {
      setNumThreads(1);
      const threads = await recordThreadArguments(async () => {
        for (const c of OPTIMIZER_CASES) {
          const opt = c.make(caseParams('float32', SEED));
          const grads = caseGrads(opt.paramGroups[0].params, SEED, 0);
          opt.step(grads, { maxGradNorm: 1 });
          await opt.stepAsync(grads, { maxGradNorm: 1 });
          clipGradNorm(grads, 0.1);
          await clipGradNormAsync(grads as Tensor[], 0.01);
        }
      });
      // Per case: norm + update (step), norm + update (stepAsync), norm + scale twice.
      expect(threads).to.have.length(OPTIMIZER_CASES.length * 8);
      expect(new Set(threads)).to.deep.equal(new Set([1]));
      expect(addon.threadProbe(LARGE, threads[0]).threadsUsed).to.equal(1);
    });

    it('changes the value passed with the next call', async () => {
      setNumThreads(3);
      const opt = OPTIMIZER_CASES[0].make(caseParams('float64', SEED));
      const grads = caseGrads(opt.paramGroups[0].params, SEED, 0);
      expect(await recordThreadArguments(() => opt.step(grads))).to.deep.equal([3]);
      setNumThreads(1);
      expect(await recordThreadArguments(() => opt.stepAsync(grads))).to.deep.equal([1]);
    });

    it('rejects anything but an integer in [1, 1024], keeping the old value', () => {
      setNumThreads(2);
      const bad: Array<[unknown, string]> = [
        [0, 'ERR_OUT_OF_RANGE'],
        [1025, 'ERR_OUT_OF_RANGE'],
        [1.5, 'ERR_OUT_OF_RANGE'],
        [NaN, 'ERR_NON_FINITE'],
        ['2', 'ERR_INVALID_ARG_TYPE'],
        [undefined, 'ERR_INVALID_ARG_TYPE'],
      ];
      for (const [value, code] of bad) {
        expect(() => setNumThreads(value as number), String(value))
          .to.throw(/setNumThreads: n/)
          .with.property('code', code);
      }
      expect(getNumThreads()).to.equal(2);
    });
  });

  describe('OMP_NUM_THREADS', () => {
    it('sets the default team size when setNumThreads was not called', function () {
      if (!addonInfo().openmp) this.skip();
      const root = path.join(__dirname, '..');
      const script = [
        "const { getNumThreads, addonInfo } = require('./lib');",
        "const { loadAddon } = require('./lib/native');",
        'const n = getNumThreads();',
        'console.log(JSON.stringify({ n, info: addonInfo().defaultThreads, probe: loadAddon().threadProbe(1 << 24, n).threadsUsed }));',
      ].join('\n');
      const run = (value: string) =>
        JSON.parse(
          execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
            cwd: root,
            env: { ...process.env, OMP_NUM_THREADS: value },
            encoding: 'utf8',
          }),
        );
      expect(run('1')).to.deep.equal({ n: 1, info: 1, probe: 1 });
      expect(run('2')).to.deep.equal({ n: 2, info: 2, probe: 2 });
    });
  });
});
