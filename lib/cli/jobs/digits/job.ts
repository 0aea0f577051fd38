/**
 * The main job (`npm start`, `fusedoptim train`): an MLP on the handwritten digits, trained by
 * train() with AdamW, warmup-cosine and clipping, into a run folder:
 *
 *   runs/<name>/best.safetensors   the checkpoint of the lowest validation loss
 *   runs/<name>/last.safetensors   the resume point (every epoch, every checkpointEvery steps, on stop)
 *   runs/<name>/history.json       the configuration, how the run ended, and the whole history
 *   runs/<name>/history.svg        loss curves, validation accuracy and the lr schedule
 *
 * A run folder that already holds a run is never overwritten by accident: a new run there is
 * refused unless it resumes the old one (`resume`) or replaces it (`force`). A damaged resume
 * point is refused with the way out (the other checkpoint, if intact) and nothing is written;
 * resuming from best.safetensors keeps a damaged last.safetensors as last.safetensors.damaged.
 *
 * The opening lines give the optimizer state's size (Optimizer.stateSize), and history.json keeps it.
 *
 * Everything random is a function of the seed (initialisation, split, every epoch's batch order),
 * and the configuration is stored in every checkpoint, so `resume` rebuilds the same model and
 * data and continues bit for bit. So is the global batch (global_batch.ts: the batches one step
 * averages, fixed by the number of ranks the run began on), so that a run resumed on another
 * number of ranks, or in one process, keeps its steps, batches and schedule.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ErrorCodes, FusedOptimError, isFusedOptimError, makeError } from '../../../errors';
import { Checkpoint, readCheckpoint } from '../../../train/checkpoint';
import { writeFileAtomic } from '../../../train/atomic';
import { History } from '../../../train/history';
import { DEFAULT_WARMUP_FRACTION, TrainResult, train } from '../../../train/loop';
import type { AnyOptimizer } from '../../../optim/core/optimizer';
import type { GlobalBatchSplit } from '../../../distributed/global_batch';
import { ReportedByAnotherRank } from '../../io';
import {
  BatchSource,
  GLOBAL_BATCH_KEY,
  GlobalBatch,
  newGlobalBatch,
  rankBatches,
  resumedElsewhereNote,
  spreadOver,
  stepsPerEpoch as stepsOfEpoch,
  storedGlobalBatch,
} from './global_batch';
import { StateSize, formatStateSize } from '../../../optim/core/state_size';
import { multiPanelSvg } from '../../../train/plot';
import { ProgressMode } from '../../../train/progress';
import { checkBoolean, checkNumber, checkObject, checkOptions, checkString, describe } from '../../../validate';
import { DIGITS_CLASSES, DIGITS_FEATURES, Examples, batchesPerEpoch, epochBatches, loadDigits, splitTrainValidation } from './data';
import { Mlp, createMlp } from './mlp';
import { buildOptimizer, checkOptimizerName } from './optimizer';
import { displayPath } from '../package_files';
import { STATE_STORAGE_OPTIONS, StateDtypeOption } from '../../../compact/state_storage';
import type { DistributedOptions } from '../../../distributed/optimizer';
import { COMPRESSION_NAMES, Compression } from '../../../distributed/collectives';

/** Everything that decides the result of a run; stored in its checkpoints. */
export interface DigitsConfig {
  seed: number;
  epochs: number;
  batchSize: number;
  /** Widths of the hidden layers. */
  hidden: number[];
  peakLr: number;
  weightDecay: number;
  /** Linear warmup, in optimizer steps. */
  warmupSteps: number;
  minLr: number;
  maxGradNorm: number;
  validationFraction: number;
  /** How the optimizer stores its moments: 'float32', 'bfloat16' or 'int8' (see Adam's stateDtype). */
  stateDtype: StateDtypeOption;
  /** The optimizer, by its class name (any step optimizer of the registry; ./optimizer.ts). */
  optimizer: string;
  /**
   * How the gradients travel between ranks when the run is distributed: 'none' (float32), or 16
   * bits, 'bf16' or 'fp16', summed in float32 (DistributedOptimizer's compression). One process
   * sends none, so a run resumed there steps with its float32 gradients.
   */
  compression: Compression;
  /** With compression: each rank's rounding error carried into its next step (DistributedOptimizer's errorFeedback). */
  errorFeedback: boolean;
}

/** Tuned to pass 95% validation accuracy with margin in a few seconds on 2 cores (the README section on npm start has the numbers). */
export const DEFAULT_DIGITS_CONFIG: Readonly<DigitsConfig> = Object.freeze({
  seed: 0,
  epochs: 20,
  batchSize: 32,
  hidden: [128, 64],
  peakLr: 3e-3,
  weightDecay: 0.01,
  warmupSteps: 45,
  minLr: 1e-5,
  maxGradNorm: 1,
  validationFraction: 0.2,
  stateDtype: 'float32',
  optimizer: 'AdamW',
  compression: 'none',
  errorFeedback: false,
});

export interface DigitsSetup {
  config: DigitsConfig;
  model: Mlp;
  trainSet: Examples;
  validation: Examples;
  stepsPerEpoch: number;
  /** The batches of an epoch, in the order of (seed, epoch). */
  trainBatches: (epoch: number) => Iterable<Examples>;
}

/** The model and data of a configuration; the same configuration gives the same bits. */
export function digitsSetup(config: DigitsConfig, data: Examples = loadDigits()): DigitsSetup {
  const { train: trainSet, validation } = splitTrainValidation(data, { seed: config.seed, validationFraction: config.validationFraction });
  const model = createMlp({ sizes: [DIGITS_FEATURES, ...config.hidden, DIGITS_CLASSES], seed: config.seed });
  return {
    config,
    model,
    trainSet,
    validation,
    stepsPerEpoch: batchesPerEpoch(trainSet.size, config.batchSize),
    trainBatches: (epoch) => epochBatches(trainSet, { batchSize: config.batchSize, seed: config.seed, epoch }),
  };
}

/** The widest hidden layer a configuration may have. */
export const MAX_HIDDEN_WIDTH = 4096;

/** Whether `name` may name a run folder: letters, digits, '_', '-' and '.', not '.' or '..'. */
export function isRunName(name: string): boolean {
  return /^[\w.-]+$/.test(name) && name !== '.' && name !== '..';
}

export interface DigitsJobOptions {
  /** The folder that holds run folders. Default: runs/ in the current directory. */
  runsDir?: string;
  /** The run folder's name. Default 'digits'. */
  name?: string;
  /** Settings that differ from DEFAULT_DIGITS_CONFIG (when resuming: must equal the run's). */
  config?: Partial<DigitsConfig>;
  /** Continue the run in runs/<name> from its last checkpoint (true or 'last') or from its best ('best'). */
  resume?: boolean | 'last' | 'best';
  /** Start over in runs/<name>, deleting the run it holds (without it, a folder holding a run is refused). */
  force?: boolean;
  /** Stop after this many optimizer steps in all (the run can be resumed later). */
  maxSteps?: number;
  /** Also write last.safetensors every this many steps (stored in the checkpoints; a resumed run keeps it unless given again). */
  checkpointEvery?: number;
  signal?: AbortSignal;
  progress?: ProgressMode;
  quiet?: boolean;
  output?: NodeJS.WritableStream & { isTTY?: boolean };
  /**
   * Data-parallel on MPI (start the processes with mpirun): a run begun on N ranks averages N
   * batches of batchSize examples per step (one per rank, dealt as shardBatches deals them), so an
   * epoch takes 1/N of the steps. It may resume on any number of ranks, or in one process, with
   * the same steps, batches and schedule (global_batch.ts). Rank 0 prints and writes the files.
   */
  distributed?: boolean | DistributedOptions;
}

export interface DigitsJobResult {
  runDir: string;
  config: DigitsConfig;
  result: TrainResult;
  /** Validation accuracy after the last completed epoch (NaN if none completed). */
  finalValAccuracy: number;
  /** Validation accuracy of the epoch with the lowest validation loss (the best checkpoint; NaN if none completed). */
  bestValAccuracy: number;
  /** The optimizer state's bytes, in all and by element type (as the opening lines print them). */
  optimizerState: StateSize;
  /** The files of the run; `best` is null while no validation has been done (no best checkpoint exists). */
  files: { best: string | null; last: string; historyJson: string; historySvg: string };
}

const CONFIG_KEYS = Object.keys(DEFAULT_DIGITS_CONFIG) as (keyof DigitsConfig)[];

export async function runDigitsJob(options: DigitsJobOptions = {}): Promise<DigitsJobResult> {
  const opts = checkOptions('options', options, [
    'runsDir', 'name', 'config', 'resume', 'force', 'maxSteps', 'checkpointEvery', 'signal', 'progress', 'quiet', 'output', 'distributed',
  ]) as DigitsJobOptions;
  if (opts.resume && opts.force) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, 'resume and force exclude each other (--resume continues the run; --force deletes it and starts over)');
  }
  // On several ranks: this rank's place, and its share of every step's batches (rank 0 prints and writes).
  const world = opts.distributed ? await import('../../../distributed') : null;
  world?.init();
  const rank = world?.rank() ?? 0;
  const size = world?.size() ?? 1;
  let plan: RunPlan | null = null;
  let refusal: unknown = null;
  try {
    plan = planRun(opts, size, world !== null);
  } catch (err) {
    refusal = err;
  }
  if (world) agreeToStart(world, rank, refusal);
  else if (refusal !== null) throw refusal;
  const { runDir, files, resumePoint, damagedLast, moveDamagedLast, config, setup, globalBatch, split, stepsPerEpoch, warmupSteps, notes } = plan!;
  const { optimizer, scheduled, description } = plan!;
  const checkpointEvery = plan!.checkpointEvery;
  const { model, validation } = setup;
  const out = opts.quiet || rank !== 0 ? null : (opts.output ?? process.stdout);
  const say = (line: string) => out?.write(line + '\n');

  // Only now, every rank having checked every setting: a refused --force deletes nothing (rank 0 deletes, for every rank).
  if (opts.force && rank === 0) for (const file of Object.values(files)) fs.rmSync(file, { force: true });
  // The run will write last.safetensors: a damaged one is kept aside, not overwritten.
  if (moveDamagedLast && rank === 0) fs.renameSync(files.last, damagedLast);
  const trainBatches = rankBatches(batchSource(setup), globalBatch, split, rank);
  fs.mkdirSync(runDir, { recursive: true });

  const optimizerState = optimizer.stateSize();
  const shardState = typeof opts.distributed === 'object' && opts.distributed.shardState === true;
  say(
    `${resumePoint === 'best' ? 'resuming from the best epoch' : resumePoint !== null ? 'resuming' : 'training'} an MLP ${model.sizes.join('-')} on ${setup.trainSet.size} digits ` +
      `(validating on ${validation.size}): ${description}, ` +
      `${scheduled ? `warmup ${warmupSteps} steps then cosine to ${config.minLr}, ` : ''}clip ${config.maxGradNorm}, ` +
      `${config.epochs} epochs of ${stepsPerEpoch} steps${size > 1 ? ` on ${size} ranks` : ''}${world && config.compression !== 'none' ? `, gradients sent in ${config.compression}${config.errorFeedback ? ' with error feedback' : ''}` : ''}, ` +
      `seed ${config.seed} -> ${displayPath(runDir)}`,
  );
  say(`${formatStateSize(optimizerState, model.params.reduce((n, p) => n + p.length, 0))}${shardState ? `, of which each rank keeps about 1/${size}` : ''}`);
  if (moveDamagedLast) say(`kept the damaged last.safetensors as ${displayPath(damagedLast)}`);
  for (const note of notes) say(`note: ${note}`);
  const result = await train(model, trainBatches, [validation], {
    epochs: config.epochs,
    optimizer,
    // Schedule-Free runs without a schedule (the loop gives it none).
    ...(scheduled && { warmupSteps, totalSteps: config.epochs * stepsPerEpoch, minLr: config.minLr }),
    maxGradNorm: config.maxGradNorm,
    stepsPerEpoch,
    // A rank's pieces of a step's batches add up before the step (one whole batch per rank: 1).
    accumulationSteps: split.piecesPerRank,
    evaluate: () => ({ accuracy: model.accuracy(validation) }),
    checkpointPath: files.best,
    lastCheckpointPath: files.last,
    ...(checkpointEvery !== undefined && { checkpointEvery }),
    ...(opts.maxSteps !== undefined && { maxSteps: opts.maxSteps }),
    ...(resumePoint !== null && { resumeFrom: files[resumePoint] }),
    ...(opts.signal !== undefined && { signal: opts.signal }),
    // checkpointEvery changes no number, but a resumed run should keep checkpointing as it did.
    extra: { job: 'digits', config, checkpointEvery: checkpointEvery ?? null, [GLOBAL_BATCH_KEY]: globalBatch },
    // Steps on the thread pool: the event loop stays free for SIGINT and the progress bar.
    async: true,
    progress: opts.quiet ? 'none' : (opts.progress ?? 'auto'),
    ...(opts.output !== undefined && { output: opts.output }),
    ...(opts.distributed && { distributed: distributedOptions(opts.distributed, config) }),
  });

  const history = result.history;
  const accuracy = history.valMetrics.accuracy ?? [];
  const bestEpoch = argMin(history.valLoss);
  // The loop writes best.safetensors exactly when a validation loss improves on the best so far.
  const hasBest = result.bestValLoss !== null;
  const bestValAccuracy = hasBest ? (accuracy[bestEpoch] ?? NaN) : NaN;
  const finalValAccuracy = accuracy[accuracy.length - 1] ?? NaN;
  const summary = {
    job: 'digits',
    config,
    checkpointEvery: checkpointEvery ?? null,
    [GLOBAL_BATCH_KEY]: globalBatch,
    optimizerState,
    stopReason: result.stopReason,
    globalStep: result.progress.globalStep,
    epochsCompleted: result.progress.epoch,
    bestEpoch: hasBest ? bestEpoch + 1 : null,
    bestValLoss: result.bestValLoss,
    bestValAccuracy,
    finalValAccuracy,
    bestCheckpoint: hasBest ? path.basename(files.best) : null,
    secondsThisSession: result.seconds,
    history,
  };
  // A report for any JSON reader: JSON.stringify writes NaN and ±Infinity (a skipped step's loss and
  // norm, a metric never measured) as null, never as strings where numbers belong.
  if (rank === 0) {
    await writeFileAtomic(files.historyJson, JSON.stringify(summary, null, 1) + '\n');
    await writeFileAtomic(files.historySvg, historySvg(history, `digits MLP ${model.sizes.join('-')}, seed ${config.seed}`));
  }
  const ending = `${result.stopReason === 'completed' ? 'done' : `stopped (${result.stopReason})`} after ${result.progress.globalStep} steps in ${result.seconds.toFixed(1)} s`;
  say(
    hasBest
      ? `${ending}: best val loss ${fmt(result.bestValLoss!)} (epoch ${bestEpoch + 1}, accuracy ${percent(bestValAccuracy)}), ` +
          `final val accuracy ${percent(finalValAccuracy)}`
      : `${ending}, before the first validation: no best checkpoint yet`,
  );
  const written = { ...files, best: hasBest ? files.best : null };
  say(`wrote ${[written.best, written.last, written.historyJson, written.historySvg].filter((f): f is string => f !== null).map(displayPath).join(', ')}`);
  return { runDir, config, result, finalValAccuracy, bestValAccuracy, optimizerState, files: written };
}

/** Everything a run needs, checked and read, before anything is written. */
interface RunPlan {
  runDir: string;
  files: { best: string; last: string; historyJson: string; historySvg: string };
  resumePoint: 'last' | 'best' | null;
  /** Resuming from best over a damaged last.safetensors: the damaged file is kept under this name. */
  damagedLast: string;
  moveDamagedLast: boolean;
  config: DigitsConfig;
  checkpointEvery: number | undefined;
  setup: DigitsSetup;
  globalBatch: GlobalBatch;
  /** How this world's ranks share each step's batches. */
  split: GlobalBatchSplit;
  stepsPerEpoch: number;
  /** The optimizer over the model's params, built here (as train() would build it) so that its state's size can be said before the first step. */
  optimizer: AnyOptimizer;
  /** Whether it follows the job's warmup-cosine schedule (Schedule-Free does not), and how to say what it is. */
  scheduled: boolean;
  description: string;
  /** The warmup the schedule gets: config.warmupSteps, unless the run is too short for it. */
  warmupSteps: number;
  /** Lines said once, after the opening ones, prefixed with "note: ". */
  notes: string[];
}

/**
 * The run's settings, checked, and what resuming reads; throws, having written nothing, when the
 * run cannot go on (every rank calls it on the same settings and files).
 */
function planRun(opts: DigitsJobOptions, size: number, distributed: boolean): RunPlan {
  const name = opts.name ?? 'digits';
  if (typeof name !== 'string' || !isRunName(name)) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `options.name: expected a folder name of letters, digits, '_', '-' and '.', got ${describe(name)}`);
  }
  const runDir = runDirOf(opts.runsDir, name);
  // Any of these in the folder means it holds a run.
  const files = {
    best: path.join(runDir, 'best.safetensors'),
    last: path.join(runDir, 'last.safetensors'),
    historyJson: path.join(runDir, 'history.json'),
    historySvg: path.join(runDir, 'history.svg'),
  };
  const given = withDistributedCompression(checkConfig(opts.config ?? {}), opts.distributed);
  let checkpointEvery = checkCheckpointEvery('options.checkpointEvery', opts.checkpointEvery);

  if (opts.resume !== undefined && opts.resume !== false && opts.resume !== true && opts.resume !== 'last' && opts.resume !== 'best') {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `options.resume: expected true, false, 'last' or 'best', got ${describe(opts.resume)}`);
  }
  const resumePoint = opts.resume === 'best' ? 'best' : opts.resume ? 'last' : null;
  const damagedLast = `${files.last}.damaged`;
  let moveDamagedLast = false;
  let config: DigitsConfig;
  let resumed: Checkpoint | null = null;
  if (resumePoint !== null) {
    const from = files[resumePoint];
    if (!fs.existsSync(from)) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `resume: there is no run to resume in ${runDir} (no ${path.basename(from)}${resumePoint === 'best' ? ': no validation has finished yet' : ''})`,
      );
    }
    resumed = readResumePoint(files, resumePoint);
    if (resumePoint === 'best' && fs.existsSync(files.last) && tryReadCheckpoint(files.last) instanceof Error) {
      if (fs.existsSync(damagedLast)) {
        throw makeError(ErrorCodes.INVALID_ARG_VALUE, `resume: last.safetensors is damaged and ${displayPath(damagedLast)} exists already; move one of them away first`);
      }
      moveDamagedLast = true;
    }
    const { extra } = resumed;
    config = checkConfig(extra.config, 'the checkpoint\'s config', true) as DigitsConfig;
    checkpointEvery ??= checkCheckpointEvery('the checkpoint\'s checkpointEvery', extra.checkpointEvery);
    for (const key of Object.keys(given) as (keyof DigitsConfig)[]) {
      if (JSON.stringify(given[key]) !== JSON.stringify(config[key])) {
        throw makeError(
          ErrorCodes.INVALID_ARG_VALUE,
          `resume: ${key} is ${JSON.stringify(config[key])} in the run being resumed; it cannot be changed to ${JSON.stringify(given[key])}`,
        );
      }
    }
  } else {
    const existing = Object.values(files).filter((file) => fs.existsSync(file)).map((file) => path.basename(file));
    if (existing.length > 0 && !opts.force) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `${displayPath(runDir)} already holds a run (${existing.join(', ')}): continue it with --resume, ` +
          `or delete it and start over with --force`,
      );
    }
    config = { ...DEFAULT_DIGITS_CONFIG, hidden: [...DEFAULT_DIGITS_CONFIG.hidden], ...given };
  }
  checkCompression(config, opts.distributed, resumePoint !== null);
  const setup = digitsSetup(config);
  const { optimizer, scheduled, description } = buildOptimizer(config, setup.model.params);
  const source = batchSource(setup);
  const globalBatch = resumed === null ? newGlobalBatch(size, distributed) : storedGlobalBatch(resumed, displayPath(files[resumePoint!]), source, size, distributed);
  const split = spreadOver(source, globalBatch, size);
  const stepsPerEpoch = stepsOfEpoch(source, globalBatch);
  const totalSteps = config.epochs * stepsPerEpoch;

  // A warmup as long as the run (--epochs 1 on several ranks) leaves no schedule: it gets train()'s default share instead.
  const warmupSteps = config.warmupSteps < totalSteps ? config.warmupSteps : Math.floor(totalSteps * DEFAULT_WARMUP_FRACTION);
  const notes: string[] = [];
  const done = resumed?.progress ?? null;
  if (done !== null && done.epoch >= config.epochs) {
    notes.push(
      `this run has finished its schedule (${config.epochs} epochs, ${done.globalStep} steps): there is nothing left to train; ` +
        'start another with --name, or this one over with --force',
    );
  } else {
    const elsewhere = resumedElsewhereNote(split, config.batchSize);
    if (elsewhere !== null) notes.push(elsewhere);
    if (resumed !== null && !distributed && config.compression !== 'none') {
      notes.push(`this run sends its gradients between ranks in ${config.compression}; one process sends none, so its steps use them in float32`);
    }
    if (scheduled && warmupSteps !== config.warmupSteps) {
      notes.push(
        `a warmup of ${config.warmupSteps} steps does not fit this run's ${totalSteps} steps; it warms up for ${warmupSteps} ` +
          `(${100 * DEFAULT_WARMUP_FRACTION}% of them, train()'s default), then follows the cosine`,
      );
    }
    // Only a run resumed on another number of ranks by an earlier fusedoptim can have gone past its schedule.
    if (scheduled && done !== null && done.globalStep >= totalSteps) {
      notes.push(`this run is at step ${done.globalStep}, past the end of its ${totalSteps}-step schedule: its remaining epochs train at the final lr ${config.minLr}`);
    }
  }
  return { runDir, files, resumePoint, damagedLast, moveDamagedLast, config, checkpointEvery, setup, optimizer, scheduled, description, globalBatch, split, stepsPerEpoch, warmupSteps, notes };
}

/** The folder of the run `name` in `runsDir` (default runs/ in the working directory). */
export function runDirOf(runsDir: string | undefined, name: string): string {
  return path.resolve(runsDir ?? 'runs', name);
}

/**
 * options.distributed's compression and errorFeedback (DistributedOptions' names, as the benchmark
 * gives them) moved into the configuration, which the run keeps: given in both places, they must agree.
 */
function withDistributedCompression(given: Partial<DigitsConfig>, distributed: DigitsJobOptions['distributed']): Partial<DigitsConfig> {
  if (typeof distributed !== 'object' || distributed === null) return given;
  const out = { ...given };
  for (const key of ['compression', 'errorFeedback'] as const) {
    if (distributed[key] === undefined) continue;
    const value = checkConfig({ [key]: distributed[key] }, 'options.distributed')[key];
    if (out[key] !== undefined && out[key] !== value) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `options.distributed.${key}: ${JSON.stringify(value)}, but options.config.${key} is ${JSON.stringify(out[key])}; give it once (the run keeps it in its configuration)`,
      );
    }
    Object.assign(out, { [key]: value });
  }
  return out;
}

/** What the configuration's compression cannot go with: no compression for error feedback to correct, or ZeRO-1's uncompressed reduce-scatter. */
function checkCompression(config: DigitsConfig, distributed: DigitsJobOptions['distributed'], resuming: boolean): void {
  if (config.errorFeedback && config.compression === 'none') {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${resuming ? "the checkpoint's config" : 'options.config'}.errorFeedback: needs compression 'bf16' or 'fp16' (the rounding error it carries over)`);
  }
  const shardState = typeof distributed === 'object' && distributed !== null && distributed.shardState === true;
  if (shardState && config.compression !== 'none') {
    throw makeError(
      ErrorCodes.INVALID_ARG_VALUE,
      resuming
        ? `resume: this run sends its gradients in ${config.compression} (its configuration's compression), and --shard-state reduce-scatters them uncompressed: resume it without --shard-state`
        : `options.distributed.shardState: reduce-scatters the gradients uncompressed, and the compression is ${JSON.stringify(config.compression)}: use one or the other`,
    );
  }
}

/** The DistributedOptimizer's options of a distributed run: the job's, with the configuration's compression. */
function distributedOptions(distributed: true | DistributedOptions, config: DigitsConfig): DistributedOptions {
  const base = distributed === true ? {} : distributed;
  // Without compression, exactly the options given (the DistributedOptimizer's defaults are the same).
  return config.compression === 'none' ? base : { ...base, compression: config.compression, errorFeedback: config.errorFeedback };
}

/** What global_batch.ts needs of the data. */
function batchSource(setup: DigitsSetup): BatchSource {
  const { config, trainSet, stepsPerEpoch: batches } = setup;
  return {
    seed: config.seed,
    batchSize: config.batchSize,
    epochBatches: setup.trainBatches,
    batchesPerEpoch: batches,
    smallestBatch: trainSet.size - (batches - 1) * config.batchSize,
  };
}

/**
 * On several ranks, whether every rank could set the run up. Each checked the same settings and
 * files; when any refuses, all stop here, before a collective of training would leave the others
 * waiting for it. They finalize MPI (so the job ends without MPI_Abort and its banner), and the
 * refusal is printed once: by rank 0, or by a rank whose refusal rank 0 does not share.
 */
function agreeToStart(world: typeof import('../../../distributed'), rank: number, refusal: unknown): void {
  const refused = Float64Array.of(refusal === null ? 0 : 1, rank === 0 && refusal !== null ? 1 : 0);
  world.allReduce([refused], { op: 'max', deterministic: true });
  if (refused[0] === 0) return;
  world.finalize();
  if (refusal !== null && (rank === 0 || refused[1] === 0)) throw refusal;
  throw new ReportedByAnotherRank(`rank ${rank}: another rank refused to start the run and said why`);
}

type RunFiles = { best: string; last: string };

/**
 * The checkpoint a resume starts from, read; a damaged one is refused with the way out: the other
 * checkpoint when it is intact, else starting over. Nothing has been written when it throws.
 */
function readResumePoint(files: RunFiles, point: 'last' | 'best'): Checkpoint {
  const read = tryReadCheckpoint(files[point]);
  if (!(read instanceof Error)) return read;
  if (read.code !== ErrorCodes.CHECKPOINT_CORRUPT) throw read;
  const other = point === 'last' ? 'best' : 'last';
  const intact = fs.existsSync(files[other]) ? tryReadCheckpoint(files[other]) : null;
  const wayOut =
    intact === null || intact instanceof Error
      ? `no intact checkpoint to continue from (${other}.safetensors is ${intact === null ? 'missing' : 'damaged too'}); --force deletes the run and starts over`
      : `${other}.safetensors${intact.progress ? ` (after epoch ${intact.progress.epoch}, step ${intact.progress.globalStep})` : ''} is intact: ` +
        (point === 'last'
          ? 'continue from it with --resume-from best (the damaged last.safetensors is then kept as last.safetensors.damaged)'
          : 'continue from it with --resume');
  throw makeError(read.code, `${read.message}; resume refused, nothing written: ${wayOut}`);
}

/** The checkpoint `file`, read in full, or the library error that refused it. */
function tryReadCheckpoint(file: string): Checkpoint | FusedOptimError {
  try {
    return readCheckpoint(file);
  } catch (err) {
    if (isFusedOptimError(err)) return err;
    throw err;
  }
}

function checkCheckpointEvery(name: string, value: unknown): number | undefined {
  return value === undefined || value === null ? undefined : checkNumber(name, value, { integer: true, min: 1 });
}

/** Checks configuration overrides (or, complete, a configuration read back from a checkpoint). */
function checkConfig(value: unknown, name = 'options.config', complete = false): Partial<DigitsConfig> {
  const c = checkOptions(name, checkObject(name, value), CONFIG_KEYS);
  const out: Partial<DigitsConfig> = {};
  const count = (key: keyof DigitsConfig, min: number) => checkNumber(`${name}.${key}`, c[key], { integer: true, min });
  const positive = (key: keyof DigitsConfig) => checkNumber(`${name}.${key}`, c[key], { min: 0, minExclusive: true });
  for (const key of CONFIG_KEYS) {
    if (c[key] === undefined) {
      // Runs saved before the option existed had float32 state, AdamW, and float32 gradients between ranks.
      if (complete && key === 'stateDtype') out.stateDtype = 'float32';
      else if (complete && key === 'optimizer') out.optimizer = 'AdamW';
      else if (complete && key === 'compression') out.compression = 'none';
      else if (complete && key === 'errorFeedback') out.errorFeedback = false;
      else if (complete) throw makeError(ErrorCodes.CHECKPOINT_MISMATCH, `${name}: missing ${key} (not a checkpoint of this job?)`);
      continue;
    }
    switch (key) {
      case 'seed':
        out.seed = checkNumber(`${name}.seed`, c.seed, { integer: true, min: 0, max: 2 ** 32 - 1 });
        break;
      case 'epochs':
      case 'batchSize':
        out[key] = count(key, 1);
        break;
      case 'warmupSteps':
        out.warmupSteps = count(key, 0);
        break;
      case 'hidden': {
        const list = c.hidden;
        if (!Array.isArray(list) || !list.every((w) => Number.isInteger(w) && w >= 1 && w <= MAX_HIDDEN_WIDTH)) {
          throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}.hidden: expected an array of layer widths in [1, ${MAX_HIDDEN_WIDTH}], got ${describe(list)}`);
        }
        out.hidden = [...list];
        break;
      }
      case 'peakLr':
      case 'maxGradNorm':
        out[key] = positive(key);
        break;
      case 'weightDecay':
      case 'minLr':
        out[key] = checkNumber(`${name}.${key}`, c[key], { min: 0 });
        break;
      case 'stateDtype':
        out.stateDtype = STATE_STORAGE_OPTIONS.stateDtype.check(`${name}.stateDtype`, c.stateDtype);
        break;
      case 'optimizer':
        out.optimizer = checkOptimizerName(`${name}.optimizer`, c.optimizer);
        break;
      case 'compression':
        out.compression = checkString(`${name}.compression`, c.compression, COMPRESSION_NAMES);
        break;
      case 'errorFeedback':
        out.errorFeedback = checkBoolean(`${name}.errorFeedback`, c.errorFeedback);
        break;
      case 'validationFraction':
        out.validationFraction = checkNumber(`${name}.validationFraction`, c.validationFraction, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
        break;
    }
  }
  return out;
}

/** Loss curves (per step and per epoch), validation accuracy, and the lr schedule, side by side. */
export function historySvg(history: History, title: string): string {
  const steps = (ys: number[]) => ys.map((y, i) => [i + 1, y] as [number, number]);
  const atEpochEnds = (ys: number[]) => ys.map((y, e) => [history.epochEndStep[e], y] as [number, number]);
  const panels = [
    {
      title: 'loss',
      xLabel: 'optimizer step',
      yLabel: 'cross-entropy',
      logY: true,
      series: [
        { name: 'train (per step)', points: steps(history.trainLoss), color: '#9ecae1' },
        { name: 'train (epoch mean)', points: atEpochEnds(history.epochTrainLoss), color: '#1f77b4' },
        { name: 'validation', points: atEpochEnds(history.valLoss), color: '#d62728' },
      ],
    },
    {
      title: 'validation accuracy',
      xLabel: 'optimizer step',
      yLabel: 'accuracy',
      series: [{ name: 'validation accuracy', points: atEpochEnds(history.valMetrics.accuracy ?? []), color: '#2ca02c' }],
      hLines: [{ y: 0.95, label: '95%' }],
    },
    {
      title: 'learning rate',
      xLabel: 'optimizer step',
      yLabel: 'lr',
      series: [{ name: 'lr (warmup + cosine)', points: steps(history.learningRate), color: '#9467bd' }],
    },
  ];
  return multiPanelSvg(panels, { columns: 3, title });
}

function argMin(values: number[]): number {
  let best = -1;
  values.forEach((v, i) => {
    if (Number.isFinite(v) && (best < 0 || v < values[best])) best = i;
  });
  return best;
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(4) : String(v);
}

function percent(v: number): string {
  return Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : String(v);
}
