/**
 * The training loop: the textbook's loop as a library function.
 *
 *   for each epoch:
 *     for each batch (each group of `accumulationSteps` micro-batches):
 *       loss, grads = model.forwardBackward(batch)       (grads summed over the micro-batches)
 *       optimizer.step(grads, { gradScale: 1/k, maxGradNorm, skipIfNonfinite })
 *       scheduler.step()                                  (the lr schedule is per optimizer step)
 *       log loss, lr, grad norm; maybe checkpoint; maybe stop
 *     validation loss (and metrics); checkpoint when it improved
 *
 * Defaults: AdamW + WarmupCosineScheduler + clipping by global norm fused into the step.
 *
 * Exact resume: everything the loop's future depends on is in its checkpoints: the params, the
 * optimizer's state and step counts, the scheduler's state, the history, the best validation
 * loss, the epoch and how many optimizer steps of it were taken (and, data-parallel with
 * compressed gradients and error feedback, every rank's residuals). Resuming re-creates the epoch's
 * data (the same iterable, or the same `(epoch) => iterable`) and skips the micro-batches of
 * those steps, so a run stopped at any step and resumed in a new process ends bit-identical to
 * one that never stopped, provided the data of an epoch is a function of the epoch alone. The
 * position is in steps, not in one process's batches, so a data-parallel run may resume on
 * another number of ranks when its data keeps each step's examples (a fixed global batch:
 * lib/distributed/global_batch.ts).
 */
import { accumulateGrads } from '../clip';
import { ErrorCodes, makeError } from '../errors';
import { AdamW } from '../optim/adam';
import type { StateDtypeOption } from '../compact/state_storage';
import { Optimizer, StepResult, modesOf } from '../optim/core/optimizer';
import { WarmupCosineScheduler } from '../schedulers';
import { Tensor } from '../tensor';
import { zerosLike } from '../alloc';
import { checkBoolean, checkFunction, checkNumber, checkObject, checkOptions, checkString, checkTensor, describe } from '../validate';
import {
  AnyOptimizer,
  CheckpointModel,
  CheckpointScheduler,
  ErrorFeedbackState,
  TrainingProgress,
  loadCheckpoint,
  saveCheckpoint,
  saveCheckpointAsync,
} from './checkpoint';
import { History, cloneHistory, emptyHistory } from './history';
import type { DistributedOptions } from '../distributed/optimizer';
import { LoopDistribution, loopDistribution, planDistribution } from '../distributed/train';
import { ProgressMode, ProgressReporter, StepInfo, TextOutput, formatNumber } from './progress';

export type { StepInfo } from './progress';

/** What forwardBackward returns: the batch's mean loss and its gradients, aligned with params. */
export interface LossAndGrads {
  /** The batch's mean loss. */
  loss: number;
  /** The gradients of that loss, aligned with the model's params (buffers that are not the params). */
  grads: readonly Tensor[];
}

/**
 * The model interface. `params` are updated in place by the optimizer; forwardBackward must
 * compute the gradients of the batch's mean loss with respect to them (into buffers it owns, that
 * are not the params); forward computes the mean loss without gradients. Both may be async.
 * train() / eval(), when present, are called before training and before validation.
 *
 * `gradReady`, passed in data-parallel training, may be called with (i, grads[i]) as soon as
 * the backward pass has finished param i's gradient (before the others): it is then summed
 * across the ranks while the backward pass goes on. The gradient handed over must be the one
 * returned, and is not written again until the step.
 */
export interface TrainModel<B> extends CheckpointModel {
  /** The batch's mean loss and its gradients; `gradReady` (data-parallel training) takes each gradient as soon as it is done. */
  forwardBackward(batch: B, gradReady?: (index: number, grad: Tensor) => void): LossAndGrads | Promise<LossAndGrads>;
  /** The batch's mean loss, without gradients (validation). */
  forward(batch: B): number | Promise<number>;
  /** Called before training (as PyTorch's `model.train()`). */
  train?(): void;
  /** Called before validation (as PyTorch's `model.eval()`). */
  eval?(): void;
}

/**
 * Batches: any iterable or async iterable (an Array is re-iterated each epoch; a generator object
 * only yields once, so pass a function), or a function of the epoch (0-based) that returns one.
 */
export type DataSource<B> = Iterable<B> | AsyncIterable<B> | ((epoch: number) => Iterable<B> | AsyncIterable<B>);

/** What a callback returns to stop training: false or 'stop' (anything else continues). */
export type CallbackResult = void | boolean | 'stop' | undefined;

/** What onEpoch receives after every epoch's validation. */
export interface EpochInfo {
  /** The epoch just finished (0-based). */
  epoch: number;
  /** Optimizer steps taken so far. */
  globalStep: number;
  /** The epoch's mean train loss. */
  trainLoss: number;
  /** The epoch's validation loss. */
  valLoss: number;
  /** The epoch's evaluate() metrics, by name. */
  metrics: Record<string, number>;
  /** The validation loss is the lowest so far (the best checkpoint was written, if configured). */
  improved: boolean;
  /** The history so far. */
  history: History;
}

/** Why train() returned: all epochs done, maxSteps reached, a callback asked, or the signal aborted. */
export type StopReason = 'completed' | 'maxSteps' | 'callback' | 'aborted';

/** What train() resolves with. */
export interface TrainResult {
  /** Everything logged, the steps before a resume included. */
  history: History;
  /** Why training stopped. */
  stopReason: StopReason;
  /** Where training stands: pass `resumeFrom` a checkpoint of it to continue. */
  progress: TrainingProgress;
  /** The lowest validation loss, or null before the first validation. */
  bestValLoss: number | null;
  /** The optimizer that trained the model (the default AdamW when none was given). */
  optimizer: AnyOptimizer;
  /** The scheduler that was stepped, or null. */
  scheduler: CheckpointScheduler | null;
  /** Wall-clock seconds of this call. */
  seconds: number;
}

/** What the loop reads of an AbortSignal (declared structurally: the public types need no DOM or Node typings). */
export interface AbortSignalLike {
  /** True once training should stop. */
  readonly aborted: boolean;
}

/** A scheduler the loop can drive: step() after every optimizer step, and checkpointable state. */
export interface TrainScheduler extends CheckpointScheduler {
  /** Advances the schedule by one optimizer step. */
  step(): void;
}

/** `M` is the model's own type, so callbacks such as `evaluate` see its methods (`accuracy`, ...). */
export interface TrainConfig<B, M extends TrainModel<B> = TrainModel<B>> {
  /** The optimizer (over model.params, in order). Default: AdamW({ lr: peakLr, betas, eps, weightDecay }). */
  optimizer?: AnyOptimizer;
  /**
   * The scheduler, stepped once per optimizer step; null for none. Default: WarmupCosineScheduler({ warmupSteps, totalSteps, minLr }),
   * or none for an optimizer with train/eval modes (Schedule-Free), which needs no schedule.
   */
  scheduler?: TrainScheduler | null;
  /** The default AdamW's lr, the peak of the default schedule. Default 1e-3. */
  peakLr?: number;
  /** The default AdamW's betas. Default [0.9, 0.999]. */
  betas?: [number, number];
  /** The default AdamW's eps. Default 1e-8. */
  eps?: number;
  /** The default AdamW's decoupled weight decay. Default 0.01. */
  weightDecay?: number;
  /** How the default AdamW stores its moments (see Adam's stateDtype). Default 'float32'. */
  stateDtype?: StateDtypeOption;
  /** The default schedule's linear warmup, in optimizer steps. Default: 5% of totalSteps. */
  warmupSteps?: number;
  /** The default schedule's length in optimizer steps. Default: epochs × stepsPerEpoch when known, else maxSteps. */
  totalSteps?: number;
  /** The default schedule's final lr. Default 0. */
  minLr?: number;
  /** Clip the global 2-norm of each step's gradients to this (inside the step). Default 1; Infinity turns clipping off. */
  maxGradNorm?: number;
  /** Default 1. */
  epochs?: number;
  /** Stop after this many optimizer steps in all (counting those before a resume). */
  maxSteps?: number;
  /**
   * Micro-batches per optimizer step (gradient accumulation). Default 1. With `distributed`'s
   * backwardPassesPerStep k, each step takes accumulationSteps × k micro-batches.
   */
  accumulationSteps?: number;
  /** Optimizer steps per epoch, when the data cannot say (for the default totalSteps and the progress bar). */
  stepsPerEpoch?: number;
  /** Validation metrics besides the loss, computed after each epoch: e.g. (model) => ({ accuracy: ... }). */
  evaluate?: (model: M, epoch: number) => Record<string, number> | Promise<Record<string, number>>;
  /** Write a checkpoint here whenever the validation loss improves (the best model). */
  checkpointPath?: string;
  /** Write a checkpoint here at the end of every epoch, every `checkpointEvery` steps, and when training stops (the resume point). */
  lastCheckpointPath?: string;
  /** Also checkpoint to lastCheckpointPath every this many optimizer steps. */
  checkpointEvery?: number;
  /** Continue from this checkpoint (written by this loop): params, optimizer, scheduler, history, position. */
  resumeFrom?: string;
  /** JSON data stored in every checkpoint (a job's configuration). */
  extra?: Record<string, unknown>;
  /** Called after every optimizer step; return false or 'stop' to stop training (after checkpointing). */
  onStep?: (info: StepInfo) => CallbackResult | Promise<CallbackResult>;
  /** Called after every epoch's validation; return false or 'stop' to stop training. */
  onEpoch?: (info: EpochInfo) => CallbackResult | Promise<CallbackResult>;
  /** An AbortSignal: stops training after the current optimizer step, writing lastCheckpointPath first. */
  signal?: AbortSignalLike;
  /** Run optimizer steps with stepAsync (on libuv's thread pool), so the event loop stays responsive. */
  async?: boolean;
  /** A line every logEvery steps in 'log' mode. Default 10. */
  logEvery?: number;
  /** Default 'auto': a bar on a TTY, log lines otherwise. */
  progress?: ProgressMode;
  /** Print nothing (same as progress: 'none'). */
  quiet?: boolean;
  /** Where progress goes; default process.stdout. */
  output?: TextOutput;
  /**
   * Data-parallel on MPI (fusedoptim/distributed; start the processes with mpirun): true, or a
   * DistributedOptimizer's options (shardState, deterministic, compression, ...). Each rank passes its own shard of the
   * data (shardBatches); progress, logs and checkpoints are rank 0's, validation figures are
   * averaged over the ranks, and a stop on any rank stops every rank at the same step.
   *
   * `backwardPassesPerStep: k` makes one optimizer step of k backward passes (Horovod's
   * backward_passes_per_step), as `accumulationSteps: k` does: the loop adds the k micro-batches'
   * gradients up and steps once, communicating once. The schedule, `maxSteps`, `checkpointEvery`,
   * the step count and the progress count optimizer steps, not passes; an epoch's last, partial
   * group of passes still makes a step; a resume skips k micro-batches per step taken. The sums are
   * the bits the DistributedOptimizer's own accumulation gives (the same additions, gradScale 1/k).
   * With accumulationSteps too, a step takes accumulationSteps × k micro-batches.
   */
  distributed?: boolean | DistributedOptions;
}

const CONFIG_KEYS = [
  'optimizer', 'scheduler', 'peakLr', 'betas', 'eps', 'weightDecay', 'stateDtype', 'warmupSteps', 'totalSteps', 'minLr', 'maxGradNorm',
  'epochs', 'maxSteps', 'accumulationSteps', 'stepsPerEpoch', 'evaluate', 'checkpointPath', 'lastCheckpointPath',
  'checkpointEvery', 'resumeFrom', 'extra', 'onStep', 'onEpoch', 'signal', 'async', 'logEvery', 'progress', 'quiet', 'output',
  'distributed',
] as const;

/** Options that configure the default AdamW, and the default schedule: meaningless next to instances. */
const OPTIMIZER_KEYS = ['peakLr', 'betas', 'eps', 'weightDecay', 'stateDtype'] as const;
const SCHEDULE_KEYS = ['warmupSteps', 'totalSteps', 'minLr'] as const;

/** The default schedule's warmup, as a fraction of its length. */
export const DEFAULT_WARMUP_FRACTION = 0.05;

/**
 * Trains `model` on `trainData`, validating on `valData` (null for none) after every epoch.
 * Resolves with the history and why training stopped; rejects, having changed nothing it had not
 * already committed to, on invalid arguments or when the model or data throw.
 */
export async function train<B, M extends TrainModel<B> = TrainModel<B>>(
  model: M,
  trainData: DataSource<B>,
  valData: DataSource<B> | null,
  config: TrainConfig<B, M> = {},
): Promise<TrainResult> {
  const started = performance.now();
  // Inside the loop the model is only a TrainModel; `evaluate` is handed back the same object, of type M.
  const run = setUp(model, trainData, valData, config as TrainConfig<B>);
  const { cfg, optimizer, scheduler, reporter, distribution } = run;
  const { history } = run;
  // Replaced (not edited) at each epoch's end; checkpoints copy it.
  let { progress } = run;

  const checkpointContents = () => ({
    model,
    optimizer,
    scheduler,
    progress: { ...progress },
    history,
    extra: cfg.extra,
    // Rank 0's during a distributed checkpoint: every rank's error-feedback residuals.
    errorFeedback: distribution?.errorFeedback ?? null,
  });
  const writeOwnCheckpoint = async (path: string) => {
    if (cfg.async) await saveCheckpointAsync(path, checkpointContents());
    else saveCheckpoint(path, checkpointContents());
  };
  const writeCheckpoint = (path: string) => (distribution ? distribution.checkpoint(() => writeOwnCheckpoint(path)) : writeOwnCheckpoint(path));
  // On several ranks, the stop any of them wants, taken by all of them at the same step.
  const agreed = (local: StopReason | null): StopReason | null => (distribution ? distribution.agreeStop(local) : local);
  const stopHere = async (reason: StopReason): Promise<TrainResult> => {
    if (cfg.lastCheckpointPath !== undefined) await writeCheckpoint(cfg.lastCheckpointPath);
    if (reason !== 'completed') reporter.message(`training stopped (${reason}) after step ${progress.globalStep}`);
    reporter.close();
    return {
      history: cloneHistory(history),
      stopReason: reason,
      progress: { ...progress },
      bestValLoss: progress.bestValLoss,
      optimizer,
      scheduler,
      seconds: (performance.now() - started) / 1000,
    };
  };

  if (cfg.signal?.aborted) return stopHere('aborted');
  if (cfg.maxSteps !== undefined && progress.globalStep >= cfg.maxSteps) return stopHere('maxSteps');

  // An optimizer with modes (Schedule-Free) steps in train mode and is evaluated, checkpointed at
  // epoch ends and returned in eval mode: its params then hold the point to evaluate and to keep.
  // A checkpoint written mid-epoch (a stop, checkpointEvery) holds train mode, and a resume
  // switches exactly where the uninterrupted run did.
  const modes = modesOf(optimizer);
  const k = cfg.accumulationSteps;
  // Gradients handed over during the backward pass: only when each batch's are the step's (the
  // loop's own accumulation adds them up after the backward pass).
  const gradReady = k === 1 ? (distribution?.gradReady ?? undefined) : undefined;
  // The accumulators are allocated once: each optimizer step of k micro-batches sums into them.
  const accumulators = k > 1 ? model.params.map((p) => zerosLike(p)) : null;
  const stepOptions = (micro: number) => ({
    gradScale: 1 / micro,
    maxGradNorm: Number.isFinite(cfg.maxGradNorm) ? cfg.maxGradNorm : undefined,
    skipIfNonfinite: true,
  });

  for (; progress.epoch < cfg.epochs; ) {
    const epoch = progress.epoch;
    model.train?.();
    modes?.train();
    const batches = iterate(cfg.trainSource(epoch), `trainData (epoch ${epoch})`);
    // A resumed epoch skips the micro-batches of the steps it had taken, as this run lays them out
    // (k per step): the same position on any number of ranks. A checkpoint written before
    // stepsInEpoch existed gives this process's own count of micro-batches.
    const resumedSteps = progress.stepsInEpoch;
    const skip = resumedSteps === undefined ? progress.batchInEpoch : resumedSteps * k;
    progress.stepsInEpoch = resumedSteps ?? Math.ceil(progress.batchInEpoch / k);
    reporter.epochStart(epoch, cfg.stepsPerEpochFor(epoch), progress.stepsInEpoch, progress.globalStep);

    let consumed = 0;
    let micro = 0;
    let lossSum = 0;
    let stop: StopReason | null = null;
    let grads: readonly Tensor[] = [];

    /** One optimizer step over the `micro` micro-batches since the last one. */
    const optimizerStep = async (): Promise<StopReason | null> => {
      const lr = optimizer.lr;
      const stepGrads = accumulators ?? grads;
      const result: StepResult = distribution
        ? await distribution.step(stepGrads, stepOptions(micro), cfg.async)
        : cfg.async
          ? await optimizer.stepAsync(stepGrads, stepOptions(micro))
          : optimizer.step(stepGrads, stepOptions(micro));
      const loss = lossSum / micro;
      micro = 0;
      lossSum = 0;
      progress.globalStep++;
      progress.stepsInEpoch!++;
      progress.batchInEpoch = consumed;
      history.trainLoss.push(loss);
      history.learningRate.push(lr);
      history.gradNorm.push(result.gradNorm ?? NaN);
      if (result.skipped) history.skippedSteps.push(progress.globalStep);
      else if (Number.isFinite(loss)) {
        progress.epochLossSum += loss;
        progress.epochLossCount++;
      }
      scheduler?.step();
      const info: StepInfo = { globalStep: progress.globalStep, epoch, loss, lr, gradNorm: result.gradNorm ?? NaN, skipped: result.skipped };
      reporter.step(info);
      const wanted = cfg.onStep && isStop(await cfg.onStep(info)) ? 'callback' : null;
      // Without async steps nothing else would yield to the event loop, and an abort (a timer, a
      // signal handler) could never be seen: give it a turn.
      if (!wanted && cfg.signal && !cfg.async) await new Promise((resolve) => setImmediate(resolve));
      const stopNow = agreed(wanted ?? (cfg.signal?.aborted ? 'aborted' : cfg.maxSteps !== undefined && progress.globalStep >= cfg.maxSteps ? 'maxSteps' : null));
      if (stopNow) return stopNow;
      if (cfg.checkpointEvery !== undefined && progress.globalStep % cfg.checkpointEvery === 0) {
        await writeCheckpoint(cfg.lastCheckpointPath!);
      }
      return null;
    };

    for await (const batch of batches) {
      if (consumed < skip) {
        consumed++;
        continue;
      }
      const out = checkLossAndGrads(await model.forwardBackward(batch, gradReady), model.params, consumed, epoch);
      consumed++;
      lossSum += out.loss;
      grads = out.grads;
      if (accumulators) {
        if (micro === 0) for (const a of accumulators) a.fill(0);
        accumulateGrads(accumulators, out.grads);
      }
      micro++;
      if (micro === k) {
        stop = await optimizerStep();
        if (stop) break;
      }
    }
    // Fewer batches than skipped: not the data the checkpoint was written with, unless its last
    // step was the epoch's last, partial group of micro-batches.
    if (consumed < skip && !(resumedSteps !== undefined && Math.ceil(consumed / k) === resumedSteps)) {
      throw makeError(
        ErrorCodes.CHECKPOINT_MISMATCH,
        resumedSteps === undefined
          ? `train: epoch ${epoch} has ${consumed} batches, but the checkpoint resumed from had consumed ${skip} of it`
          : `train: epoch ${epoch} has ${consumed} batches (${Math.ceil(consumed / k)} steps of ${k}), but the checkpoint resumed from had taken ${resumedSteps} steps of it`,
      );
    }
    // The last, partial group of micro-batches of an epoch still makes a step (averaged over its size).
    if (!stop && micro > 0) stop = await optimizerStep();
    if (stop) return stopHere(stop);

    // Validation.
    model.eval?.();
    modes?.eval();
    const [lossTotal, lossWeight] = cfg.valSource ? await summedLoss(model, iterate(cfg.valSource(epoch), `valData (epoch ${epoch})`)) : [NaN, 0];
    const metrics = cfg.evaluate ? checkMetrics(await cfg.evaluate(model, epoch), history, epoch) : {};
    // On several ranks: the loss over every rank's validation batches, each metric the mean of the ranks'.
    const [total, weight, ...metricSums] = distribution ? distribution.sum([lossTotal, lossWeight, ...Object.values(metrics)]) : [lossTotal, lossWeight];
    const valLoss = weight > 0 ? total / weight : NaN;
    if (distribution) Object.keys(metrics).forEach((name, i) => (metrics[name] = metricSums[i] / distribution.size));
    model.train?.();
    const trainLoss = progress.epochLossCount > 0 ? progress.epochLossSum / progress.epochLossCount : NaN;
    history.epochTrainLoss.push(trainLoss);
    history.valLoss.push(valLoss);
    for (const [name, value] of Object.entries(metrics)) (history.valMetrics[name] ??= []).push(value);
    history.epochEndStep.push(progress.globalStep);
    const improved = Number.isFinite(valLoss) && (progress.bestValLoss === null || valLoss < progress.bestValLoss);
    progress = {
      epoch: epoch + 1,
      batchInEpoch: 0,
      stepsInEpoch: 0,
      globalStep: progress.globalStep,
      bestValLoss: improved ? valLoss : progress.bestValLoss,
      epochLossSum: 0,
      epochLossCount: 0,
    };
    if (improved && cfg.checkpointPath !== undefined) await writeCheckpoint(cfg.checkpointPath);
    if (cfg.lastCheckpointPath !== undefined) await writeCheckpoint(cfg.lastCheckpointPath);
    const metricText = Object.entries(metrics).map(([name, v]) => ` | val ${name} ${formatNumber(v)}`).join('');
    reporter.epochEnd(
      `epoch ${epoch + 1}/${cfg.epochs} | train loss ${formatNumber(trainLoss)} | val loss ${formatNumber(valLoss)}${metricText}` +
        `${improved ? ' (best)' : ''} | ${reporter.epochSeconds.toFixed(2)} s`,
    );
    let wanted: StopReason | null = null;
    if (cfg.onEpoch) {
      const info: EpochInfo = { epoch, globalStep: progress.globalStep, trainLoss, valLoss, metrics, improved, history: cloneHistory(history) };
      if (isStop(await cfg.onEpoch(info))) wanted = 'callback';
    }
    const stopNow = agreed(wanted ?? (cfg.signal?.aborted ? 'aborted' : null));
    if (stopNow) return stopHere(stopNow);
  }
  return stopHere('completed');
}

function isStop(result: CallbackResult): boolean {
  return result === false || result === 'stop';
}

// ---------------------------------------------------------------------------------------------
// Set-up: arguments, defaults, resume
// ---------------------------------------------------------------------------------------------

interface Resolved<B> {
  epochs: number;
  maxSteps: number | undefined;
  /** Micro-batches per optimizer step: accumulationSteps × the distributed option's backwardPassesPerStep. */
  accumulationSteps: number;
  maxGradNorm: number;
  checkpointPath: string | undefined;
  lastCheckpointPath: string | undefined;
  checkpointEvery: number | undefined;
  extra: Record<string, unknown> | undefined;
  evaluate: TrainConfig<B>['evaluate'];
  onStep: TrainConfig<B>['onStep'];
  onEpoch: TrainConfig<B>['onEpoch'];
  signal: AbortSignalLike | undefined;
  async: boolean;
  trainSource: (epoch: number) => Iterable<B> | AsyncIterable<B>;
  valSource: ((epoch: number) => Iterable<B> | AsyncIterable<B>) | null;
  /** Optimizer steps in an epoch, when known. */
  stepsPerEpochFor: (epoch: number) => number | null;
}

interface Run<B> {
  cfg: Resolved<B>;
  optimizer: AnyOptimizer;
  scheduler: TrainScheduler | null;
  reporter: ProgressReporter;
  progress: TrainingProgress;
  history: History;
  /** The loop's side on several MPI ranks, or null in one process. */
  distribution: LoopDistribution | null;
}

function setUp<B>(model: TrainModel<B>, trainData: DataSource<B>, valData: DataSource<B> | null, config: TrainConfig<B>): Run<B> {
  const m = checkObject('train: model', model);
  if (!Array.isArray(m.params) || m.params.length === 0) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `train: model.params: expected a non-empty Array of Float32Array or Float64Array, got ${describe(m.params)}`);
  }
  m.params.forEach((p, i) => checkTensor(`train: model.params[${i}]`, p));
  checkFunction('train: model.forwardBackward', m.forwardBackward);
  checkFunction('train: model.forward', m.forward);
  for (const hook of ['train', 'eval']) if (m[hook] !== undefined) checkFunction(`train: model.${hook}`, m[hook]);

  const c = checkOptions('train: config', config, CONFIG_KEYS) as TrainConfig<B>;
  const positiveInt = (key: keyof TrainConfig<B>, fallback?: number): number | undefined =>
    c[key] === undefined ? fallback : checkNumber(`train: config.${key}`, c[key], { integer: true, min: 1 });
  const optionalFn = <F>(key: keyof TrainConfig<B>): F | undefined =>
    c[key] === undefined ? undefined : (checkFunction(`train: config.${key}`, c[key]) as unknown as F);
  const path = (key: keyof TrainConfig<B>): string | undefined => {
    if (c[key] === undefined) return undefined;
    if (typeof c[key] !== 'string' || (c[key] as string).length === 0) {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `train: config.${key}: expected a non-empty path string, got ${describe(c[key])}`);
    }
    return c[key] as string;
  };

  const epochs = positiveInt('epochs', 1)!;
  const maxSteps = positiveInt('maxSteps');
  // Backward passes per optimizer step: the loop's own accumulation and the distributed option's.
  const plan = planDistribution(c.distributed);
  const accumulationSteps = positiveInt('accumulationSteps', 1)! * (plan?.backwardPassesPerStep ?? 1);
  const checkpointEvery = positiveInt('checkpointEvery');
  const stepsPerEpoch = positiveInt('stepsPerEpoch');
  const logEvery = positiveInt('logEvery', 10)!;
  const maxGradNorm = c.maxGradNorm === undefined ? 1 : checkNumber('train: config.maxGradNorm', c.maxGradNorm, { min: 0, minExclusive: true, allowInfinity: true });
  const lastCheckpointPath = path('lastCheckpointPath');
  if (checkpointEvery !== undefined && lastCheckpointPath === undefined) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, 'train: config.checkpointEvery: needs config.lastCheckpointPath, the file it writes');
  }
  const quiet = c.quiet === undefined ? false : checkBoolean('train: config.quiet', c.quiet);
  const mode = quiet ? 'none' : c.progress === undefined ? 'auto' : checkString('train: config.progress', c.progress, ['auto', 'bar', 'log', 'none'] as const);
  if (c.signal !== undefined && (typeof c.signal !== 'object' || c.signal === null || typeof c.signal.aborted !== 'boolean')) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `train: config.signal: expected an AbortSignal, got ${describe(c.signal)}`);
  }

  const trainSource = dataSource('train: trainData', trainData);
  const valSource = valData === null ? null : dataSource('train: valData', valData);
  // Steps per epoch: given, or from the length of an Array (or anything with a length).
  const length = typeof trainData === 'function' ? undefined : (trainData as { length?: unknown }).length;
  const knownLength = typeof length === 'number' ? length : null;
  const stepsPerEpochFor = (): number | null => stepsPerEpoch ?? (knownLength === null ? null : Math.ceil(knownLength / accumulationSteps));

  // The optimizer: given, or the default AdamW over the model's params.
  let optimizer: AnyOptimizer;
  if (c.optimizer !== undefined) {
    if (!(c.optimizer instanceof Optimizer)) throw makeError(ErrorCodes.INVALID_ARG_TYPE, `train: config.optimizer: expected an Optimizer, got ${describe(c.optimizer)}`);
    for (const key of OPTIMIZER_KEYS) {
      if (c[key] !== undefined) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `train: config.${key}: configures the default AdamW; set it on config.optimizer instead`);
    }
    optimizer = c.optimizer;
    const optimizerParams = optimizer.paramGroups.flatMap((g) => g.params);
    const same = optimizerParams.length === m.params.length && optimizerParams.every((p, i) => p === (m.params as Tensor[])[i]);
    if (!same) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, 'train: config.optimizer: must hold exactly model.params, in the same order (its gradients are matched by position)');
    }
  } else {
    optimizer = new AdamW(m.params as Tensor[], {
      lr: c.peakLr ?? 1e-3,
      ...(c.betas !== undefined && { betas: c.betas }),
      ...(c.eps !== undefined && { eps: c.eps }),
      weightDecay: c.weightDecay ?? 0.01,
      ...(c.stateDtype !== undefined && { stateDtype: c.stateDtype }),
    });
  }

  // The scheduler: given, none (null), or the default warmup-cosine.
  let scheduler: TrainScheduler | null;
  if (c.scheduler !== undefined) {
    for (const key of SCHEDULE_KEYS) {
      if (c[key] !== undefined) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `train: config.${key}: configures the default schedule; configure config.scheduler instead`);
    }
    if (c.scheduler !== null) {
      const s = checkObject('train: config.scheduler', c.scheduler);
      for (const fn of ['step', 'stateDict', 'loadStateDict']) checkFunction(`train: config.scheduler.${fn}`, s[fn]);
    }
    scheduler = c.scheduler;
  } else if (modesOf(optimizer) !== null) {
    // Schedule-Free needs no schedule (that is its point; it warms up by its own warmupSteps).
    for (const key of SCHEDULE_KEYS) {
      if (c[key] !== undefined) {
        throw makeError(ErrorCodes.INVALID_ARG_VALUE, `train: config.${key}: configures the default schedule, which an optimizer with train/eval modes (Schedule-Free) runs without; give the optimizer's own warmupSteps, or config.scheduler`);
      }
    }
    scheduler = null;
  } else {
    const perEpoch = stepsPerEpochFor();
    const totalSteps =
      c.totalSteps !== undefined
        ? checkNumber('train: config.totalSteps', c.totalSteps, { integer: true, min: 1 })
        : // Not maxSteps first: a run stopped early by maxSteps (to be resumed) must follow the same schedule.
          perEpoch !== null ? perEpoch * epochs : maxSteps;
    if (totalSteps === undefined) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        'train: config.totalSteps: the default schedule needs its length; give totalSteps, maxSteps or stepsPerEpoch (trainData has no length)',
      );
    }
    const warmupSteps = c.warmupSteps ?? Math.floor(totalSteps * DEFAULT_WARMUP_FRACTION);
    scheduler = new WarmupCosineScheduler(optimizer, { warmupSteps, totalSteps, minLr: c.minLr ?? 0 });
  }

  const cfg: Resolved<B> = {
    epochs,
    maxSteps,
    accumulationSteps,
    maxGradNorm,
    checkpointPath: path('checkpointPath'),
    lastCheckpointPath,
    checkpointEvery,
    extra: c.extra === undefined ? undefined : checkObject('train: config.extra', c.extra),
    evaluate: optionalFn('evaluate'),
    onStep: optionalFn('onStep'),
    onEpoch: optionalFn('onEpoch'),
    signal: c.signal,
    async: c.async === undefined ? false : checkBoolean('train: config.async', c.async),
    trainSource,
    valSource,
    stepsPerEpochFor,
  };

  let progress: TrainingProgress = { epoch: 0, batchInEpoch: 0, stepsInEpoch: 0, globalStep: 0, bestValLoss: null, epochLossSum: 0, epochLossCount: 0 };
  let history = emptyHistory();
  let errorFeedback: ErrorFeedbackState | null = null;
  const resumeFrom = path('resumeFrom');
  if (resumeFrom !== undefined) {
    // Everything is checked before anything is loaded (see loadCheckpoint).
    const ck = loadCheckpoint(resumeFrom, { model: model, optimizer, scheduler });
    if (ck.progress === null || ck.history === null) {
      throw makeError(ErrorCodes.CHECKPOINT_MISMATCH, `train: config.resumeFrom: ${resumeFrom} holds no training progress (not written by train)`);
    }
    progress = ck.progress;
    history = ck.history;
    errorFeedback = ck.errorFeedback;
  }
  // After the resume: every rank loaded the same checkpoint, and the distribution keeps its shard of it.
  const distribution = loopDistribution(optimizer, plan);
  const reporter = new ProgressReporter({ mode: distribution !== null && distribution.rank !== 0 ? 'none' : mode, logEvery, epochs, stream: c.output });
  // Each rank's error-feedback residuals, from the same file (a note, from rank 0, when they cannot carry over).
  const residualsNote = distribution
    ? distribution.resume(errorFeedback)
    : errorFeedback && `the checkpoint's error-feedback residuals (of ${errorFeedback.residuals.length} ranks) are not used: this run is not distributed`;
  if (residualsNote) reporter.message(`resume: ${residualsNote}`);
  return { cfg, optimizer, scheduler, reporter, progress, history, distribution };
}

function dataSource<B>(name: string, data: DataSource<B>): (epoch: number) => Iterable<B> | AsyncIterable<B> {
  if (typeof data === 'function') return data;
  if (isIterable(data)) return () => data;
  throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected an iterable, an async iterable or a function (epoch) => iterable, got ${describe(data)}`);
}

function isIterable(value: unknown): value is Iterable<unknown> | AsyncIterable<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    (typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function' || typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
  );
}

function iterate<B>(value: Iterable<B> | AsyncIterable<B>, name: string): Iterable<B> | AsyncIterable<B> {
  if (!isIterable(value)) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `train: ${name}: the data function returned ${describe(value)}, expected an iterable or async iterable`);
  }
  return value as Iterable<B> | AsyncIterable<B>;
}

/** The model's output must be a loss and one gradient per param, like it. */
function checkLossAndGrads(out: unknown, params: readonly Tensor[], batch: number, epoch: number): LossAndGrads {
  const where = `train: model.forwardBackward (epoch ${epoch}, batch ${batch})`;
  const o = checkObject(`${where}: result`, out);
  if (typeof o.loss !== 'number') throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${where}: loss: expected a number, got ${describe(o.loss)}`);
  if (!Array.isArray(o.grads) || o.grads.length !== params.length) {
    throw makeError(ErrorCodes.SHAPE_MISMATCH, `${where}: grads: expected ${params.length} gradients (one per param), got ${describe(o.grads)}`);
  }
  return o as unknown as LossAndGrads;
}

/** The validation batches' summed loss, each weighted by its `size` when it has one, and the summed weights. */
async function summedLoss<B>(model: TrainModel<B>, batches: Iterable<B> | AsyncIterable<B>): Promise<[number, number]> {
  let total = 0;
  let weight = 0;
  for await (const batch of batches) {
    const loss = await model.forward(batch);
    if (typeof loss !== 'number') throw makeError(ErrorCodes.INVALID_ARG_TYPE, `train: model.forward: expected a number, got ${describe(loss)}`);
    const size = (batch as { size?: unknown })?.size;
    const w = typeof size === 'number' && size > 0 ? size : 1;
    total += loss * w;
    weight += w;
  }
  return [total, weight];
}

/** evaluate() must return numbers, under the same names every epoch. */
function checkMetrics(value: unknown, history: History, epoch: number): Record<string, number> {
  const metrics = checkObject(`train: config.evaluate (epoch ${epoch}): result`, value);
  for (const [name, v] of Object.entries(metrics)) {
    if (typeof v !== 'number') throw makeError(ErrorCodes.INVALID_ARG_TYPE, `train: config.evaluate (epoch ${epoch}): ${name}: expected a number, got ${describe(v)}`);
  }
  const before = Object.keys(history.valMetrics).sort().join(', ');
  const now = Object.keys(metrics).sort().join(', ');
  if (history.valLoss.length > 0 && before !== now) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `train: config.evaluate (epoch ${epoch}): returned metrics [${now}], earlier epochs [${before}]`);
  }
  return metrics as Record<string, number>;
}
