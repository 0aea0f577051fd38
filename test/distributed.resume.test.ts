/**
 * `fusedoptim train --distributed` resumed on another number of ranks (issue 23): a run stopped on
 * 2 ranks mid-epoch continues on 2 ranks bit for bit, in one process bit for bit too (the two
 * batches of a step add up in the one order there is), and on 4 ranks with the same steps and
 * learning rates and the same parameters to rounding, the note saying so printed once; a run
 * begun in one process continues on 2 ranks; a checkpoint written before the position was
 * kept in steps resumes on its own number of ranks bit for bit and is refused on another with a
 * message printed once, without MPI_Abort; --epochs 1 on 2 ranks warms up for a share of the run
 * instead of failing; a finished run resumed says so.
 * Skipped (saying why) where mpirun or the MPI addon is missing.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../lib/cli/main';
import { Checkpoint, readCheckpoint } from '../lib/train/checkpoint';
import { captureIo } from './helpers/capture';
import { MpiRun, describeRun, runRanks, skipWithoutMpi } from './helpers/mpi';
import { writeAsOldCheckpoint } from './helpers/old-checkpoint';

/** How many times `text` occurs in the run's output. */
function count(run: MpiRun, text: string): number {
  return (run.stdout + run.stderr).split(text).length - 1;
}

/** The largest difference between the tensors (params and optimizer state) of two checkpoints. */
function largestDifference(a: Checkpoint, b: Checkpoint): number {
  let largest = 0;
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name)!.data;
    t.data.forEach((v, i) => (largest = Math.max(largest, Math.abs(v - u[i]))));
  }
  return largest;
}

/** The tensors of a checkpoint, as bytes. */
function tensorBytes(ck: Checkpoint): Record<string, string> {
  return Object.fromEntries([...ck.tensors].map(([name, t]) => [name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64')]));
}

describe('distributed: fusedoptim train resumed on any number of ranks', function () {
  this.timeout(900_000);
  skipWithoutMpi(this);
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-resume-'));
  after(() => fs.rmSync(runsDir, { recursive: true, force: true }));
  // 3 epochs of 22 steps on 2 ranks; stopped 8 steps into the second.
  const settings = ['--runs-dir', runsDir, '--epochs', '3', '--hidden', '32', '--seed', '1'];
  const train = (np: number, name: string, ...more: string[]) => runRanks(np, 'cli.ts', ['train', '--distributed', '--name', name, ...settings, ...more]);
  const last = (name: string) => readCheckpoint(path.join(runsDir, name, 'last.safetensors'));
  const copyRun = (from: string, to: string) => fs.cpSync(path.join(runsDir, from), path.join(runsDir, to), { recursive: true });

  before(async () => {
    for (const run of [await train(2, 'straight', '--quiet'), await train(2, 'stopped', '--quiet', '--max-steps', '30')]) {
      expect(run.status, describeRun(run)).to.equal(0);
    }
    expect(last('stopped').progress).to.include({ epoch: 1, stepsInEpoch: 8, globalStep: 30 });
    for (const name of ['on2', 'on1', 'on4', 'old2', 'old4']) copyRun('stopped', name);
    for (const name of ['old2', 'old4']) writeAsOldCheckpoint(path.join(runsDir, name, 'last.safetensors'));
  });

  it('on the same 2 ranks: the files of the uninterrupted run, bit for bit', async () => {
    const run = await train(2, 'on2', '--resume', '--quiet');
    expect(run.status, describeRun(run)).to.equal(0);
    for (const file of ['best.safetensors', 'last.safetensors']) {
      expect(fs.readFileSync(path.join(runsDir, 'on2', file)).equals(fs.readFileSync(path.join(runsDir, 'straight', file))), file).to.equal(true);
    }
  });

  it('in one process: the same steps and learning rates, and the same params and state bit for bit', async () => {
    const io = captureIo();
    expect(await main(['train', '--name', 'on1', ...settings, '--resume', '--progress', 'none'], io), io.err()).to.equal(0);
    expect(io.out()).to.include('note: resuming in one process a run begun on 2 ranks: each step still averages the same 2 batches of 32 examples');
    const [resumed, straight] = [last('on1'), last('straight')];
    expect(resumed.progress).to.deep.equal(straight.progress);
    expect(resumed.history!.learningRate).to.deep.equal(straight.history!.learningRate);
    expect(tensorBytes(resumed)).to.deep.equal(tensorBytes(straight));
  });

  it('on 4 ranks: the same steps and learning rates, the params to rounding, the note printed once', async () => {
    const run = await train(4, 'on4', '--resume', '--progress', 'none');
    expect(run.status, describeRun(run)).to.equal(0);
    expect(count(run, 'note: resuming on 4 ranks a run begun on 2 ranks: each step still averages the same 2 batches of 32 examples (each cut into 2 pieces, one per rank)')).to.equal(1);
    const [resumed, straight] = [last('on4'), last('straight')];
    expect(resumed.progress!.globalStep).to.equal(66);
    expect(resumed.history!.learningRate).to.deep.equal(straight.history!.learningRate);
    expect(largestDifference(resumed, straight)).to.be.below(1e-5);
  });

  it('a run begun in one process continues on 2 ranks with its own steps, order and schedule', async () => {
    const single = ['train', ...settings, '--epochs', '2', '--quiet'];
    expect(await main([...single, '--name', 'single'], captureIo())).to.equal(0);
    expect(await main([...single, '--name', 'single-on2', '--max-steps', '50'], captureIo())).to.equal(0);
    const run = await runRanks(2, 'cli.ts', [...single, '--name', 'single-on2', '--distributed', '--resume']);
    expect(run.status, describeRun(run)).to.equal(0);
    const [resumed, straight] = [last('single-on2'), last('single')];
    // 45 batches a step each: 90 steps.
    expect(resumed.progress!.globalStep).to.equal(90);
    expect(resumed.history!.learningRate).to.deep.equal(straight.history!.learningRate);
    expect(largestDifference(resumed, straight)).to.be.below(1e-5);
  });

  describe('a checkpoint written before the position was kept in steps', () => {
    it('resumes on the ranks that wrote it to the files of the uninterrupted run', async () => {
      expect(last('old2').progress).to.not.have.property('stepsInEpoch');
      expect(last('old2').extra).to.not.have.property('globalBatch');
      const run = await train(2, 'old2', '--resume', '--quiet');
      expect(run.status, describeRun(run)).to.equal(0);
      for (const file of ['best.safetensors', 'last.safetensors']) {
        expect(fs.readFileSync(path.join(runsDir, 'old2', file)).equals(fs.readFileSync(path.join(runsDir, 'straight', file))), file).to.equal(true);
      }
    });

    it('is refused on another number of ranks, once, naming where it ran, without MPI_Abort, writing nothing', async () => {
      const before = fs.readFileSync(path.join(runsDir, 'old4', 'last.safetensors'));
      const run = await train(4, 'old4', '--resume', '--quiet');
      expect(run.status).to.not.equal(0);
      const refusal = 'which did not record how many ranks trained the run, and its epochs have 22 steps, not the 11 of 4 ranks: resume it where it ran (on 2 ranks: mpirun -np 2';
      expect(count(run, refusal), describeRun(run)).to.equal(1);
      expect(run.stdout + run.stderr).to.not.include('MPI_ABORT');
      expect(fs.readFileSync(path.join(runsDir, 'old4', 'last.safetensors')).equals(before)).to.equal(true);
    });
  });

  it('--epochs 1 on 2 ranks: the warmup longer than the run becomes 5% of it, with a note, once', async () => {
    const run = await runRanks(2, 'cli.ts', ['train', '--distributed', '--name', 'short', '--runs-dir', runsDir, '--epochs', '1', '--hidden', '32', '--progress', 'none']);
    expect(run.status, describeRun(run)).to.equal(0);
    expect(count(run, "note: a warmup of 45 steps does not fit this run's 22 steps; it warms up for 1 (5% of them, train()'s default)")).to.equal(1);
    expect(last('short').progress!.globalStep).to.equal(22);
  });

  it('a finished run resumed says that there is nothing left to train', async () => {
    const io = captureIo();
    expect(await main(['train', '--name', 'straight', ...settings, '--resume', '--progress', 'none'], io), io.err()).to.equal(0);
    expect(io.out()).to.include('note: this run has finished its schedule (3 epochs, 66 steps): there is nothing left to train');
    expect(last('straight').progress!.globalStep).to.equal(66);
  });
});
