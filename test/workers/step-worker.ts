/**
 * The worker_thread side of workers.test.ts: loads the library (and with it its
 * own instance of the addon) in a worker, does one job, posts the result back
 * with its buffers transferred, not copied.
 */
import { parentPort, workerData } from 'worker_threads';
import { SGD, getNumThreads, setNumThreads } from '../../lib';
import type { DType, Tensor } from '../../lib';
import { loadAddon } from '../../lib/native';
import { runCaseSteps } from './case-steps';

export type WorkerJob =
  /** Run `steps` steps of an optimizer case (alternating step and stepAsync) and send back every buffer. */
  | { kind: 'steps'; caseName: string; dtype: DType; seed: number; steps: number; threads: number }
  /** One SGD step on params received by transfer; send them back the same way. */
  | { kind: 'sgd-on-transferred'; params: Tensor[]; grads: Tensor[]; lr: number }
  /** Set this context's thread count and report what the kernels' splitting does with it. */
  | { kind: 'threads'; threads: number; elements: number };

async function run(job: WorkerJob): Promise<{ result: unknown; transfer: ArrayBuffer[] }> {
  switch (job.kind) {
    case 'steps': {
      setNumThreads(job.threads);
      const buffers = await runCaseSteps(job.caseName, job.dtype, job.seed, job.steps);
      return { result: buffers, transfer: buffers.map((b) => b.buffer as ArrayBuffer) };
    }
    case 'sgd-on-transferred': {
      await new SGD(job.params, { lr: job.lr }).stepAsync(job.grads);
      return { result: job.params, transfer: job.params.map((p) => p.buffer as ArrayBuffer) };
    }
    case 'threads': {
      setNumThreads(job.threads);
      return { result: { threads: getNumThreads(), probe: loadAddon().threadProbe(job.elements, getNumThreads()) }, transfer: [] };
    }
  }
}

run(workerData as WorkerJob).then(
  // A buffer may back several views; the transfer list must name it once.
  ({ result, transfer }) => parentPort!.postMessage({ ok: true, result }, [...new Set(transfer)]),
  (err: Error & { code?: string }) => parentPort!.postMessage({ ok: false, message: err.message, code: err.code }),
);
