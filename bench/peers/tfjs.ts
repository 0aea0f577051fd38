/**
 * TensorFlow.js peers: tf.train.adam / tf.train.momentum on one float32
 * variable, on the CPU backend (plain JavaScript) and the WASM backend
 * (XNNPACK, SIMD), each interleaved with fusedoptim's native step on the same
 * size. TensorFlow.js has no AdamW and no clip_grad_norm: the clipped step is
 * written the textbook way (global norm, scale, apply).
 */
import { setNumThreads } from '../../lib/threads';
import { makeTensors } from '../layouts';
import { Member, RepPolicy, measureInterleaved } from '../measure';
import type { BenchOptions } from '../options';
import type { TimingRow } from '../results';
import { timingRow } from '../suite';
import { WORKLOADS } from '../workloads';

/** The parts of @tensorflow/tfjs-core this file uses (it is an optional dev dependency, loaded at run time). */
interface TfTensor {
  dispose(): void;
}
interface TfOptimizer {
  applyGradients(grads: Record<string, TfTensor>): void;
  dispose(): void;
}
interface Tf {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  tensor1d(values: Float32Array, dtype: 'float32'): TfTensor;
  variable(initial: TfTensor, trainable: boolean, name: string): TfTensor;
  tidy<T>(fn: () => T): T;
  addN(tensors: TfTensor[]): TfTensor;
  sum(x: TfTensor): TfTensor;
  square(x: TfTensor): TfTensor;
  sqrt(x: TfTensor): TfTensor;
  add(a: TfTensor, b: number): TfTensor;
  div(a: number, b: TfTensor): TfTensor;
  minimum(a: number, b: TfTensor): TfTensor;
  mul(a: TfTensor, b: TfTensor): TfTensor;
  dispose(x: TfTensor | TfTensor[]): void;
  train: { adam(lr: number): TfOptimizer; momentum(lr: number, momentum: number): TfOptimizer };
  env(): { set(flag: string, value: unknown): void };
}

export const TFJS_WORKLOADS = ['adam', 'sgd-momentum', 'clip+adam'];

function loadTf(): Tf | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const tf = require('@tensorflow/tfjs-core') as Tf;
    require('@tensorflow/tfjs-backend-cpu');
    return tf;
  } catch {
    return null;
  }
}

function hasWasm(): boolean {
  try {
    require('@tensorflow/tfjs-backend-wasm');
    return true;
  } catch {
    return false;
  }
}

/** One TensorFlow.js step of `workload` on a fresh variable of `size`; dispose() frees everything. */
function tfStep(tf: Tf, workload: string, values: Float32Array, gradValues: Float32Array): { step: () => void; dispose: () => void } {
  const variable = tf.variable(tf.tensor1d(values, 'float32'), true, `p${Math.random().toString(36).slice(2)}`);
  const name = (variable as unknown as { name: string }).name;
  const grad = tf.tensor1d(gradValues, 'float32');
  const opt = workload === 'sgd-momentum' ? tf.train.momentum(1e-3, 0.9) : tf.train.adam(1e-3);
  const step =
    workload === 'clip+adam'
      ? () => {
          const scaled = tf.tidy(() => {
            const norm = tf.sqrt(tf.addN([tf.sum(tf.square(grad))]));
            return tf.mul(grad, tf.minimum(1, tf.div(1, tf.add(norm, 1e-6))));
          });
          opt.applyGradients({ [name]: scaled });
          tf.dispose(scaled);
        }
      : () => opt.applyGradients({ [name]: grad });
  return {
    step,
    dispose: () => {
      opt.dispose();
      tf.dispose([variable, grad]);
    },
  };
}

export async function runTfjs(opts: BenchOptions, policy: RepPolicy, log: (line: string) => void): Promise<{ rows: TimingRow[]; notes: string[] }> {
  const tf = loadTf();
  if (!tf) {
    return { rows: [], notes: ['TensorFlow.js skipped: @tensorflow/tfjs-core or @tensorflow/tfjs-backend-cpu is not installed (npm install --include=dev).'] };
  }
  const notes: string[] = [
    'TensorFlow.js: float32, one variable, interleaved with fusedoptim native at the highest thread count (ratio = TensorFlow.js / fusedoptim); it has no AdamW, and its clipped step is global norm + scale + Adam.',
  ];
  const backends = ['cpu', ...(hasWasm() ? ['wasm'] : [])];
  if (backends.length === 1) notes.push('TensorFlow.js WASM skipped: @tensorflow/tfjs-backend-wasm is not installed.');
  const rows: TimingRow[] = [];
  const threads = Math.max(...opts.threads);
  const fusedoptim = new Map(WORKLOADS.map((w) => [w.id, w]));
  for (const backend of backends) {
    if (!(await tf.setBackend(backend))) {
      notes.push(`TensorFlow.js ${backend} skipped: the backend did not initialise.`);
      continue;
    }
    await tf.ready();
    for (const size of opts.sizes) {
      for (const workload of TFJS_WORKLOADS.filter((w) => opts.workloads.includes(w))) {
        log(`peers: tfjs-${backend} ${workload} ${size}`);
        const [params] = makeTensors('float32', [size], 1);
        const [grads] = makeTensors('float32', [size], 2);
        const ours = fusedoptim.get(workload)!.prepare('native', [params], [grads]);
        const theirs = tfStep(tf, workload, params as Float32Array, grads as Float32Array);
        try {
          const members: Member[] = [
            { id: 'fusedoptim', run: ours.step, before: () => setNumThreads(threads) },
            { id: 'tfjs', run: theirs.step },
          ];
          const samples = measureInterleaved(members, { ...policy, minReps: 3 });
          const key = { dtype: 'float32' as const, layout: 'one' as const, params: size, tensors: 1 };
          const label = fusedoptim.get(workload)!.label;
          const row = timingRow(key, workload, label, backend === 'cpu' ? 'tfjs-cpu' : 'tfjs-wasm', 1, samples.get('tfjs')!);
          const base = timingRow(key, workload, label, 'native', threads, samples.get('fusedoptim')!);
          row.ratio = row.nsPerParam / base.nsPerParam;
          rows.push(row);
        } finally {
          theirs.dispose();
        }
      }
    }
  }
  return { rows, notes };
}
