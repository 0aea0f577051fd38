/**
 * Gradient buckets reduced during the backward pass, and compressed gradients
 * (issue 23, items 5 and 6). In this process: the 16-bit conversions of the MPI
 * addon against their TypeScript twins, bit for bit (on every instruction-set
 * path, FUSEDOPTIM_ISA), and the twins against an
 * oracle (the nearest binary16 value, ties to even, searched in the table of
 * all of them). Under mpirun on 2 ranks (test/fixtures/distributed/overlap.ts):
 * training with gradReady equals training without it bit for bit in every
 * mode, train() included; a compressed allReduce equals its definition; the
 * refusals, and ranks that hand over in different orders.
 * Skipped (saying why) where mpirun or the MPI addon is missing.
 */
import { expect } from 'chai';
import { fp16RoundNearest, fp16WidenBits } from '../lib/distributed/half';
import { optionalMpiAddon } from '../lib/distributed/mpi_addon';
import { describeExit, runNodeChild } from './helpers/child';
import { HALF_FORMATS, halfDifference, halfProbes } from './helpers/half';
import { MpiRun, describeRun, mpiUnavailable, runRanks, skipWithoutMpi } from './helpers/mpi';

describe('distributed: overlap and compression', function () {
  this.timeout(600_000);

  describe('the 16-bit conversions', () => {
    const addon = optionalMpiAddon();
    before(function () {
      if (addon === null) {
        console.log(`      skipped: ${mpiUnavailable() ?? 'the MPI addon does not load'}`);
        this.skip();
      }
    });

    for (const [name, format] of HALF_FORMATS) {
      it(`${name}: the addon and the TypeScript twin round and widen alike, bit for bit (odd length)`, () => {
        expect(halfDifference(addon!, format)).to.equal(null);
      });
    }

    it('every instruction-set path of the addon (FUSEDOPTIM_ISA) rounds and widens as the twin does', function () {
      const x86 = process.arch === 'x64' || process.arch === 'ia32';
      if (!x86) this.skip(); // only x86 builds carry more than one path
      const ran: string[] = [];
      for (const isa of ['baseline', 'avx2', 'avx512']) {
        const r = runNodeChild(
          `const { loadMpiAddon } = require('./lib/distributed/mpi_addon');
           const { HALF_FORMATS, halfDifference } = require('./test/helpers/half');
           const addon = loadMpiAddon();
           console.log(JSON.stringify({ isa: addon.halfArraysIsa(), differences: HALF_FORMATS.map(([, f]) => halfDifference(addon, f)) }));`,
          { env: { FUSEDOPTIM_ISA: isa }, timeoutMs: 120_000 },
        );
        expect(r.status, describeExit(r)).to.equal(0);
        const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { isa: string; differences: (string | null)[] };
        expect(result.differences, `FUSEDOPTIM_ISA=${isa}, ran ${result.isa}`).to.deep.equal([null, null]);
        ran.push(result.isa);
      }
      // The CPU decides which paths exist: a lower one is always taken when asked for, a higher one only where the CPU has it.
      expect(ran[0]).to.equal('baseline');
      expect(['baseline', 'avx2']).to.include(ran[1]);
    });

    it('fp16: every finite float32 probe rounds to the nearest binary16 value, ties to the even one', () => {
      // The oracle: all finite non-negative binary16 values in order (0x0000 to 0x7bff), their float64 values.
      const table = Float64Array.from({ length: 0x7c00 }, (_, h) => new Float32Array(Uint32Array.of(fp16WidenBits(h)).buffer)[0]);
      const bits = halfProbes();
      const values = new Float32Array(bits.buffer);
      const wrong: string[] = [];
      for (let i = 0; i < values.length; i++) {
        const x = values[i];
        if (!Number.isFinite(x)) continue;
        const a = Math.abs(x);
        let expected: number;
        if (a >= 65520) expected = 0x7c00;
        else {
          let lo = 0;
          let hi = table.length - 1;
          while (hi - lo > 1) {
            const mid = (lo + hi) >> 1;
            if (table[mid] <= a) lo = mid;
            else hi = mid;
          }
          const [below, above] = table[hi] <= a ? [hi, hi] : [lo, hi];
          const dBelow = a - table[below];
          const dAbove = table[above] - a;
          expected = dBelow < dAbove ? below : dAbove < dBelow ? above : below % 2 === 0 ? below : above;
        }
        const got = fp16RoundNearest(bits[i]);
        // One assertion at the end: chai's per call cost would dominate 600k probes.
        if ((got & 0x7fff) !== expected || got >>> 15 !== bits[i] >>> 31) wrong.push(`${x}: 0x${got.toString(16)}, expected 0x${expected.toString(16)}`);
      }
      expect(wrong.slice(0, 5)).to.deep.equal([]);
    });

    it('fp16: NaN stays a quiet NaN with its sign, infinities stay infinite', () => {
      expect(fp16RoundNearest(0x7f800001)).to.equal(0x7e00);
      expect(fp16RoundNearest(0xffc00000)).to.equal(0xfe00);
      expect(fp16RoundNearest(0x7f800000)).to.equal(0x7c00);
      expect(fp16RoundNearest(0xff800000)).to.equal(0xfc00);
    });
  });

  describe('on 2 ranks (mpirun)', function () {
    skipWithoutMpi(this);
    let run: MpiRun;
    before(async () => {
      run = await runRanks(2, 'overlap.ts', [], 300_000);
    });

    it('every rank ran to the end and every check passed', () => {
      expect(run.status, describeRun(run)).to.equal(0);
      for (const r of run.ranks) expect(r.failures, `rank ${r.rank}`).to.deep.equal([]);
    });

    const names = ['default', 'async', 'deterministic', 'backwardPassesPerStep 2', 'backwardPassesPerStep 2 async', 'float32', 'bf16', 'fp16 errorFeedback', 'bf16 errorFeedback async'];
    for (const name of names) {
      it(`${name}: gradients handed over during the backward pass give the bits of averaging after it, every step, on both ranks`, () => {
        const [r0, r1] = run.ranks.map((r) => (r.modes as Record<string, { plain: string[]; overlapped: string[] }>)[name]);
        expect(r0.plain).to.have.length(8);
        expect(r0.overlapped).to.deep.equal(r0.plain);
        expect(r1.overlapped).to.deep.equal(r0.plain);
      });
    }

    it('compression changes the result (it is really applied), float32 without it does not', () => {
      const modes = run.ranks[0].modes as Record<string, { plain: string[] }>;
      expect(modes.bf16.plain).to.not.deep.equal(modes.float32.plain);
      expect(modes['fp16 errorFeedback'].plain).to.not.deep.equal(modes.float32.plain);
    });

    it('train() hands the model gradReady; the params end on the same bits', () => {
      for (const r of run.ranks) {
        const loop = r.loop as { plain: string; overlapped: string };
        expect(loop.overlapped).to.equal(loop.plain);
      }
    });

    it('refuses a gradient handed over twice, out of range, resized, retyped, shared, resizable, collectives meanwhile, and compression where it cannot go, with codes', () => {
      for (const r of run.ranks) {
        expect(r.refusals).to.deep.equal({
          twice: 'ERR_INVALID_ARG_VALUE',
          'out of range': 'ERR_OUT_OF_RANGE',
          length: 'ERR_SHAPE_MISMATCH',
          dtype: 'ERR_DTYPE_MISMATCH',
          'shares memory': 'ERR_INVALID_ARG_VALUE',
          resizable: 'ERR_INVALID_ARG_VALUE',
          'collective in flight': 'ERR_STEP_IN_FLIGHT',
          'async collective in flight': 'ERR_STEP_IN_FLIGHT',
          'other array at the step': 'ERR_INVALID_ARG_VALUE',
          'null at the step': 'ERR_INVALID_ARG_VALUE',
          'hand-over while queued': 'ERR_STEP_IN_FLIGHT',
          'compression of float64 params': 'ERR_DTYPE_MISMATCH',
          'compression with shardState': 'ERR_INVALID_ARG_VALUE',
          'errorFeedback alone': 'ERR_INVALID_ARG_VALUE',
          'unknown compression': 'ERR_INVALID_ARG_VALUE',
          'gradReady with shardState': 'ERR_INVALID_ARG_VALUE',
          'allReduce of float64 compressed': 'ERR_DTYPE_MISMATCH',
          'reduceScatter compressed': 'ERR_INVALID_ARG_VALUE',
          'residuals without compression': 'ERR_INVALID_ARG_VALUE',
          'residuals of another length': 'ERR_SHAPE_MISMATCH',
        });
      }
    });

    it('ranks handing gradients over in different orders both throw ERR_COLLECTIVE_MISMATCH naming the bucket', () => {
      for (const r of run.ranks) {
        const m = r.orderMismatch as { code: string; message: string };
        expect(m.code).to.equal('ERR_COLLECTIVE_MISMATCH');
        expect(m.message).to.match(/rank 1 has gradient bucket #1 where rank 0 has #0/);
      }
    });
  });
});
