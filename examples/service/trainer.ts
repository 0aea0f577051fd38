/**
 * Trains the digits MLP in the background of a service: one batch at a time,
 * each optimizer step on libuv's thread pool (stepAsync), a turn of the event
 * loop between batches, and a separate copy of the weights for serving.
 *
 * Why a serving copy: while a step is in flight the kernels are writing the
 * training weights, so a prediction that read them would see half-updated
 * values. The copy is refreshed between steps, when nothing is writing (17k
 * numbers: microseconds).
 */
import { AdamW, setNumThreads } from '../../lib';
import { CosineAnnealingLR } from '../../lib/schedulers';
import { DIGITS_CLASSES, DIGITS_FEATURES, Examples, epochBatches, batchesPerEpoch, loadDigits, splitTrainValidation } from '../../lib/cli/jobs/digits/data';
import { Mlp, createMlp } from '../../lib/cli/jobs/digits/mlp';

export interface TrainerOptions {
  /** Epochs to train; default 30. */
  epochs?: number;
  batchSize?: number;
  /** Peak learning rate (cosine-annealed to 0 over the run); default 3e-3. */
  lr?: number;
  seed?: number;
  /** Threads for the optimizer kernels (setNumThreads); default 1, leaving the other core to the service. */
  threads?: number;
  /** Use the blocking step() instead of stepAsync(): for comparison only. */
  sync?: boolean;
}

export interface TrainerStatus {
  state: 'training' | 'done' | 'stopped' | 'failed';
  step: number;
  epoch: number;
  /** Mean training loss of the last batch. */
  loss: number | null;
  lr: number;
  /** Accuracy on the held-out split after the last completed epoch. */
  validationAccuracy: number | null;
  error?: string;
}

const SIZES = [DIGITS_FEATURES, 128, 64, DIGITS_CLASSES];

/** A turn of the event loop: requests that arrived meanwhile are answered before the next batch. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export class Trainer {
  readonly status: TrainerStatus;
  private readonly model: Mlp;
  private readonly serving: Mlp;
  private readonly train: Examples;
  private readonly validation: Examples;
  private readonly opts: Required<TrainerOptions>;
  private stopRequested = false;
  private running: Promise<void> | null = null;

  constructor(options: TrainerOptions = {}) {
    this.opts = { epochs: 30, batchSize: 32, lr: 3e-3, seed: 1, threads: 1, sync: false, ...options };
    setNumThreads(this.opts.threads);
    const { train, validation } = splitTrainValidation(loadDigits(), { seed: this.opts.seed });
    this.train = train;
    this.validation = validation;
    this.model = createMlp({ sizes: SIZES, seed: this.opts.seed });
    this.serving = createMlp({ sizes: SIZES, seed: this.opts.seed });
    this.status = { state: 'training', step: 0, epoch: 0, loss: null, lr: this.opts.lr, validationAccuracy: null };
  }

  /** Starts training in the background; the promise settles when it ends (or fails). */
  start(): Promise<void> {
    if (!this.running) {
      this.running = this.run().catch((err: Error & { code?: string }) => {
        this.status.state = 'failed';
        this.status.error = `${err.code ?? err.name}: ${err.message}`;
      });
    }
    return this.running;
  }

  /** Stops after the step in flight (never in the middle of one) and waits for it. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    await this.running;
  }

  /** The most likely digit of each of `n` rows of 64 pixels (in [0, 1]), from the serving copy. */
  predict(x: Float32Array, n: number): Uint8Array {
    return this.serving.predict(x, n);
  }

  private async run(): Promise<void> {
    const { epochs, batchSize, seed, lr, sync } = this.opts;
    const opt = new AdamW(this.model.params, { lr, weightDecay: 1e-4 });
    const scheduler = new CosineAnnealingLR(opt, { TMax: epochs * batchesPerEpoch(this.train.size, batchSize) });
    for (let epoch = 0; epoch < epochs; epoch++) {
      this.status.epoch = epoch;
      for (const batch of epochBatches(this.train, { batchSize, seed, epoch })) {
        if (this.stopRequested) {
          this.status.state = 'stopped';
          return;
        }
        const { loss, grads } = this.model.forwardBackward(batch);
        if (sync) opt.step(grads);
        else await opt.stepAsync(grads);
        scheduler.step();
        this.publish(loss, opt.lr);
        await yieldToEventLoop();
      }
      this.status.validationAccuracy = this.serving.accuracy(this.validation);
    }
    this.status.state = 'done';
  }

  /** Between steps: nothing is writing the weights, so copy them for serving. */
  private publish(loss: number, lr: number): void {
    this.model.params.forEach((p, i) => this.serving.params[i].set(p));
    this.status.step++;
    this.status.loss = loss;
    this.status.lr = lr;
  }
}
