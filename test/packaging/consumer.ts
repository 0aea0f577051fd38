// A TypeScript consumer (CommonJS output: this package has no "type": "module"),
// type-checked with module/moduleResolution node16 against the built .d.ts that
// the "require" condition of package.json "exports" points to. Never run: the
// types are what is tested. Each @ts-expect-error proves a type is not `any`.
import { Adam, ErrorCodes, SGD, isFusedOptimError, setNumThreads } from 'fusedoptim';
import type { ErrorCode, OptimizerStateDict, StepResult, Tensor } from 'fusedoptim';

export async function consume(): Promise<ErrorCode | null> {
  setNumThreads(1);
  const params: Tensor[] = [new Float32Array(3)];
  const opt = new Adam(params, { lr: 0.1, betas: [0.9, 0.999], amsgrad: true });
  const result: StepResult = await opt.stepAsync([new Float32Array(3)], { maxGradNorm: 1 });
  const norm: number | undefined = result.gradNorm;
  const saved: OptimizerStateDict = opt.stateDict();
  new Adam(params, { lr: 0.1, amsgrad: true }).loadStateDict(saved);

  // @ts-expect-error lr is a number
  new Adam(params, { lr: '0.1' });
  // @ts-expect-error SGD has no option called momentun
  new SGD(params, { momentun: 0.9 });
  // @ts-expect-error a step takes tensors (or null), not numbers
  opt.step([[1, 2, 3]]);

  try {
    opt.step([new Float64Array(3)]);
  } catch (err) {
    if (isFusedOptimError(err) && err.code === ErrorCodes.DTYPE_MISMATCH) return err.code;
  }
  return norm === undefined ? null : ErrorCodes.NON_FINITE;
}
