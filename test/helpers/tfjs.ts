/**
 * TensorFlow.js for the fusedoptim/tfjs tests: loaded at run time (it is an
 * optional dev dependency), a small model, a recorder of the gradients a
 * training run hands the optimizer, and fusedoptim replaying them directly.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as TfLayers from '@tensorflow/tfjs-layers';
import type * as Fused from '../../lib/tfjs';
import type { Optimizer, StepOptions } from '../../lib';
import type { LRScheduler, SchedulableOptimizer } from '../../lib/schedulers';

export interface Tfjs {
  tf: typeof TfCore;
  tfl: typeof TfLayers;
  fused: typeof Fused;
}

let cached: Tfjs | null | undefined;

/** TensorFlow.js core + CPU backend + layers, and fusedoptim/tfjs; null if any is not installed. */
export function loadTfjs(): Tfjs | null {
  if (cached !== undefined) return cached;
  try {
    const tf = require('@tensorflow/tfjs-core') as typeof TfCore;
    require('@tensorflow/tfjs-backend-cpu');
    const tfl = require('@tensorflow/tfjs-layers') as typeof TfLayers;
    const fused = require('../../lib/tfjs') as typeof Fused;
    cached = { tf, tfl, fused };
  } catch {
    cached = null;
  }
  return cached;
}

/** Call in a before() hook: skips the suite, saying why, when TensorFlow.js is missing. */
export function requireTfjs(ctx: Mocha.Context): Tfjs {
  const t = loadTfjs();
  if (t === null) {
    console.log('    (skipped: @tensorflow/tfjs-core, -backend-cpu or -layers is not installed; npm install --include=dev)');
    ctx.skip();
  }
  return t!;
}

/** True when the WASM backend is installed and initialises. */
export async function wasmAvailable(tf: typeof TfCore): Promise<boolean> {
  try {
    require('@tensorflow/tfjs-backend-wasm');
    const ok = await tf.setBackend('wasm');
    await tf.setBackend('cpu');
    return ok;
  } catch {
    return false;
  }
}

/** A 6-16-3 MLP with seeded initial weights. */
export function smallModel({ tfl }: Tfjs, seed = 1): TfLayers.Sequential {
  const init = (s: number) => tfl.initializers.glorotUniform({ seed: s });
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 16, inputShape: [6], activation: 'relu', kernelInitializer: init(seed) }),
      tfl.layers.dense({ units: 3, kernelInitializer: init(seed + 1) }),
    ],
  });
}

/** Seeded inputs and targets for smallModel. */
export function smallData({ tf }: Tfjs, n = 24, seed = 7): { x: TfCore.Tensor; y: TfCore.Tensor } {
  const x = tf.randomNormal([n, 6], 0, 1, 'float32', seed);
  const y = tf.randomNormal([n, 3], 0, 1, 'float32', seed + 1);
  return { x, y };
}

/** Each trainable weight's values by variable name (copies). */
export function snapshot(model: TfLayers.LayersModel): Map<string, Float32Array> {
  return new Map(model.trainableWeights.map((w) => [w.name, (w.read().dataSync() as Float32Array).slice()]));
}

/** Records, per applyGradients call, a copy of every gradient by variable name, then lets the step run. */
export function recordGradients(opt: TfCore.Optimizer): Map<string, Float32Array>[] {
  const steps: Map<string, Float32Array>[] = [];
  const apply = opt.applyGradients.bind(opt);
  opt.applyGradients = (grads) => {
    const list = Array.isArray(grads) ? grads : Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
    steps.push(new Map(list.filter((g) => g.tensor != null).map((g) => [g.name, (g.tensor.dataSync() as Float32Array).slice()])));
    apply(grads);
  };
  return steps;
}

/**
 * fusedoptim stepping the recorded gradients directly on copies of `initial`,
 * params in the order the first step lists them, as the wrapper orders them; `schedule` builds a
 * scheduler over the optimizer, stepped after every step.
 */
export function replay(
  Class: new (params: Float32Array[], options?: never) => Optimizer<{ lr: number }>,
  options: object,
  initial: Map<string, Float32Array>,
  steps: Map<string, Float32Array>[],
  stepOptions?: StepOptions,
  schedule?: (opt: SchedulableOptimizer) => LRScheduler,
): Map<string, Float32Array> {
  const names = [...steps[0].keys()];
  const params = names.map((n) => initial.get(n)!.slice());
  const opt = new Class(params, options as never);
  const scheduler = schedule?.(opt);
  for (const step of steps) {
    opt.step(names.map((n) => step.get(n) ?? null), stepOptions);
    scheduler?.step();
  }
  return new Map(names.map((n, i) => [n, params[i]]));
}

/** The name of registerCopyBackend's backend. */
export const COPY_BACKEND = 'fusedoptim-test-copy';

/**
 * A backend that is neither 'cpu' nor 'wasm' (so fusedoptim/tfjs takes its
 * copying path, as on tfjs-node or WebGL): the CPU backend's class and
 * kernels under another name. False if it cannot be made.
 */
export async function registerCopyBackend({ tf }: Tfjs): Promise<boolean> {
  try {
    if (tf.findBackend(COPY_BACKEND) === null) {
      const { MathBackendCPU } = require('@tensorflow/tfjs-backend-cpu') as { MathBackendCPU: new () => TfCore.KernelBackend };
      for (const kernel of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...kernel, backendName: COPY_BACKEND });
      tf.registerBackend(COPY_BACKEND, () => new MathBackendCPU(), -1);
    }
    const ok = await tf.setBackend(COPY_BACKEND);
    await tf.setBackend('cpu');
    return ok;
  } catch {
    return false;
  }
}

/** The backends whose paths fusedoptim/tfjs takes, each with the name of its path. */
const BACKEND_PATHS: ReadonlyArray<readonly [string, string]> = [
  ['cpu', 'cpu'],
  ['wasm', 'wasm'],
  // The CPU backend under another name, so that the copying path (tfjs-node, WebGL) runs.
  [COPY_BACKEND, 'copy'],
];

/**
 * For the enclosing describe: loads TF.js (skipping the describe where it is
 * not installed) and hands it to `loaded`, then declares `cases` once per
 * backend, each in a describe of its own that runs with that backend set (a
 * backend that cannot run, such as WASM when its package is missing, skips
 * its cases and says so once); the CPU backend is set again after each test.
 * `cases` gets the backend's name and the name of the path the bridge takes on it.
 */
export function onEachTfjsBackend(loaded: (t: Tfjs) => void, cases: (backend: string, path: string) => void): void {
  let t: Tfjs;
  let backends: string[] = [];
  before(async function () {
    t = requireTfjs(this);
    loaded(t);
    backends = ['cpu', ...((await wasmAvailable(t.tf)) ? ['wasm'] : []), ...((await registerCopyBackend(t)) ? [COPY_BACKEND] : [])];
    if (!backends.includes('wasm')) console.log('    (WASM cases skipped: @tensorflow/tfjs-backend-wasm is not installed)');
  });
  afterEach(async () => {
    await t?.tf.setBackend('cpu');
  });
  for (const [backend, path] of BACKEND_PATHS) {
    describe(`on the ${backend} backend (the ${path} path)`, () => {
      beforeEach(async function () {
        if (!backends.includes(backend)) this.skip();
        await t.tf.setBackend(backend);
      });
      cases(backend, path);
    });
  }
}

/** model.save with its optimizer, into memory: the artifacts loadFromMemory reads. */
export async function saveToMemory({ tf }: Tfjs, model: TfLayers.LayersModel): Promise<TfCore.io.ModelArtifacts> {
  let artifacts: TfCore.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
  return artifacts!;
}

/** loadLayersModel of what saveToMemory saved (with the optimizer, if it was saved with one). */
export function loadFromMemory({ tf, tfl }: Tfjs, artifacts: TfCore.io.ModelArtifacts): Promise<TfLayers.LayersModel> {
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts));
}
