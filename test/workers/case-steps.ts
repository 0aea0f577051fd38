/**
 * The job of workers.test.ts, run both in worker_threads and on the main
 * thread: `steps` steps of an optimizer case from seeded params and gradients.
 * It depends only on its arguments, so a worker and the main thread that run
 * it with the same ones must produce the same bits.
 */
import type { DType, StateArray } from '../../lib';
import { caseGrads, caseParams, copyResultTensors, findCase } from '../helpers/optimizers';

/** Runs the steps, alternating stepAsync (even steps) and step (odd ones), each clipping to norm 0.5; resolves with copies of every buffer. */
export async function runCaseSteps(caseName: string, dtype: DType, seed: number, steps: number): Promise<StateArray[]> {
  const opt = findCase(caseName).make(caseParams(dtype, seed));
  for (let s = 0; s < steps; s++) {
    const grads = caseGrads(opt.paramGroups[0].params, seed, s);
    if (s % 2 === 0) await opt.stepAsync(grads, { maxGradNorm: 0.5 });
    else opt.step(grads, { maxGradNorm: 0.5 });
  }
  return copyResultTensors(opt);
}
