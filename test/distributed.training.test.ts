/**
 * Data-parallel training (issue 10), under mpirun
 * (test/fixtures/distributed/train.ts and checkpoint.ts): a float64 MLP
 * trained with AdamW and clipping on 2 ranks, each on half of every batch,
 * equals one process on the whole batches to 1e-10, in every mode (sync,
 * async, deterministic, ZeRO-1 shardState, backwardPassesPerStep); the params
 * are bit-identical on every rank after every step; shardState equals the
 * unsharded run to 1e-12 and holds 1/N of the state per rank; train() with
 * backwardPassesPerStep counts one optimizer step per k passes; a checkpoint
 * saved by 4 sharded ranks resumes on 2 ranks and in one process without MPI
 * to the same params, and `fusedoptim inspect` reads it; bfloat16 and 8-bit
 * state checkpointed on 2 ranks resume on 2 ranks and in one process bit for
 * bit, scatterState() giving every rank rank 0's state (code maps checked, not sent);
 * shardState with bfloat16 and 8-bit state (a cut moved to a block's start)
 * equals the unsharded run bit for bit, a gathered checkpoint resumed sharded
 * and in one process too. With compressed gradients and error feedback (fixtures/distributed/feedback.ts),
 * train()'s checkpoints hold every rank's residuals: a run stopped and resumed on 2 ranks equals the
 * uninterrupted one bit for bit (and a resume without them does not); on 1 rank they are dropped, saying so.
 * Skipped (saying why) where mpirun or the MPI addon is missing.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../lib/cli/main';
import { runNodeChild } from './helpers/child';
import { MpiRun, describeRun, runRanks, skipWithoutMpi } from './helpers/mpi';

interface ModeResult {
  steps: string[];
  stateElements: number;
  diffFromSingleProcess: number | null;
}

describe('distributed: training', function () {
  this.timeout(900_000);
  skipWithoutMpi(this);

  describe('on 2 ranks, every mode, against one process', () => {
    let run: MpiRun;
    let modes: Array<Record<string, ModeResult & number>>;
    before(async () => {
      run = await runRanks(2, 'train.ts');
      modes = run.ranks.map((r) => r.modes as Record<string, ModeResult & number>);
    });

    it('ran on both ranks without a failed check', () => {
      expect(run.status, describeRun(run)).to.equal(0);
      expect(run.ranks.map((r) => r.failures)).to.deep.equal([[], []]);
    });

    const names = ['default', 'async', 'deterministic', 'shardState', 'shardState deterministic', 'shardState async', 'backwardPassesPerStep 2'];
    for (const name of names) {
      it(`${name}: equals one process over the whole batches to 1e-10, params bit-identical on both ranks after every step`, () => {
        const [r0, r1] = modes.map((m) => m[name]);
        expect(r0.diffFromSingleProcess).to.be.a('number').and.at.most(1e-10);
        expect(r0.steps).to.have.length(12);
        expect(r1.steps).to.deep.equal(r0.steps);
      });
    }

    it('shardState equals the unsharded run to 1e-12 and holds half of the state on each of 2 ranks', () => {
      expect(modes[0].shardedVsUnsharded).to.be.at.most(1e-12);
      expect(modes[0].shardedVsUnshardedDeterministic).to.be.at.most(1e-12);
      for (const m of modes) expect(m.shardState.stateElements * 2).to.equal(m.default.stateElements);
    });
  });

  describe('train() with distributed, on 2 ranks', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-loop-'));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    let run: MpiRun;
    before(async () => {
      run = await runRanks(2, 'loop.ts', [dir]);
    });

    it('averages validation over the ranks; rank 0 alone prints and writes checkpoints; 7 batches deal 3 to each rank', () => {
      expect(run.status, describeRun(run)).to.equal(0);
      for (const r of run.ranks) {
        expect(r.failures).to.deep.equal([]);
        // Each rank's validation loss and metric is its rank + 1: the mean of 1 and 2.
        expect(r.valLoss).to.deep.equal([1.5]);
        expect(r.metric).to.deep.equal([1.5]);
        expect(r.steps).to.equal(3);
      }
      expect(run.ranks.map((r) => r.wroteCheckpoint)).to.deep.equal([true, false]);
      expect(run.ranks[0].printed).to.be.greaterThan(0);
      expect(run.ranks[1].printed).to.equal(0);
    });

    it('a stop wanted by one rank stops every rank at the same step', () => {
      for (const r of run.ranks) {
        expect(r.stopReason).to.equal('callback');
        expect(r.stoppedAt).to.equal(4);
      }
    });

    it('backwardPassesPerStep 2: one optimizer step per 2 passes for the schedule, the count, maxSteps and a resume; the bits of accumulationSteps 2', () => {
      const lrs = [0.05, 0.025, 0.0125, 0.00625];
      for (const r of run.ranks) {
        // 3 batches a rank and epoch: a step of 2 passes, then the partial one; 2 epochs.
        expect(r.passesSteps).to.equal(4);
        expect(r.passesEpochEnds).to.deep.equal([2, 4]);
        expect(r.passesLr).to.deep.equal(lrs);
        expect(r.passesLoss).to.have.length(4);
        expect(r.passesEqualAccumulation).to.equal(true);
        expect(r.passesStoppedAt).to.deep.equal(['maxSteps', 3, 1]);
        expect(r.passesResumedSteps).to.equal(4);
        expect(r.passesResumedLr).to.deep.equal(lrs);
        expect(r.passesResumedEqual).to.equal(true);
        // Whole steps only: the DistributedOptimizer accumulating the passes itself, stepped by hand.
        expect(r.passesOwnSteps).to.equal(4);
        expect(r.passesEqualOwnLoop).to.equal(true);
      }
    });
  });

  describe('checkpoints: saved on 4 sharded ranks, resumed on 2 and on 1 without MPI', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-dist-'));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const final = (tag: string) => JSON.parse(fs.readFileSync(path.join(dir, `final-${tag}.json`), 'utf8')) as { params: number[][]; stateElements?: number };

    before(async () => {
      const saved = await runRanks(4, 'checkpoint.ts', ['save', dir]);
      expect(saved.status, describeRun(saved)).to.equal(0);
      const two = await runRanks(2, 'checkpoint.ts', ['resume', dir, '2']);
      expect(two.status, describeRun(two)).to.equal(0);
      const one = runNodeChild(`process.argv = [process.argv[0], 'checkpoint.ts', 'resume', ${JSON.stringify(dir)}, '1']; require('./test/fixtures/distributed/checkpoint.ts');`, { timeoutMs: 120_000 });
      expect(one.status, one.stderr).to.equal(0);
    });

    it('the runs resumed on 2 ranks and in one process end where the 4-rank run ended (1e-10)', () => {
      const four = final('4');
      for (const tag of ['2', '1']) {
        const other = final(tag);
        four.params.forEach((p, t) => p.forEach((v, i) => expect(Math.abs(v - other.params[t][i]), `${tag}: params[${t}][${i}]`).to.be.at.most(1e-10)));
      }
      // Rank 0 of 4 holds AdamW's two moments for its shard of the 66 params: 17 of them (66 = 4·16 + 2).
      expect(four.stateElements).to.equal(2 * 17);
    });

    it('is an ordinary checkpoint: `fusedoptim inspect` reads it', async () => {
      let out = '';
      const io = { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: (s: string) => ((out += s), true) } };
      const code = await main(['inspect', path.join(dir, 'ck.safetensors')], io as never);
      expect(code, out).to.equal(0);
      expect(out).to.match(/AdamW/);
    });
  });

  describe("error feedback's residuals in train()'s checkpoints (bf16 sync, fp16 async)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-feedback-'));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    let two: MpiRun;
    let one: MpiRun;
    before(async () => {
      two = await runRanks(2, 'feedback.ts', [dir]);
      one = await runRanks(1, 'feedback.ts', [dir, 'resume']);
    });
    type Result = { straight: string; resumed: string; withoutResiduals: string; checkpointRanks: number; compression: string; nonzero: boolean[]; differ: boolean };

    it('ran on both ranks without a failed check', () => {
      expect(two.status, describeRun(two)).to.equal(0);
      expect(two.ranks.map((r) => r.failures)).to.deep.equal([[], []]);
    });

    for (const compression of ['bf16', 'fp16']) {
      it(`${compression}: stopped after 5 of 12 steps and resumed, the params equal the uninterrupted run's bit for bit on both ranks`, () => {
        const [r0, r1] = two.ranks.map((r) => r[compression] as Result);
        expect(r0.resumed).to.equal(r0.straight);
        expect(r1.resumed).to.equal(r1.straight);
        expect(r1.straight).to.equal(r0.straight);
      });

      it(`${compression}: the checkpoint holds both ranks' residuals (not zero, not equal); resumed without them, the run ends elsewhere`, () => {
        const [r0] = two.ranks.map((r) => r[compression] as Result);
        expect([r0.checkpointRanks, r0.compression]).to.deep.equal([2, compression]);
        expect(r0.nonzero).to.deep.equal([true, true]);
        expect(r0.differ).to.equal(true);
        expect(r0.withoutResiduals).to.not.equal(r0.straight);
      });
    }

    it('resumed on 1 rank, the residuals of 2 are dropped with one note, and the run ends', () => {
      expect(one.status, describeRun(one)).to.equal(0);
      const [r] = one.ranks;
      expect(r.failures).to.deep.equal([]);
      expect(r.steps).to.equal(12);
      expect(r.notes).to.have.length(1);
      expect((r.notes as string[])[0]).to.match(/residuals \(bf16 rounding errors of 2 ranks\) are dropped: .*this run has 1 rank; error feedback starts from zero/);
    });
  });

  for (const stateDtype of ['bfloat16', 'int8']) {
    describe(`${stateDtype} state: checkpointed on 2 ranks, resumed on 2 and on 1 without MPI`, () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fusedoptim-${stateDtype}-`));
      after(() => fs.rmSync(dir, { recursive: true, force: true }));
      const bits = (run: string) => (JSON.parse(fs.readFileSync(path.join(dir, `${stateDtype}-${run}.json`), 'utf8')) as { bits: string }).bits;
      let run: MpiRun;

      before(async () => {
        run = await runRanks(2, 'compact.ts', [dir, stateDtype]);
        const one = runNodeChild(`process.argv = [process.argv[0], 'compact.ts', ${JSON.stringify(dir)}, '${stateDtype}', '1']; require('./test/fixtures/distributed/compact.ts');`, { timeoutMs: 120_000 });
        expect(one.status, one.stderr).to.equal(0);
      });

      it('ran on both ranks without a failed check (equal state broadcast unchanged, shared code maps still shared)', () => {
        expect(run.status, describeRun(run)).to.equal(0);
        expect(run.ranks.map((r) => r.failures)).to.deep.equal([[], []]);
        const types = run.ranks[0].stateTypes as Array<Record<string, string>>;
        // w1 and w2 (300 and 180 elements) over min8bitSize 100; the biases keep float32.
        const compact = stateDtype === 'int8' ? 'Uint8Array' : 'Uint16Array';
        expect(types.map((t) => t.expAvg)).to.deep.equal(stateDtype === 'int8' ? [compact, compact, 'Float32Array', 'Float32Array'] : Array(4).fill(compact));
      });

      it('the runs resumed on 2 ranks and in one process end bit for bit where the straight run ended', () => {
        expect(bits('2')).to.equal(bits('straight'));
        expect(bits('1')).to.equal(bits('straight'));
      });

      it("a rank whose state differed before scatterState() holds rank 0's after, bit for bit", () => {
        const [r0, r1] = run.ranks;
        expect(r1.digestBefore).to.not.equal(r0.digestBefore);
        expect(r1.digestAfter).to.equal(r0.digestBefore);
        expect(r0.digestAfter).to.equal(r0.digestBefore);
      });

      it('shardState: sharded (a shard cuts w1), gathered, resumed sharded and in one process: the unsharded run bit for bit', () => {
        // The checks of the sharded runs on the ranks passed (above); the one process:
        expect(bits('sharded-1')).to.equal(bits('unsharded'));
        // 543 float32 params, AdamW's two moments. bfloat16: 272 and 271 elements of each per rank. 8-bit: the cut
        // moves back to w1's block at 256; rank 0 holds 256 codes, 1 absmax and the 256-value code map per moment,
        // rank 1 w1's last 44 elements (1 absmax, 1 map), w2's 180 (likewise) and the biases' 63 in float32.
        const expected = stateDtype === 'bfloat16' ? [2 * 272, 2 * 271] : [2 * (256 + 1 + 256), 2 * (44 + 1 + 256 + 180 + 1 + 256 + 63)];
        expect(run.ranks.map((r) => r.shardedStateElements)).to.deep.equal(expected);
      });
    });
  }
});
