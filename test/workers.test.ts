/**
 * worker_threads (issue 6): the addon is context-aware, so it loads in the main
 * thread and in several workers at once and computes the same bits everywhere;
 * buffers transferred to a worker and back keep working; a detached buffer is
 * refused with ERR_DETACHED_BUFFER, at the TypeScript layer and at the native
 * boundary, before anything changes.
 */
import { expect } from 'chai';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { Adam, ErrorCodes, SGD, alignedFloat32, getNumThreads, setNumThreads } from '../lib';
import type { DType, StateArray, Tensor } from '../lib';
import { loadAddon } from '../lib/native';
import { expectAllBitIdentical } from './helpers/bits';
import { detach } from './helpers/buffers';
import { caseGrads, caseParams, copyResultTensors, findCase } from './helpers/optimizers';
import { runCaseSteps } from './workers/case-steps';
import type { WorkerJob } from './workers/step-worker';
import { accumulateKernel } from '../lib/kernels/elementwise';
import { row } from './helpers/kernels';

const WORKER = path.join(__dirname, 'workers', 'step-worker.ts');
const SEED = 17;

/** Runs one job in a fresh worker_thread (TypeScript compiled on the fly) and resolves with its result. */
function inWorker<T>(job: WorkerJob, transfer: ArrayBuffer[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(`require('ts-node/register/transpile-only'); require(${JSON.stringify(WORKER)});`, {
      eval: true,
      workerData: job,
      transferList: transfer,
    });
    worker.once('message', (msg: { ok: boolean; result?: T; message?: string; code?: string }) => {
      if (msg.ok) resolve(msg.result as T);
      else reject(Object.assign(new Error(msg.message), { code: msg.code }));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with code ${code}`));
    });
  });
}

describe('worker_threads', function () {
  this.timeout(120_000);

  it('4 workers stepping their own optimizers at once compute exactly what the main thread computes', async () => {
    const jobs: Array<{ caseName: string; dtype: DType }> = [
      { caseName: 'Adam', dtype: 'float32' },
      { caseName: 'AdamW', dtype: 'float64' },
      { caseName: 'SGD momentum', dtype: 'float32' },
      { caseName: 'RMSprop centered momentum', dtype: 'float32' },
    ];
    const steps = 4;
    // Two threads each: four OpenMP teams from four workers, plus the main thread's, at once.
    const fromWorkers = jobs.map((j) => inWorker<StateArray[]>({ kind: 'steps', ...j, seed: SEED, steps, threads: 2 }));
    const here: StateArray[][] = [];
    for (const j of jobs) here.push(await runCaseSteps(j.caseName, j.dtype, SEED, steps));
    const results = await Promise.all(fromWorkers);
    results.forEach((result, i) => expectAllBitIdentical(result, here[i], `${jobs[i].caseName} in worker ${i}`));
  });

  it('each worker has its own thread setting, and 1 runs on one OS thread there too', async () => {
    const saved = getNumThreads();
    setNumThreads(2);
    try {
      const seen = await inWorker<{ threads: number; probe: { threadsUsed: number; team: number } }>({
        kind: 'threads',
        threads: 1,
        elements: 1 << 24,
      });
      expect(seen.threads).to.equal(1);
      expect(seen.probe.threadsUsed).to.equal(1);
      expect(seen.probe.team).to.equal(1);
      expect(getNumThreads(), 'the main thread keeps its own setting').to.equal(2);
    } finally {
      setNumThreads(saved);
    }
  });

  it('params transferred to a worker and back keep working; the optimizer that held them continues through a new one', async () => {
    const lengths = [70_001, 33];
    const make = () =>
      lengths.map((n, i) => {
        const t = alignedFloat32(n);
        t.set(caseParams('float32', SEED, [n])[0]);
        return t;
      });
    const params = make();
    const expected = make();
    // Shaped after `expected`, which stays attached while `params` travels.
    const grads = (step: number) => caseGrads(expected, SEED, step) as Float32Array[];
    const opt = new Adam(params, { lr: 0.01 });
    const reference = new Adam(expected, { lr: 0.01 });
    opt.step(grads(0));
    reference.step(grads(0));

    // The worker gets the params' memory (no copy) and one SGD step to do.
    const offsets = params.map((p) => p.byteOffset);
    const sent = params.map((p) => p.buffer as ArrayBuffer);
    const back = await inWorker<Float32Array[]>({ kind: 'sgd-on-transferred', params, grads: grads(1), lr: 0.1 }, sent);
    new SGD(expected, { lr: 0.1 }).step(grads(1));

    // Here, the old views are detached: the optimizer that holds them refuses to step and changes nothing.
    expect(params.every((p) => p.length === 0)).to.equal(true);
    const before = opt.stateDict();
    expect(() => opt.step(grads(2))).to.throw(TypeError).with.property('code', ErrorCodes.DETACHED_BUFFER);
    expect(() => opt.step(grads(2))).to.throw(/params\[0\]: its ArrayBuffer is detached/);
    expect(opt.stateDict()).to.deep.equal(before);

    // The views that came back are the same memory: same offsets, still 64-byte aligned.
    back.forEach((p, i) => {
      expect(p.byteOffset).to.equal(offsets[i]);
      expect(loadAddon().alignmentOffset(p.buffer as ArrayBuffer, 64)).to.equal(offsets[i]);
    });
    expectAllBitIdentical(back, expected, 'params after the worker’s step');

    // A new optimizer over them, with the old one's state, continues exactly.
    const resumed = new Adam(back, { lr: 0.01 });
    resumed.loadStateDict(opt.stateDict());
    await resumed.stepAsync(grads(2));
    reference.step(grads(2));
    expectAllBitIdentical(copyResultTensors(resumed), copyResultTensors(reference), 'after resuming on the returned buffers');
  });

  describe('a detached buffer', () => {
    it('as a gradient: step throws and stepAsync rejects ERR_DETACHED_BUFFER naming it; nothing changes', async () => {
      const opt = findCase('Adam').make(caseParams('float32', SEED));
      const grads = caseGrads(opt.paramGroups[0].params, SEED, 0);
      detach(grads[1]);
      const before = copyResultTensors(opt);
      expect(() => opt.step(grads)).to.throw(TypeError, /grads\[1\]: its ArrayBuffer is detached/).with.property('code', ErrorCodes.DETACHED_BUFFER);
      let caught: (Error & { code?: string }) | undefined;
      await opt.stepAsync(grads).catch((err) => (caught = err));
      expect(caught?.code).to.equal(ErrorCodes.DETACHED_BUFFER);
      expectAllBitIdentical(copyResultTensors(opt), before, 'after the refused steps');
      expect(opt.state.every((s) => s.step === undefined)).to.equal(true);
    });

    it('as a state buffer: the step refuses before advancing any step count', () => {
      const opt = findCase('Adam').make(caseParams('float64', SEED));
      const grads = caseGrads(opt.paramGroups[0].params, SEED, 0);
      opt.step(grads);
      detach(opt.state[2].expAvgSq as Tensor);
      // A group's state is carved from one ArrayBuffer: detaching one buffer detaches them all.
      expect(opt.state[0].expAvg as Tensor).to.have.length(0);
      expect(() => opt.step(grads)).to.throw(TypeError, /state\[\d\]\.expAvg(Sq)?: its ArrayBuffer is detached/).with.property('code', ErrorCodes.DETACHED_BUFFER);
      expect(opt.state.map((s) => s.step)).to.deep.equal([1, 1, 1, 1]);
    });

    it('at the native boundary (sync and async entry points) is a TypeError with the code, not a crash', () => {
      const addon = loadAddon();
      const a = new Float32Array(8);
      const b = new Float32Array(8);
      detach(b);
      for (const call of [
        () => addon.update(row(accumulateKernel), [a, b], Float64Array.of(1), 1),
        () => addon.updateAsync(row(accumulateKernel), [a, b], Float64Array.of(1), 1),
        () => addon.reduceAsync(0, [b], 2, 1),
      ]) {
        expect(call).to.throw(TypeError, /buffers\[1\]|tensors\[0\]/).with.property('code', ErrorCodes.DETACHED_BUFFER);
      }
    });
  });
});
