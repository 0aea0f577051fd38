/**
 * What the benchmark times: each workload is one public call of the library,
 * exactly as a user makes it (argument checks included), over a list of
 * params and their gradients, on the backend asked for.
 */
import { getTotalNorm } from '../lib/clip';
import { Adam, Lion, SGD } from '../lib/optim';
import { OPTIMIZERS } from '../lib/optim/registry';
import { Optimizer, StepOptions, modesOf } from '../lib/optim/core/optimizer';
import type { BackendName } from '../lib/backend';
import type { Tensor } from '../lib/tensor';
import type { StateStorageOptions } from '../lib/compact/state_storage';

export interface PreparedWorkload {
  /** One step (or one norm) over all the tensors. */
  step: () => void;
  /** Bytes of optimizer state held for these params (0 for the norm). */
  stateBytes: () => number;
}

export interface Workload {
  /** Stable id, used in flags, JSON and bytes.ts. */
  id: string;
  /** Human-readable name for tables. */
  label: string;
  prepare(backend: BackendName, params: Tensor[], grads: Tensor[]): PreparedWorkload;
  /** Runs on float32 params only (compact optimizer state). */
  float32Only?: boolean;
}

type AnyOptimizer = Optimizer<{ lr: number }>;

function stateBytesOf(opt: AnyOptimizer): number {
  return opt.stateBytes();
}

/** A workload that is one optimizer's step. */
function optimizerWorkload(
  id: string,
  label: string,
  make: (params: Tensor[], backend: BackendName) => AnyOptimizer,
  stepOptions?: StepOptions,
  float32Only = false,
): Workload {
  return {
    id,
    label,
    float32Only,
    prepare(backend, params, grads) {
      const opt = make(params, backend);
      return {
        step: stepOptions ? () => opt.step(grads, stepOptions) : () => opt.step(grads),
        stateBytes: () => stateBytesOf(opt),
      };
    },
  };
}

/**
 * Every step optimizer of the registry at its defaults, as a user makes it (id: its name in
 * lower case); one that takes shapes is given matrix shapes (and runs again without, "-vector");
 * one with modes (Schedule-Free) is put in train mode, as a training loop does.
 */
const REGISTERED: readonly Workload[] = OPTIMIZERS.filter((e) => !e.capabilities.closure).flatMap((e) => {
  const Built = e.class as new (params: Tensor[], options: Record<string, unknown>) => AnyOptimizer;
  const Class = function (params: Tensor[], options: Record<string, unknown>): AnyOptimizer {
    const opt = new Built(params, options);
    modesOf(opt)?.train();
    return opt;
  } as unknown as typeof Built;
  const id = e.name.toLowerCase();
  if (!e.capabilities.shapes) return [optimizerWorkload(id, e.name, (p, backend) => new Class(p, { backend }))];
  return [
    optimizerWorkload(id, `${e.name} (matrices)`, (p, backend) => new Class(p, { backend, shapes: p.map((t) => matrixShape(t.length)) })),
    optimizerWorkload(`${id}-vector`, `${e.name} (no shapes)`, (p, backend) => new Class(p, { backend })),
  ];
});

export const WORKLOADS: readonly Workload[] = [
  ...REGISTERED,
  optimizerWorkload('sgd-momentum', 'SGD momentum 0.9', (p, backend) => new SGD(p, { lr: 1e-3, momentum: 0.9, backend })),
  optimizerWorkload('nesterov', 'SGD Nesterov 0.9', (p, backend) => new SGD(p, { lr: 1e-3, momentum: 0.9, nesterov: true, backend })),
  {
    id: 'global-norm',
    label: 'global 2-norm',
    prepare: (backend, _params, grads) => ({ step: () => void getTotalNorm(grads, 2, { backend }), stateBytes: () => 0 }),
  },
  optimizerWorkload('clip+adam', 'Adam + clip (fused)', (p, backend) => new Adam(p, { backend }), { maxGradNorm: 1 }),
  // Compact state (stateDtype; float32 params only).
  ...compactWorkloads('adam', 'Adam', (p, backend, state) => new Adam(p, { backend, ...state })),
  ...compactWorkloads('lion', 'Lion', (p, backend, state) => new Lion(p, { backend, ...state })),
];

/**
 * The shape Adafactor is given for a tensor of n elements: rows × cols with
 * cols the largest divisor of n not above √n (4096 × 4096 for 16M), as a
 * model's weight matrices are roughly square; a prime n stays a vector.
 */
function matrixShape(n: number): number[] {
  for (let cols = Math.floor(Math.sqrt(n)); cols > 1; cols--) if (n % cols === 0) return [n / cols, cols];
  return [n];
}

/** bfloat16 (rounded to nearest and stochastically) and 8-bit state variants of a workload. */
function compactWorkloads(id: string, label: string, make: (params: Tensor[], backend: BackendName, state: Partial<StateStorageOptions>) => AnyOptimizer): Workload[] {
  return [
    optimizerWorkload(`${id}-bf16`, `${label}, bfloat16 state`, (p, b) => make(p, b, { stateDtype: 'bfloat16' }), undefined, true),
    optimizerWorkload(`${id}-bf16-sr`, `${label}, bfloat16 state, stochastic rounding`, (p, b) => make(p, b, { stateDtype: 'bfloat16', stochasticRounding: true }), undefined, true),
    optimizerWorkload(`${id}-int8`, `${label}, 8-bit state`, (p, b) => make(p, b, { stateDtype: 'int8' }), undefined, true),
  ];
}

export const WORKLOAD_IDS = WORKLOADS.map((w) => w.id);
