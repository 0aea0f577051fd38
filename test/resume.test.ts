/**
 * Exact resume: N steps straight, or k steps → checkpoint → fresh objects (or a new process) →
 * resume to N, end with bit-identical params, optimizer state, lr and history. The strongest
 * form is used where it applies: the final checkpoint files are byte for byte the same.
 */
import { expect } from 'chai';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_DIGITS_CONFIG, digitsSetup } from '../lib/cli/jobs/digits/job';
import { readCheckpoint, saveCheckpoint } from '../lib/train/checkpoint';
import { TrainConfig, train } from '../lib/train/loop';
import { expectAllBitIdentical } from './helpers/bits';
import { REPO_ROOT } from './helpers/child';
import { runChildJob } from './fixtures/resume-child';
import { LinearModel, RegressionBatch, batchesOf, epochData, regressionData } from './helpers/tiny-model';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-resume-'));
}

/** The checkpoint's bytes with equal contents compare equal (encoding is deterministic). */
function fileBytes(file: string): Buffer {
  return fs.readFileSync(file);
}

describe('exact resume', () => {
  const data = regressionData(40, 11);
  const val = regressionData(12, 12);

  /** Trains a fresh LinearModel with the default AdamW + warmup-cosine for 4 epochs of 5 batches, maybe stopping at maxSteps. */
  function run(dir: string, extra: Partial<TrainConfig<RegressionBatch>> = {}, accumulationSteps = 1) {
    return train(new LinearModel(), epochData(data, 8), [val], {
      quiet: true,
      epochs: 4,
      peakLr: 0.2,
      warmupSteps: 3,
      stepsPerEpoch: Math.ceil(5 / accumulationSteps),
      accumulationSteps,
      evaluate: (m) => ({ bias: m.params[1][0] }),
      checkpointPath: path.join(dir, 'best.safetensors'),
      lastCheckpointPath: path.join(dir, 'last.safetensors'),
      ...extra,
    });
  }

  for (const accumulationSteps of [1, 2]) {
    // Stops at a step inside an epoch, at an epoch's last step (before its validation), and right after an epoch.
    for (const k of accumulationSteps === 1 ? [1, 3, 5, 7, 10, 19] : [2, 3, 5]) {
      it(`stop after ${k} steps, resume in fresh objects: identical to a straight run (accumulation ${accumulationSteps})`, async () => {
        const straightDir = tempDir();
        const straight = await run(straightDir, {}, accumulationSteps);
        const dir = tempDir();
        const first = await run(dir, { maxSteps: k }, accumulationSteps);
        expect(first.stopReason).to.equal('maxSteps');
        const resumed = await run(dir, { resumeFrom: path.join(dir, 'last.safetensors') }, accumulationSteps);
        expect(resumed.stopReason).to.equal('completed');
        expect(resumed.history).to.deep.equal(straight.history);
        expect(resumed.optimizer.lr).to.equal(straight.optimizer.lr);
        expect(fileBytes(path.join(dir, 'last.safetensors'))).to.deep.equal(fileBytes(path.join(straightDir, 'last.safetensors')));
        expect(fileBytes(path.join(dir, 'best.safetensors'))).to.deep.equal(fileBytes(path.join(straightDir, 'best.safetensors')));
      });
    }
  }

  it('resuming a finished run trains nothing more', async () => {
    const dir = tempDir();
    const done = await run(dir);
    const again = await run(dir, { resumeFrom: path.join(dir, 'last.safetensors') });
    expect(again.history).to.deep.equal(done.history);
    expect(again.stopReason).to.equal('completed');
  });

  it('a checkpoint holding error-feedback residuals resumes in one process as without them, saying once that they are not used', async () => {
    const dir = tempDir();
    const model = new LinearModel();
    const first = await train(model, epochData(data, 8), [val], { quiet: true, epochs: 4, peakLr: 0.2, warmupSteps: 3, stepsPerEpoch: 5, maxSteps: 3 });
    // The same checkpoint, with the residuals 2 ranks of a compressed run would have added.
    const residuals = [0, 1].map((r) => model.params.map((p) => new Float32Array(p.length).fill(r + 1)));
    const withResiduals = path.join(dir, 'residuals.safetensors');
    const { optimizer, scheduler, progress, history } = first;
    saveCheckpoint(withResiduals, { model, optimizer, scheduler, progress, history, errorFeedback: { compression: 'bf16', residuals } });
    const plain = path.join(dir, 'plain.safetensors');
    saveCheckpoint(plain, { model, optimizer, scheduler, progress, history });
    const resume = async (file: string, lines: string[]) =>
      train(new LinearModel(), epochData(data, 8), [val], {
        epochs: 4,
        peakLr: 0.2,
        warmupSteps: 3,
        stepsPerEpoch: 5,
        resumeFrom: file,
        progress: 'log',
        logEvery: 1000,
        output: { write: (text: string) => (lines.push(text), true), isTTY: false },
      });
    const noted: string[] = [];
    const a = await resume(withResiduals, noted);
    const b = await resume(plain, []);
    expect(a.history).to.deep.equal(b.history);
    expect(noted.filter((line) => line.startsWith('resume:'))).to.deep.equal([
      "resume: the checkpoint's error-feedback residuals (of 2 ranks) are not used: this run is not distributed\n",
    ]);
  });

  // Issue 23: a data-parallel run resumed on another number of ranks gives each step the same
  // examples in another number of micro-batches; the position is in steps, so it lands on the same one.
  it('a checkpoint of whole batches resumes with each step in two halves (accumulated) at the same step, to 1e-12', async () => {
    const straight = await run(tempDir());
    const dir = tempDir();
    await run(dir, { maxSteps: 7 });
    expect(readCheckpoint(path.join(dir, 'last.safetensors')).progress).to.include({ epoch: 1, stepsInEpoch: 2, batchInEpoch: 2 });
    // Every batch of 8 as two micro-batches of 4, in the same order.
    const halves = (epoch: number) => epochData(data, 8)(epoch).flatMap((b) => batchesOf(b, 4));
    const resumed = await train(new LinearModel(), halves, [val], {
      quiet: true,
      epochs: 4,
      peakLr: 0.2,
      warmupSteps: 3,
      stepsPerEpoch: 5,
      accumulationSteps: 2,
      evaluate: (m) => ({ bias: m.params[1][0] }),
      resumeFrom: path.join(dir, 'last.safetensors'),
    });
    expect(resumed.progress.globalStep).to.equal(20);
    expect(resumed.history.learningRate).to.deep.equal(straight.history.learningRate);
    resumed.history.trainLoss.forEach((loss, i) => expect(Math.abs(loss - straight.history.trainLoss[i]), `loss ${i}`).to.be.below(1e-12));
  });

  it('a resumed epoch with fewer batches than were consumed is a mismatch', async () => {
    const dir = tempDir();
    await run(dir, { maxSteps: 4 });
    const model = new LinearModel();
    let failure: unknown;
    await train(model, () => epochData(data, 8)(0).slice(0, 2), [val], {
      quiet: true,
      epochs: 4,
      peakLr: 0.2,
      warmupSteps: 3,
      stepsPerEpoch: 5,
      evaluate: (m) => ({ bias: m.params[1][0] }),
      resumeFrom: path.join(dir, 'last.safetensors'),
    }).catch((err) => (failure = err));
    expect(failure).to.be.instanceOf(RangeError).with.property('code', 'ERR_CHECKPOINT_MISMATCH');
  });

  describe('across processes, with the first one killed by SIGKILL mid-run', () => {
    const childScript = path.join(REPO_ROOT, 'test', 'fixtures', 'resume-child.ts');

    function startChild(dir: string, mode: 'fresh' | 'resume', delayMs: number): ChildProcess {
      return spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', childScript, dir, mode, String(delayMs)], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    }

    function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
    }

    /** The global step of the last checkpoint, or -1 while there is none (or it is being replaced). */
    function checkpointStep(file: string): number {
      try {
        return readCheckpoint(file).progress?.globalStep ?? -1;
      } catch {
        return -1;
      }
    }

    it('resumes from the last checkpoint to the same final bits as an uninterrupted run', async function () {
      this.timeout(180_000);
      // The uninterrupted run, in this process (the same code the child runs).
      const straightDir = tempDir();
      await runChildJob(straightDir, false, 0);
      const straight = readCheckpoint(path.join(straightDir, 'last.safetensors'));
      const totalSteps = straight.progress!.globalStep;

      const dir = tempDir();
      const last = path.join(dir, 'last.safetensors');
      const victim = startChild(dir, 'fresh', 40);
      const victimExit = exited(victim);
      // Kill it once a few checkpoints exist, well before the end.
      const deadline = Date.now() + 120_000;
      while (checkpointStep(last) < 6) {
        if (Date.now() > deadline) throw new Error('the child wrote no checkpoint in time');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      victim.kill('SIGKILL');
      const killed = await victimExit;
      expect(killed.signal, killed.stderr).to.equal('SIGKILL');
      const stoppedAt = checkpointStep(last);
      expect(stoppedAt).to.be.at.least(6).and.below(totalSteps);
      // No torn file: what is there is a complete, valid checkpoint (temporary files may be left).
      expect(() => readCheckpoint(last)).not.to.throw();

      const resumed = await exited(startChild(dir, 'resume', 0));
      expect(resumed.code, resumed.stderr).to.equal(0);
      expect(fileBytes(last)).to.deep.equal(fileBytes(path.join(straightDir, 'last.safetensors')));
      expect(fileBytes(path.join(dir, 'best.safetensors'))).to.deep.equal(fileBytes(path.join(straightDir, 'best.safetensors')));
      const ck = readCheckpoint(last);
      expect(ck.progress!.globalStep).to.equal(totalSteps);
      expect(ck.history).to.deep.equal(straight.history);
    });
  });

  it('the digits job setup is a function of its configuration alone', () => {
    const a = digitsSetup({ ...DEFAULT_DIGITS_CONFIG, hidden: [16] });
    const b = digitsSetup({ ...DEFAULT_DIGITS_CONFIG, hidden: [16] });
    expectAllBitIdentical(a.model.params, b.model.params, 'initial params');
    expect([...a.trainBatches(3)][0].y).to.deep.equal([...b.trainBatches(3)][0].y);
  });
});
