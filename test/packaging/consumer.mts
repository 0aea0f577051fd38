// An ES module TypeScript consumer (.mts), type-checked with node16 resolution
// against the .d.mts that the "import" condition of package.json "exports"
// points to (consumer.ts checks the "require" side more fully).
import { AdamW, ErrorCodes, clipGradNormAsync } from 'fusedoptim';
import type { ErrorCode, Tensor } from 'fusedoptim';

const params: Tensor[] = [new Float64Array(4)];
const opt = new AdamW(params, { weightDecay: 0.01 });
const norm: number = await clipGradNormAsync([new Float64Array(4)], 1);
await opt.stepAsync([new Float64Array(4)], { gradScale: 1 / norm });
export const code: ErrorCode = ErrorCodes.STEP_IN_FLIGHT;

// @ts-expect-error weightDecay is a number
new AdamW(params, { weightDecay: true });

// The fusedoptim/distributed subpath, typed through its own "import" condition.
import { DistributedOptimizer, allReduceAsync, init } from 'fusedoptim/distributed';
import type { DistributedOptions } from 'fusedoptim/distributed';
export const distributedOptions: DistributedOptions = { deterministic: true, shardState: false };
export const start = (): Promise<void> => {
  init({ bucketBytes: 1 << 20 });
  new DistributedOptimizer(opt, distributedOptions);
  return allReduceAsync(params, { op: 'mean' });
};
// @ts-expect-error 'min' is not a reduction of allReduce
allReduceAsync(params, { op: 'min' });
