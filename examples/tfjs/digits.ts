/**
 * The digits with TensorFlow.js: the 64-128-64-10 MLP of `npm start`, built
 * with tf.sequential and trained with model.fit twice from the same seeded
 * weights on the same batches: once with tf.train.adam, once with
 * fusedoptim's AdamW through fusedoptim/tfjs (warmup-cosine lr per batch,
 * clipping by global norm inside the step: the settings of `npm start`).
 * Prints both validation accuracies and the optimizer's share of each
 * training step's time, on the CPU and the WASM backend.
 *
 *   npx ts-node examples/tfjs/digits.ts [--backends cpu,wasm] [--epochs 20] [--threads 1]
 *
 * Needs the dev dependencies @tensorflow/tfjs-core, -layers, -backend-cpu, -backend-wasm.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as TfLayers from '@tensorflow/tfjs-layers';
import { WarmupCosineScheduler, setNumThreads } from '../../lib';
import { DIGITS_CLASSES, DIGITS_FEATURES, Examples, batchesPerEpoch, epochPermutation, loadDigits, splitTrainValidation, subset } from '../../lib/cli/jobs/digits/data';
import { DEFAULT_DIGITS_CONFIG } from '../../lib/cli/jobs/digits/job';

interface Run {
  backend: string;
  optimizer: string;
  validationAccuracy: number;
  msPerStep: number;
  optimizerMsPerStep: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const tf = require('@tensorflow/tfjs-core') as typeof TfCore;
  require('@tensorflow/tfjs-backend-cpu');
  require('@tensorflow/tfjs-backend-wasm');
  const tfl = require('@tensorflow/tfjs-layers') as typeof TfLayers;
  const fused = require('../../lib/tfjs') as typeof import('../../lib/tfjs');

  const config = { ...DEFAULT_DIGITS_CONFIG, epochs: Number(arg('epochs', String(DEFAULT_DIGITS_CONFIG.epochs))) };
  // One thread by default: TensorFlow.js's CPU backend (and, in Node, its WASM backend) uses one.
  setNumThreads(Number(arg('threads', '1')));
  const { train, validation } = splitTrainValidation(loadDigits(), { seed: config.seed, validationFraction: config.validationFraction });
  const stepsPerEpoch = batchesPerEpoch(train.size, config.batchSize);

  const toTensors = (d: Examples): [TfCore.Tensor, TfCore.Tensor] => [
    tf.tensor2d(d.x, [d.size, DIGITS_FEATURES]),
    tf.oneHot(tf.tensor1d(Int32Array.from(d.y), 'int32'), DIGITS_CLASSES),
  ];

  /** The model, its weights a function of the seed alone. */
  const buildModel = (): TfLayers.Sequential => {
    const [h1, h2] = config.hidden;
    const he = (k: number) => tfl.initializers.heNormal({ seed: config.seed * 10 + k });
    return tfl.sequential({
      layers: [
        tfl.layers.dense({ units: h1, inputShape: [DIGITS_FEATURES], activation: 'relu', kernelInitializer: he(1) }),
        tfl.layers.dense({ units: h2, activation: 'relu', kernelInitializer: he(2) }),
        tfl.layers.dense({ units: DIGITS_CLASSES, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: config.seed * 10 + 3 }) }),
      ],
    });
  };

  const optimizers: Record<string, () => TfCore.Optimizer> = {
    'tf.train.adam': () => tf.train.adam(config.peakLr),
    'fusedoptim AdamW': () =>
      fused.adamW(
        { lr: config.peakLr, weightDecay: config.weightDecay },
        {
          maxGradNorm: config.maxGradNorm,
          scheduler: fused.scheduler(WarmupCosineScheduler, { warmupSteps: config.warmupSteps, totalSteps: config.epochs * stepsPerEpoch, minLr: config.minLr }),
        },
      ),
  };

  const runs: Run[] = [];
  for (const backend of arg('backends', 'cpu,wasm').split(',')) {
    if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not initialise`);
    const [vx, vy] = toTensors(validation);
    for (const [label, make] of Object.entries(optimizers)) {
      const model = buildModel();
      const optimizer = make();
      model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      // The optimizer's time: its applyGradients, inside the training step model.fit times below.
      let optimizerNs = 0n;
      const apply = optimizer.applyGradients.bind(optimizer);
      optimizer.applyGradients = (grads) => {
        const start = process.hrtime.bigint();
        apply(grads);
        optimizerNs += process.hrtime.bigint() - start;
      };
      let stepNs = 0n;
      let batchStart = 0n;
      let steps = 0;
      const timer = {
        onBatchBegin: async () => void (batchStart = process.hrtime.bigint()),
        onBatchEnd: async () => {
          stepNs += process.hrtime.bigint() - batchStart;
          steps++;
        },
      };
      for (let epoch = 0; epoch < config.epochs; epoch++) {
        // The batches of `npm start`: the order of (seed, epoch), the same for both optimizers.
        const [x, y] = toTensors(subset(train, epochPermutation(train.size, config.seed, epoch)));
        await model.fit(x, y, { batchSize: config.batchSize, epochs: epoch + 1, initialEpoch: epoch, shuffle: false, verbose: 0, callbacks: timer });
        tf.dispose([x, y]);
      }
      const [, accuracy] = model.evaluate(vx, vy, { batchSize: 256 }) as TfCore.Scalar[];
      runs.push({
        backend,
        optimizer: label,
        validationAccuracy: (await accuracy.data())[0],
        msPerStep: Number(stepNs) / 1e6 / steps,
        optimizerMsPerStep: Number(optimizerNs) / 1e6 / steps,
      });
      const r = runs[runs.length - 1];
      console.log(
        `${backend.padEnd(5)} ${label.padEnd(17)} validation accuracy ${(100 * r.validationAccuracy).toFixed(1)}%  ` +
          `step ${r.msPerStep.toFixed(2)} ms, optimizer ${r.optimizerMsPerStep.toFixed(3)} ms (${((100 * r.optimizerMsPerStep) / r.msPerStep).toFixed(1)}% of the step)`,
      );
      model.dispose();
    }
    tf.dispose([vx, vy]);
  }
  console.log(`${config.epochs} epochs of ${stepsPerEpoch} batches of ${config.batchSize}, seed ${config.seed}; fusedoptim on ${arg('threads', '1')} thread(s)`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
