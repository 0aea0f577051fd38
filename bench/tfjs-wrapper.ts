/**
 * fusedoptim/tfjs's step against TensorFlow.js's own Adam, and against
 * fusedoptim on plain Float32Arrays (what the wrapper adds), on one float32
 * variable of each size, on the CPU and the WASM backend. The wrapper and
 * plain fusedoptim are interleaved (bench/measure.ts), TensorFlow.js's Adam
 * measured in its own group; figures are medians in ns per parameter.
 *
 *   npx ts-node bench/tfjs-wrapper.ts [sizes, default 1048576,4194304]
 *
 * fusedoptim runs on one thread (FUSEDOPTIM_BENCH_THREADS=n to change), as
 * TensorFlow.js's CPU backend does.
 *
 * What each wrapper step moves (lib/tfjs/backends.ts): on CPU nothing (the
 * variable's values are the stepped param); on WASM the result is copied into
 * the variable's memory. The first step of a variable (adoption, a copy) is
 * in the warm-up, not in the figures.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { AdamW } from '../lib';
import { setNumThreads } from '../lib/threads';
import { Member, measureInterleaved } from './measure';
import { summarize } from './stats';

function fill(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 0.1;
  }
  return out;
}

async function main(): Promise<void> {
  const tf = require('@tensorflow/tfjs-core') as typeof TfCore;
  require('@tensorflow/tfjs-backend-cpu');
  require('@tensorflow/tfjs-backend-wasm');
  const fused = require('../lib/tfjs') as typeof import('../lib/tfjs');
  const sizes = (process.argv[2] ?? '1048576,4194304').split(',').map(Number);
  const policy = { warmupCalls: 3, minReps: 9, maxReps: 25, budgetNs: 4e9, minRepNs: 1e6 };
  // One thread, as TensorFlow.js's CPU backend and (in Node) its WASM backend use one.
  const threads = Number(process.env.FUSEDOPTIM_BENCH_THREADS ?? 1);
  setNumThreads(threads);
  console.log(`fusedoptim threads: ${threads}; AdamW lr 1e-3 (TensorFlow.js: Adam, it has no AdamW); medians, ns per parameter`);
  console.log('backend  params      tf.train.adam  fused wrapper  fusedoptim plain  wrapper/plain  adam/wrapper  path');
  for (const backend of ['cpu', 'wasm']) {
    await tf.setBackend(backend);
    for (const n of sizes) {
      const values = fill(n, 1);
      const gradValues = fill(n, 2);
      const theirs = tf.variable(tf.tensor1d(values), true, `adam${backend}${n}`);
      const ours = tf.variable(tf.tensor1d(values), true, `fused${backend}${n}`);
      const grad = tf.tensor1d(gradValues);
      const adam = tf.train.adam(1e-3);
      const wrapper = fused.adamW({ lr: 1e-3 });
      const plainParam = values.slice();
      const plain = new AdamW([plainParam], { lr: 1e-3 });
      const members: Member[] = [
        { id: 'wrapper', run: () => wrapper.applyGradients({ [ours.name]: grad }) },
        { id: 'plain', run: () => plain.step([gradValues]) },
      ];
      // TensorFlow.js's Adam in a group of its own: the garbage it leaves (new tensors every
      // step) would otherwise be collected during whichever member runs after it.
      const samples = new Map([...measureInterleaved(members, policy), ...measureInterleaved([{ id: 'adam', run: () => adam.applyGradients([{ name: theirs.name, tensor: grad }]) }], policy)]);
      const med = (id: string) => summarize(samples.get(id)!.perCallNs).median / n;
      const [a, w, p] = [med('adam'), med('wrapper'), med('plain')];
      const path = wrapper.writePaths()[ours.name];
      console.log(
        `${backend.padEnd(8)} ${String(n).padEnd(11)} ${a.toFixed(2).padStart(13)}  ${w.toFixed(2).padStart(13)}  ${p.toFixed(2).padStart(16)}  ${(w / p).toFixed(2).padStart(13)}  ${(a / w).toFixed(1).padStart(12)}  ${path}`,
      );
      adam.dispose();
      wrapper.dispose();
      tf.dispose([theirs, ours, grad]);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
