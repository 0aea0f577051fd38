/**
 * The bytes a kernel must move per parameter: the floor of its memory
 * traffic, from which the benchmark derives an effective bandwidth
 * (bytes/param ÷ ns/param = GB/s). Counted in elements of the tensor's dtype
 * (4 bytes for float32, 8 for float64): every buffer the kernel reads once,
 * plus every buffer it writes once. A buffer that is read and written counts
 * twice (it crosses the memory bus both ways).
 *
 * | workload        | reads                 | writes        | elements | float32 B | float64 B |
 * |-----------------|-----------------------|---------------|---------:|----------:|----------:|
 * | sgd             | param, grad           | param         |        3 |        12 |        24 |
 * | sgd-momentum    | param, grad, buf      | param, buf    |        5 |        20 |        40 |
 * | nesterov        | param, grad, buf      | param, buf    |        5 |        20 |        40 |
 * | adagrad         | param, grad, sum      | param, sum    |        5 |        20 |        40 |
 * | rmsprop         | param, grad, sq       | param, sq     |        5 |        20 |        40 |
 * | adam / adamw    | param, grad, m, v     | param, m, v   |        7 |        28 |        56 |
 * | lion            | param, grad, m        | param, m      |        5 |        20 |        40 |
 * | lamb            | param, grad, m, v; param, m, v | m, v; param | 10 |     40 |        80 |
 * | adamax          | param, grad, m, u     | param, m, u   |        7 |        28 |        56 |
 * | radam / nadam   | param, grad, m, v     | param, m, v   |        7 |        28 |        56 |
 * | adadelta        | param, grad, v, u     | param, v, u   |        7 |        28 |        56 |
 * | rprop           | param, grad, prev, η  | param, prev, η |       7 |        28 |        56 |
 * | asgd            | param, grad           | param, ax     |        4 |        16 |        32 |
 * | adafactor       | grad; param, grad; param, grad | param |   6 |        24 |        48 |
 * | adafactor-vector | param, grad, V; param, grad, V | V; param | 8 |       32 |        64 |
 * | global-norm     | grad                  | –             |        1 |         4 |         8 |
 * | clip+adam       | grad; param, grad, m, v | param, m, v |        8 |        32 |        64 |
 * | probe-inplace   | a, b                  | a             |        3 |        12 |        24 |
 * | probe-read      | b                     | –             |        1 |         4 |         8 |
 *
 * clip+adam is the fused step `opt.step(grads, { maxGradNorm })`: one read
 * pass over the gradients for the norm, then Adam's own pass with the clip
 * factor folded into the gradient scale, so one element more than Adam.
 *
 * lamb is two passes in one call (native/kernels/lamb.h): the first reads
 * everything and writes the moments while it sums ‖θ‖² and ‖u‖² per tensor;
 * the second, once the trust ratios are known, reads θ, m and v again and
 * writes θ. No algorithm can move θ before its tensor's norms are complete, so
 * without a scratch copy of u (which would move as many bytes) 10 is its floor.
 *
 * adafactor (params of matrix shape) is three passes in one call
 * (native/drivers/multi_tensor_factored.h): the row and column sums of G², then Σθ²
 * and ΣU², then the move; its row and column statistics (rows + cols numbers
 * per matrix) are left out of the count. adafactor-vector (no shapes: a full
 * second moment V) is two, like lamb. Both floors hold for the same reason as
 * lamb's: θ cannot move before its tensor's RMS(θ) and RMS(U) are complete.
 *
 * asgd runs with PyTorch's default t0 = 1e6, where ax is a copy of the params
 * (written, not read); once averaging starts it is read too (5 elements). The
 * CPU still reads ax's cache lines before writing them (write-allocate), so
 * expect asgd's "of probe" below the others' by about 4/5.
 */
import { OPTIMIZERS } from '../lib/optim/registry';

/**
 * Compact optimizer state (float32 params only) is counted in bytes: the
 * param (read and written) and gradient as above, plus per moment 2 bytes
 * each way for bfloat16, or 1 byte each way and a float32 absmax per 256
 * elements each way for 8 bits (stochastic rounding moves what round to
 * nearest moves).
 *
 * | workload                  | param + grad | moments          | bytes/param |
 * |---------------------------|-------------:|------------------|------------:|
 * | adam-bf16, adam-bf16-sr   |           12 | 2 × (2 + 2)      |          20 |
 * | adam-int8                 |           12 | 2 × (1 + 1 + 8/256) |  16.0625 |
 * | lion-bf16, lion-bf16-sr   |           12 | 2 + 2            |          16 |
 * | lion-int8                 |           12 | 1 + 1 + 8/256    |     14.03125 |
 */
export const COMPACT_BYTES_MOVED: Readonly<Record<string, number>> = {
  'adam-bf16': 20,
  'adam-bf16-sr': 20,
  'adam-int8': 12 + 2 * (2 + 8 / 256),
  'lion-bf16': 16,
  'lion-bf16-sr': 16,
  'lion-int8': 12 + 2 + 8 / 256,
};

/**
 * Elements moved per parameter where the rule below does not hold (see the
 * table above): variants, several passes, write-only state, and the probes.
 */
export const ELEMENTS_MOVED: Readonly<Record<string, number>> = {
  'sgd-momentum': 5,
  nesterov: 5,
  lamb: 10,
  asgd: 4,
  adafactor: 6,
  'adafactor-vector': 8,
  'global-norm': 1,
  'clip+adam': 8,
  'probe-inplace': 3,
  'probe-read': 1,
};

/**
 * A registered optimizer at its defaults (workload id: its name in lower
 * case) whose kernel is one elementwise pass: it reads every slot (param,
 * grad, state; Schedule-Free's z) once and writes every one but the grad once.
 */
function registeredElements(workload: string): number | undefined {
  const kernel = OPTIMIZERS.find((e) => e.name.toLowerCase() === workload)?.defaultKernel;
  return kernel ? 2 * kernel.slots - 1 : undefined;
}

export function bytesPerElement(dtype: 'float32' | 'float64'): number {
  return dtype === 'float32' ? 4 : 8;
}

/** Bytes per parameter that `workload` must move at `dtype`. */
export function bytesPerParam(workload: string, dtype: 'float32' | 'float64'): number {
  const compact = COMPACT_BYTES_MOVED[workload];
  if (compact !== undefined) {
    if (dtype !== 'float32') throw new Error(`bench: ${workload} runs on float32 params only`);
    return compact;
  }
  const elements = ELEMENTS_MOVED[workload] ?? registeredElements(workload);
  if (elements === undefined) throw new Error(`bench: no byte count for workload ${JSON.stringify(workload)}`);
  return elements * bytesPerElement(dtype);
}
