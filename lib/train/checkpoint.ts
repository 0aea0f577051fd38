/**
 * Training checkpoints: one safetensors file that holds everything a run needs
 * to continue exactly where it stopped, readable by any safetensors reader.
 *
 * Tensors:
 *   param.<i>            the model's i-th parameter (F32 or F64), in its shape (model.paramShapes) or flat
 *   optim.<i>.<buffer>   the optimizer's state buffer of param i (optim.3.expAvg, optim.3.expAvgSq, ...;
 *                        LBFGS: optim.0.d, .oldDirs, .oldStps, .ro, .prevFlatGrad, its whole memory on param 0):
 *                        F32, F64, BF16 (raw bits, a Uint16Array) or U8, of any length; in the
 *                        param's shape when it has the param's length, else flat. The reader
 *                        checks their names (param index in range, not also a number); their
 *                        dtypes and lengths are the optimizer's to check (its loadStateDict,
 *                        against its schema: ERR_CHECKPOINT_MISMATCH when loading)
 *   residual.<r>.<i>     error feedback's residual of param i on rank r (fusedoptim/distributed with
 *                        compression and errorFeedback): F32, of the param's length and shape, for
 *                        every rank r of the run and every param i
 *
 * Metadata (safetensors metadata is string to string):
 *   format      "fusedoptim.checkpoint"
 *   version     "1" (CHECKPOINT_VERSION)
 *   checksum    "sha256:<hex>" over every tensor (name, dtype, shape, bytes) and every other
 *               metadata entry, so a flipped bit anywhere is detected, not trained on
 *   params      JSON { count, names? }
 *   optimizer   JSON { class, paramGroups, state: { "<i>": { step, ... } } }   (when saved with one;
 *               class is the name the optimizer declares (its `kind`: "AdamW", "LBFGS");
 *               the per-param numbers of the state dict, its typed arrays being tensors;
 *               NaN and ±Infinity written as the strings "NaN", "Infinity", "-Infinity")
 *   scheduler   JSON { class, state }                                       (when saved with one)
 *   progress    JSON TrainingProgress: epoch, position within it (optimizer steps, and this process's
 *               micro-batches), global step, best validation loss
 *   history     JSON History (non-finite numbers as "NaN" / "Infinity" strings)
 *   extra       JSON: anything the caller adds (a job's configuration: seed, sizes, ...)
 *   errorFeedback  JSON { compression: "bf16" | "fp16", ranks }                (when saved with it)
 *
 * Nothing in the file is code, and nothing is evaluated: the header and every metadata value
 * are parsed as JSON and checked field by field.
 *
 * saveCheckpoint writes atomically and durably (lib/train/atomic.ts). loadCheckpoint checks the
 * whole file, then that it fits the live model, optimizer and scheduler, and only then changes
 * them: a call that throws leaves all three exactly as they were. Errors:
 *   ERR_CHECKPOINT_CORRUPT   the file is truncated, damaged, or not a checkpoint this version reads
 *   ERR_CHECKPOINT_MISMATCH  a sound checkpoint that does not fit the objects it is loaded into
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import { dirname } from 'path';
import { ErrorCodes, isFusedOptimError, makeError } from '../errors';
import { LBFGS } from '../optim/lbfgs/lbfgs';
import { Optimizer, OptimizerStateDict } from '../optim/core/optimizer';
import { StateArray, Tensor, engineView, typedArrayTag } from '../tensor';
import { checkObject, checkOptions, checkStateArray, checkTensor, describe } from '../validate';
import { writeFileAtomic, writeFileAtomicSync } from './atomic';
import { History, checkHistory, parseNumbers, stringifyNumbers } from './history';
import { TensorRead, TensorToWrite, encodeSafetensors, parseSafetensors, safetensorsDtypeOf } from './safetensors';

/** The `format` metadata entry that marks a safetensors file as a fusedoptim checkpoint. */
export const CHECKPOINT_FORMAT = 'fusedoptim.checkpoint';
/** The checkpoint format's version, stored in every file and checked on load. */
export const CHECKPOINT_VERSION = 1;

/** What a checkpoint needs of a model: its parameters, and optionally their shapes and names. */
export interface CheckpointModel {
  /** The model's params, saved as `param.<i>` and loaded back in place. */
  readonly params: readonly Tensor[];
  /** Shapes aligned with params (saved as the tensors' shapes; checked on load). Default: flat. */
  readonly paramShapes?: readonly (readonly number[])[];
  /** Names aligned with params (saved for readers such as `fusedoptim inspect`). */
  readonly paramNames?: readonly string[];
}

/** Any optimizer of the Optimizer family (what the training loop steps): one type, defined with Optimizer. */
export type { AnyOptimizer } from '../optim/core/optimizer';

/**
 * What a checkpoint needs of an optimizer: the name it declares (stored, and matched on load),
 * its state dict (buffers as typed arrays, per-param numbers), and a loadStateDict that checks
 * the whole dict before it changes anything. Every Optimizer has it, and so has LBFGS.
 */
export interface CheckpointOptimizer {
  /** The optimizer's declared class name ("AdamW", "LBFGS", ...), stored and matched on load. */
  readonly kind: string;
  /** A snapshot of the state to save. */
  stateDict(): OptimizerStateDict;
  /** Loads saved state, checking all of it before changing anything. */
  loadStateDict(stateDict: OptimizerStateDict): void;
}

/**
 * The optimizers a checkpoint takes: this library's (their state dicts are checked data; an
 * arbitrary object's would have to be checked again before it is written).
 */
function checkOptimizer(name: string, value: unknown): CheckpointOptimizer {
  if (value instanceof Optimizer || value instanceof LBFGS) return value;
  throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected an optimizer of this library (an Optimizer or LBFGS), got ${describe(value)}`);
}

/** What a checkpoint needs of a scheduler: JSON-serialisable state in and out. */
export interface CheckpointScheduler {
  /** The scheduler's state as JSON-serialisable data. */
  stateDict(): unknown;
  /** Restores state that stateDict returned. */
  loadStateDict(stateDict: unknown): void;
  /**
   * Optional: checks a state dict without changing anything and returns what applies it (the
   * schedulers of lib/schedulers have it). Without it, loadCheckpoint loads the scheduler last
   * and, if that throws, puts the optimizer back as it was.
   */
  checkStateDict?(stateDict: unknown, path: string): () => void;
  /**
   * The name the checkpoint stores and matches on load (the schedulers of lib/schedulers declare it).
   * Without it, the class's `constructor.name` is used, which a minifier may change between builds.
   */
  readonly kind?: string;
}

/** The name a scheduler is stored under: the one it declares, else its class's. */
function schedulerKind(scheduler: CheckpointScheduler): string {
  return typeof scheduler.kind === 'string' ? scheduler.kind : scheduler.constructor.name;
}

/** Where a training run stands: what the loop needs, besides the objects' state, to continue exactly. */
export interface TrainingProgress {
  /** The epoch in progress (0-based); equals the number of epochs whose validation is done. */
  epoch: number;
  /** Micro-batches of that epoch this process consumed (a resumed epoch without stepsInEpoch skips them). */
  batchInEpoch: number;
  /**
   * Optimizer steps taken in that epoch: where a resumed epoch starts, whatever the number of
   * ranks and micro-batches per step of the run that resumes it (batchInEpoch counts one
   * process's micro-batches, which depend on both). Absent in checkpoints written before it
   * existed: those resume from batchInEpoch, on the ranks that wrote them.
   */
  stepsInEpoch?: number;
  /** Optimizer steps taken (skipped non-finite steps included). */
  globalStep: number;
  /** The lowest validation loss so far, or null before the first validation. */
  bestValLoss: number | null;
  /** Sum and count of the finite step losses of the epoch in progress (its mean train loss so far). */
  epochLossSum: number;
  /** The count of finite step losses of the epoch in progress. */
  epochLossCount: number;
}

/**
 * Error feedback's residuals of a data-parallel run with compressed gradients (fusedoptim/distributed's
 * `compression` with `errorFeedback`): what each rank's next step adds to its gradients before rounding
 * them. Training state, kept per rank: DistributedOptimizer's errorFeedbackState has them on rank 0
 * after gatherState(), and its loadErrorFeedback() gives each rank its own back.
 */
export interface ErrorFeedbackState {
  /** The 16-bit format the residuals are rounding errors of. */
  compression: 'bf16' | 'fp16';
  /** residuals[r][i]: rank r's residual of param i, a Float32Array of its length; one list per rank of the run. */
  residuals: readonly (readonly Float32Array[])[];
}

/** What saveCheckpoint writes: the model's params and, when given, the rest. */
export interface CheckpointContents {
  /** The model whose params are saved. */
  model: CheckpointModel;
  /** The optimizer whose state is saved. */
  optimizer?: CheckpointOptimizer | null;
  /** The scheduler whose state is saved. */
  scheduler?: CheckpointScheduler | null;
  /** Where training stands, for an exact resume. */
  progress?: TrainingProgress | null;
  /** The training history so far. */
  history?: History | null;
  /** Any JSON data to keep with the checkpoint (a job's configuration). */
  extra?: Record<string, unknown>;
  /** Every rank's error-feedback residuals, one per param (a data-parallel run with compressed gradients). */
  errorFeedback?: ErrorFeedbackState | null;
}

/** A checkpoint read and checked, not applied to anything. */
export interface Checkpoint {
  /** The format version of the file. */
  version: number;
  /** The params in order, with their saved shapes. */
  params: TensorRead[];
  /** The params' names, when the model gave them. */
  paramNames: string[] | null;
  /** The optimizer's class and state, when one was saved. */
  optimizer: {
    /** The optimizer's declared class name. */
    class: string;
    /** Its state dict, buffers as typed arrays. */
    stateDict: OptimizerStateDict;
  } | null;
  /** The scheduler's class and state, when one was saved. */
  scheduler: {
    /** The scheduler's declared class name. */
    class: string;
    /** Its state dict. */
    state: unknown;
  } | null;
  /** Where training stood, when it was saved. */
  progress: TrainingProgress | null;
  /** The training history, when it was saved. */
  history: History | null;
  /** The JSON data saved with the checkpoint (`{}` when none). */
  extra: Record<string, unknown>;
  /** Every rank's error-feedback residuals, when they were saved. */
  errorFeedback: ErrorFeedbackState | null;
  /** Every tensor of the file, by name. */
  tensors: Map<string, TensorRead>;
  /** The raw metadata strings. */
  metadata: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Saving
// ---------------------------------------------------------------------------------------------

/**
 * Writes a checkpoint atomically and durably; blocks until it is on disk. Missing parent
 * directories are created (a run folder is usually new), after the contents are checked.
 */
export function saveCheckpoint(path: string, contents: CheckpointContents): void {
  const chunks = inFile(path, () => encodeCheckpoint(contents));
  fs.mkdirSync(dirname(path), { recursive: true });
  writeFileAtomicSync(path, chunks);
}

/**
 * saveCheckpoint without blocking the event loop. The tensors are written from their own memory:
 * nothing may change them (no optimizer step) until the promise settles.
 */
export async function saveCheckpointAsync(path: string, contents: CheckpointContents): Promise<void> {
  const chunks = inFile(path, () => encodeCheckpoint(contents));
  await fs.promises.mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, chunks);
}

/** The file's bytes, as chunks (views of the tensors, not copies, on little-endian hosts). */
export function encodeCheckpoint(contents: CheckpointContents): Uint8Array[] {
  const c = checkOptions('checkpoint', contents, ['model', 'optimizer', 'scheduler', 'progress', 'history', 'extra', 'errorFeedback']);
  const model = checkModel('checkpoint.model', c.model);
  const tensors = new Map<string, TensorToWrite>();
  model.params.forEach((p, i) => tensors.set(`param.${i}`, { data: p, shape: model.shapes[i] }));

  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: String(CHECKPOINT_VERSION),
    params: JSON.stringify(model.names ? { count: model.params.length, names: model.names } : { count: model.params.length }),
  };
  if (c.optimizer) {
    const optimizer = checkOptimizer('checkpoint.optimizer', c.optimizer);
    const sd = optimizer.stateDict();
    const scalars: Record<string, Record<string, number | string>> = {};
    for (const [index, entry] of Object.entries(sd.state)) {
      const i = Number(index);
      for (const [key, value] of Object.entries(entry)) {
        // JSON has no NaN or ±Infinity: a per-param number that is one is written as its name.
        if (typeof value === 'number') (scalars[index] ??= {})[key] = Number.isFinite(value) ? value : String(value);
        else {
          // A buffer of its param's length (Adam's moments) keeps the param's shape; any other
          // (one scale per block, ...) is saved flat.
          // An engine view, as the params are: the shape, the checksum and the bytes written agree
          // whatever typed array an optimizer subclass's stateDict hands out.
          const data = engineView(checkStateArray(`checkpoint.optimizer: stateDict().state[${index}].${key}`, value));
          const shape = i < model.params.length && data.length === model.params[i].length ? model.shapes[i] : [data.length];
          tensors.set(`optim.${i}.${key}`, { data, shape });
        }
      }
    }
    metadata.optimizer = JSON.stringify({ class: optimizer.kind, paramGroups: sd.paramGroups, state: scalars });
  }
  const scheduler = c.scheduler as CheckpointScheduler | null | undefined;
  if (scheduler) metadata.scheduler = JSON.stringify({ class: schedulerKind(scheduler), state: scheduler.stateDict() });
  if (c.progress) metadata.progress = stringifyNumbers(checkProgress('checkpoint.progress', c.progress, ErrorCodes.INVALID_ARG_VALUE));
  if (c.history) metadata.history = stringifyNumbers(c.history);
  if (c.extra !== undefined) metadata.extra = JSON.stringify(checkObject('checkpoint.extra', c.extra));
  if (c.errorFeedback) {
    const { compression, residuals } = checkErrorFeedback('checkpoint.errorFeedback', c.errorFeedback, model.params);
    residuals.forEach((list, r) => list.forEach((data, i) => tensors.set(`residual.${r}.${i}`, { data, shape: model.shapes[i] })));
    metadata.errorFeedback = JSON.stringify({ compression, ranks: residuals.length });
  }

  metadata.checksum = checksum(
    [...tensors].map(([name, t]) => ({ name, dtype: safetensorsDtypeOf(t.data, `checkpoint: ${name}`), shape: t.shape, data: t.data })),
    metadata,
  );
  return encodeSafetensors(tensors, metadata);
}

interface CheckedModel {
  params: readonly Tensor[];
  shapes: number[][];
  /** False when the model gave no paramShapes (the shapes are then [length]). */
  explicitShapes: boolean;
  names: string[] | null;
}

function checkModel(name: string, value: unknown): CheckedModel {
  const model = checkObject(name, value);
  if (!Array.isArray(model.params)) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}.params: expected an Array of Float32Array or Float64Array, got ${describe(model.params)}`);
  }
  // Engine views (engineView): the shapes, the bytes saved and the elements loaded are the ones
  // each param has, whatever its own `length`, `byteLength` or `set` say.
  const params = model.params.map((p, i) => engineView(checkTensor(`${name}.params[${i}]`, p)));
  const shapes = params.map((p, i) => {
    if (model.paramShapes === undefined) return [p.length];
    const shape = (model.paramShapes as unknown[])[i];
    const ok = Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
    if (!ok || (shape as number[]).reduce((a, b) => a * b, 1) !== p.length) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `${name}.paramShapes[${i}]: expected a shape of ${p.length} elements, got ${describe(shape)}`);
    }
    return (shape as number[]).slice();
  });
  let names: string[] | null = null;
  if (model.paramNames !== undefined) {
    const list = model.paramNames as unknown[];
    if (!Array.isArray(list) || list.length !== params.length || !list.every((n) => typeof n === 'string')) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}.paramNames: expected ${params.length} strings, got ${describe(list)}`);
    }
    names = list.slice() as string[];
  }
  return { params, shapes, explicitShapes: model.paramShapes !== undefined, names };
}

const COMPRESSIONS = ['bf16', 'fp16'] as const;

/** An ErrorFeedbackState to save: a known format, and for each rank one Float32Array per param, of its length. */
function checkErrorFeedback(name: string, value: unknown, params: readonly Tensor[]): ErrorFeedbackState {
  const e = checkOptions(name, value, ['compression', 'residuals']);
  if (!COMPRESSIONS.includes(e.compression as never)) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}.compression: expected 'bf16' or 'fp16', got ${describe(e.compression)}`);
  }
  if (!Array.isArray(e.residuals) || e.residuals.length === 0) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}.residuals: expected one list of residuals per rank, got ${describe(e.residuals)}`);
  }
  const residuals = (e.residuals as unknown[]).map((list, r) => {
    if (!Array.isArray(list) || list.length !== params.length) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `${name}.residuals[${r}]: expected ${params.length} Float32Arrays (one per param), got ${describe(list)}`);
    }
    return list.map((x, i) => {
      const where = `${name}.residuals[${r}][${i}]`;
      const t = engineView(checkTensor(where, x));
      if (typedArrayTag(t) !== 'Float32Array') throw makeError(ErrorCodes.DTYPE_MISMATCH, `${where}: expected a Float32Array, got ${describe(x)}`);
      if (t.length !== params[i].length) throw makeError(ErrorCodes.SHAPE_MISMATCH, `${where}: expected ${params[i].length} elements (param ${i}'s), got ${t.length}`);
      return t as Float32Array;
    });
  });
  return { compression: e.compression as ErrorFeedbackState['compression'], residuals };
}

/**
 * sha256 over the tensors (in name order: name, dtype, shape, little-endian bytes) and the
 * metadata (in key order, the checksum itself excluded). Independent of the file's layout, so
 * the reader recomputes it from what it parsed.
 */
function checksum(tensors: { name: string; dtype: string; shape: readonly number[]; data: StateArray }[], metadata: Record<string, string>): string {
  const hash = createHash('sha256');
  const field = (text: string) => hash.update(`${text.length}:${text}`);
  for (const t of [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    field(t.name);
    field(t.dtype);
    field(JSON.stringify(t.shape));
    // The checksum is of the little-endian bytes, as in the file; a big-endian host swaps a copy.
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    hash.update(HOST_IS_LITTLE_ENDIAN ? bytes : swapped(bytes, t.data.BYTES_PER_ELEMENT));
  }
  for (const key of Object.keys(metadata).sort()) {
    if (key === 'checksum') continue;
    field(key);
    field(metadata[key]);
  }
  return `sha256:${hash.digest('hex')}`;
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapped(bytes: Buffer, itemSize: number): Buffer {
  const copy = Buffer.from(bytes);
  for (let i = 0; i < copy.length; i += itemSize) copy.subarray(i, i + itemSize).reverse();
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

function corrupt(message: string): Error {
  return makeError(ErrorCodes.CHECKPOINT_CORRUPT, `checkpoint: ${message}`);
}

function mismatch(message: string): Error {
  return makeError(ErrorCodes.CHECKPOINT_MISMATCH, `checkpoint: ${message}`);
}

/**
 * Reads a checkpoint file (or its bytes) and checks all of it: the safetensors structure, the
 * checksum, the format and version, every metadata value, and that the tensors are exactly the
 * params and optimizer buffers the metadata describes. Applies it to nothing.
 * Throws ERR_CHECKPOINT_CORRUPT naming the first problem.
 */
export function readCheckpoint(source: string | Uint8Array): Checkpoint {
  return typeof source === 'string' ? inFile(source, () => checkedCheckpoint(readFile(source))) : checkedCheckpoint(source);
}

/**
 * Runs `fn`, which reads or writes the checkpoint file `file`; an error of this library it throws
 * names the file (`checkpoint "runs/digits/last.safetensors": checksum mismatch ...`), so a message
 * in a log says which of a run's files is at fault. The code and class are kept.
 */
export function inFile<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!isFusedOptimError(err)) throw err;
    const prefix = `checkpoint ${JSON.stringify(file)}: `;
    if (err.message.startsWith(prefix)) throw err;
    throw makeError(err.code, prefix + err.message.replace(/^(checkpoint|safetensors): /, ''));
  }
}

function checkedCheckpoint(bytes: Uint8Array): Checkpoint {
  const file = parseSafetensors(bytes);
  const { metadata, tensors } = file;

  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw corrupt(`not a fusedoptim checkpoint (metadata "format" is ${describe(metadata.format)}, expected ${JSON.stringify(CHECKPOINT_FORMAT)})`);
  }
  const version = Number(metadata.version);
  if (!/^[1-9][0-9]*$/.test(metadata.version ?? '')) throw corrupt(`metadata "version" is ${describe(metadata.version)}, expected a positive integer`);
  if (version !== CHECKPOINT_VERSION) {
    throw corrupt(`format version ${version} is not one this fusedoptim reads (it reads version ${CHECKPOINT_VERSION})`);
  }
  const expectedSum = checksum(
    [...tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data })),
    metadata,
  );
  if (metadata.checksum !== expectedSum) {
    throw corrupt(`checksum mismatch: the file says ${describe(metadata.checksum)}, its contents hash to ${expectedSum} (damaged file?)`);
  }
  const known = ['format', 'version', 'checksum', 'params', 'optimizer', 'scheduler', 'progress', 'history', 'extra', 'errorFeedback'];
  for (const key of Object.keys(metadata)) if (!known.includes(key)) throw corrupt(`unknown metadata key ${JSON.stringify(key)}`);

  const paramsMeta = jsonObject('params', metadata.params);
  const count = paramsMeta.count;
  if (!Number.isSafeInteger(count) || (count as number) < 0) throw corrupt(`metadata params.count: expected an integer >= 0, got ${describe(count)}`);
  const params: TensorRead[] = [];
  for (let i = 0; i < (count as number); i++) {
    const t = tensors.get(`param.${i}`);
    if (!t) throw corrupt(`the metadata says ${count} params, but there is no tensor param.${i}`);
    // The reader also decodes BF16 and U8 (optimizer state), but a param is a Float32Array or a Float64Array.
    if (t.dtype !== 'F32' && t.dtype !== 'F64') throw corrupt(`tensor param.${i} is ${t.dtype}, a param must be F32 or F64`);
    params.push(t);
  }
  let paramNames: string[] | null = null;
  if (paramsMeta.names !== undefined) {
    const names = paramsMeta.names;
    if (!Array.isArray(names) || names.length !== params.length || !names.every((n) => typeof n === 'string')) {
      throw corrupt(`metadata params.names: expected ${params.length} strings`);
    }
    paramNames = names as string[];
  }

  const optimizer = metadata.optimizer === undefined ? null : readOptimizer(jsonObject('optimizer', metadata.optimizer), tensors, params);
  const errorFeedback = metadata.errorFeedback === undefined ? null : readErrorFeedback(jsonObject('errorFeedback', metadata.errorFeedback), tensors, params);
  // Every tensor must be a param, a buffer the optimizer metadata accounts for, or a residual the errorFeedback metadata does.
  for (const name of tensors.keys()) {
    const isParam = /^param\.(0|[1-9][0-9]*)$/.test(name) && Number(name.slice(6)) < params.length;
    const isBuffer = optimizer !== null && optimizerTensorNames(optimizer.stateDict).has(name);
    const isResidual = errorFeedback !== null && residualName(name, errorFeedback.residuals.length, params.length);
    if (!isParam && !isBuffer && !isResidual) {
      throw corrupt(`unexpected tensor ${JSON.stringify(name)} (not a param of the metadata, nor an optimizer buffer, nor a residual)`);
    }
  }

  let scheduler: Checkpoint['scheduler'] = null;
  if (metadata.scheduler !== undefined) {
    const s = jsonObject('scheduler', metadata.scheduler);
    if (typeof s.class !== 'string' || !('state' in s)) throw corrupt('metadata scheduler: expected { class, state }');
    scheduler = { class: s.class, state: s.state };
  }
  const progress =
    metadata.progress === undefined ? null : checkProgress('checkpoint: metadata progress', parseJson('progress', metadata.progress, parseNumbers), ErrorCodes.CHECKPOINT_CORRUPT);
  let history: History | null = null;
  if (metadata.history !== undefined) {
    const raw = parseJson('history', metadata.history, parseNumbers);
    const steps = progress ? progress.globalStep : entryCount(raw, 'trainLoss');
    const epochs = progress ? progress.epoch : entryCount(raw, 'valLoss');
    history = checkHistory('checkpoint: metadata history', raw, steps, epochs);
  }
  const extra = metadata.extra === undefined ? {} : jsonObject('extra', metadata.extra);
  return { version, params, paramNames, optimizer, scheduler, progress, history, extra, errorFeedback, tensors, metadata };
}

function readFile(path: string): Uint8Array {
  try {
    return fs.readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw makeError(
      code === 'ENOENT' ? ErrorCodes.INVALID_ARG_VALUE : ErrorCodes.CHECKPOINT_CORRUPT,
      `checkpoint: cannot read it: ${(err as Error).message}`,
    );
  }
}

function parseJson(key: string, text: string, parse: (text: string) => unknown = JSON.parse): unknown {
  try {
    return parse(text);
  } catch (err) {
    throw corrupt(`metadata ${key} is not valid JSON (${(err as Error).message})`);
  }
}

function jsonObject(key: string, text: string | undefined): Record<string, unknown> {
  if (text === undefined) throw corrupt(`metadata has no ${JSON.stringify(key)} entry`);
  const value = parseJson(key, text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt(`metadata ${key}: expected a JSON object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

function entryCount(raw: unknown, key: string): number {
  const list = (raw as Record<string, unknown> | null)?.[key];
  return Array.isArray(list) ? list.length : 0;
}

/** How the optimizer's per-param numbers that JSON cannot hold are written. */
const NON_FINITE_NUMBERS: Readonly<Record<string, number>> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

const BUFFER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Rebuilds the optimizer's state dict from its metadata and its optim.<i>.<buffer> tensors. */
function readOptimizer(meta: Record<string, unknown>, tensors: Map<string, TensorRead>, params: TensorRead[]): Checkpoint['optimizer'] {
  if (typeof meta.class !== 'string') throw corrupt(`metadata optimizer.class: expected a string, got ${describe(meta.class)}`);
  if (!Array.isArray(meta.paramGroups)) throw corrupt(`metadata optimizer.paramGroups: expected an array, got ${describe(meta.paramGroups)}`);
  const scalars = meta.state;
  if (typeof scalars !== 'object' || scalars === null || Array.isArray(scalars)) throw corrupt('metadata optimizer.state: expected an object');
  const state: Record<number, Record<string, StateArray | number>> = {};
  const entry = (i: number) => (state[i] ??= {});
  for (const [index, values] of Object.entries(scalars as Record<string, unknown>)) {
    const i = Number(index);
    if (!/^(0|[1-9][0-9]*)$/.test(index) || i >= params.length) throw corrupt(`metadata optimizer.state has an entry for param ${JSON.stringify(index)}, the checkpoint has params 0..${params.length - 1}`);
    if (typeof values !== 'object' || values === null || Array.isArray(values)) throw corrupt(`metadata optimizer.state.${index}: expected an object`);
    for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
      const number = typeof value === 'string' && Object.hasOwn(NON_FINITE_NUMBERS, value) ? NON_FINITE_NUMBERS[value] : value;
      if (typeof number !== 'number' || !BUFFER_NAME.test(key)) throw corrupt(`metadata optimizer.state.${index}.${key}: expected a number`);
      entry(i)[key] = number;
    }
  }
  for (const [name, t] of tensors) {
    const match = /^optim\.(0|[1-9][0-9]*)\.(.+)$/.exec(name);
    if (!match) continue;
    const i = Number(match[1]);
    const buffer = match[2];
    if (i >= params.length || !BUFFER_NAME.test(buffer)) throw corrupt(`tensor ${JSON.stringify(name)} names no param of the checkpoint`);
    // Any dtype and length: the optimizer's loadStateDict checks each buffer against its schema.
    if (buffer in entry(i)) throw corrupt(`param ${i}'s optimizer state has ${JSON.stringify(buffer)} both as a number and as a tensor`);
    entry(i)[buffer] = t.data;
  }
  return { class: meta.class, stateDict: { state: state as OptimizerStateDict['state'], paramGroups: meta.paramGroups as OptimizerStateDict['paramGroups'] } };
}

/** Whether `name` is residual.<r>.<i> of a rank r < ranks and a param i < params. */
function residualName(name: string, ranks: number, params: number): boolean {
  const match = /^residual\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/.exec(name);
  return match !== null && Number(match[1]) < ranks && Number(match[2]) < params;
}

/** Error feedback's residuals from their metadata and their residual.<r>.<i> tensors: every rank's, every param's, F32 of its length. */
function readErrorFeedback(meta: Record<string, unknown>, tensors: Map<string, TensorRead>, params: TensorRead[]): ErrorFeedbackState {
  if (!COMPRESSIONS.includes(meta.compression as never)) throw corrupt(`metadata errorFeedback.compression: expected "bf16" or "fp16", got ${describe(meta.compression)}`);
  const ranks = meta.ranks;
  if (!Number.isSafeInteger(ranks) || (ranks as number) < 1) throw corrupt(`metadata errorFeedback.ranks: expected an integer >= 1, got ${describe(ranks)}`);
  const residuals = Array.from({ length: ranks as number }, (_, r) =>
    params.map((p, i) => {
      const name = `residual.${r}.${i}`;
      const t = tensors.get(name);
      if (!t) throw corrupt(`the metadata says error feedback on ${ranks} ranks, but there is no tensor ${name}`);
      if (t.dtype !== 'F32' || t.data.length !== p.data.length) {
        throw corrupt(`tensor ${name} is ${t.dtype} of ${t.data.length} elements, expected F32 of ${p.data.length} (param.${i}'s)`);
      }
      return t.data as Float32Array;
    }),
  );
  return { compression: meta.compression as ErrorFeedbackState['compression'], residuals };
}

function optimizerTensorNames(sd: OptimizerStateDict): Set<string> {
  const names = new Set<string>();
  for (const [i, entry] of Object.entries(sd.state)) {
    for (const [key, value] of Object.entries(entry)) if (typeof value !== 'number') names.add(`optim.${i}.${key}`);
  }
  return names;
}

/** Checks a TrainingProgress: one written by the caller (code ERR_INVALID_ARG_VALUE) or read from a file (ERR_CHECKPOINT_CORRUPT). */
function checkProgress(name: string, value: unknown, code: typeof ErrorCodes.CHECKPOINT_CORRUPT | typeof ErrorCodes.INVALID_ARG_VALUE): TrainingProgress {
  const fail = (msg: string) => makeError(code, `${name}${msg}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(`: expected an object, got ${describe(value)}`);
  const p = value as Record<string, unknown>;
  const keys = ['epoch', 'batchInEpoch', 'stepsInEpoch', 'globalStep', 'bestValLoss', 'epochLossSum', 'epochLossCount'];
  for (const key of Object.keys(p)) if (!keys.includes(key)) throw fail(`: unknown field ${JSON.stringify(key)}`);
  const count = (key: string): number => {
    const v = p[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw fail(`.${key}: expected an integer >= 0, got ${describe(v)}`);
    return v;
  };
  const bestValLoss = p.bestValLoss;
  if (bestValLoss !== null && typeof bestValLoss !== 'number') throw fail(`.bestValLoss: expected a number or null, got ${describe(bestValLoss)}`);
  if (typeof p.epochLossSum !== 'number' || !Number.isFinite(p.epochLossSum)) throw fail(`.epochLossSum: expected a finite number, got ${describe(p.epochLossSum)}`);
  return {
    epoch: count('epoch'),
    batchInEpoch: count('batchInEpoch'),
    ...(p.stepsInEpoch !== undefined && { stepsInEpoch: count('stepsInEpoch') }),
    globalStep: count('globalStep'),
    bestValLoss,
    epochLossSum: p.epochLossSum,
    epochLossCount: count('epochLossCount'),
  };
}

// ---------------------------------------------------------------------------------------------
// Loading into live objects
// ---------------------------------------------------------------------------------------------

/** What loadCheckpoint loads into: the model, and the optimizer and scheduler when given. */
export interface LoadTargets {
  /** The model whose params receive the saved values. */
  model: CheckpointModel;
  /** Loaded when given; the checkpoint must then hold optimizer state of the same class. */
  optimizer?: CheckpointOptimizer | null;
  /** Loaded when given; the checkpoint must then hold scheduler state of the same class. */
  scheduler?: CheckpointScheduler | null;
}

/**
 * Reads a checkpoint and loads it into the model's params (copied into the live buffers) and,
 * when given, the optimizer and the scheduler. Checks everything first (readCheckpoint, then
 * that every tensor fits the model and the optimizer, and the classes and state dicts of both);
 * a call that throws has changed none of them. Returns the checkpoint (progress, history, extra).
 */
export function loadCheckpoint(source: string | Uint8Array, targets: LoadTargets): Checkpoint {
  return typeof source === 'string' ? inFile(source, () => loadInto(source, targets)) : loadInto(source, targets);
}

function loadInto(source: string | Uint8Array, targets: LoadTargets): Checkpoint {
  const t = checkOptions('targets', targets, ['model', 'optimizer', 'scheduler']);
  const model = checkModel('targets.model', t.model);
  const optimizer = t.optimizer === undefined || t.optimizer === null ? null : checkOptimizer('targets.optimizer', t.optimizer);
  const scheduler = (t.scheduler ?? null) as CheckpointScheduler | null;
  const ck = readCheckpoint(source);

  // 1. The params: count, dtype, shape.
  if (ck.params.length !== model.params.length) throw mismatch(`it has ${ck.params.length} params, the model ${model.params.length}`);
  ck.params.forEach((saved, i) => {
    const live = model.params[i];
    const liveDtype = safetensorsDtypeOf(live);
    if (saved.dtype !== liveDtype) throw mismatch(`param.${i} is ${saved.dtype}, the model's params[${i}] is ${liveDtype}`);
    // Without paramShapes the model only says how many elements a param has.
    const liveShape = model.shapes[i];
    const sameShape = model.explicitShapes
      ? saved.shape.length === liveShape.length && saved.shape.every((d, k) => d === liveShape[k])
      : saved.data.length === live.length;
    if (!sameShape) throw mismatch(`param.${i} has shape [${saved.shape.join(', ')}], the model's params[${i}] [${liveShape.join(', ')}]`);
  });

  // 2. The classes, and the scheduler's state (checked without changing anything, when it can be).
  if (optimizer !== null) {
    if (ck.optimizer === null) throw mismatch('it holds no optimizer state, but an optimizer was given to load it into');
    if (ck.optimizer.class !== optimizer.kind) {
      throw mismatch(`it holds the state of a ${ck.optimizer.class} optimizer, not of a ${optimizer.kind}`);
    }
  }
  let applyScheduler: (() => void) | null = null;
  if (scheduler !== null) {
    if (ck.scheduler === null) throw mismatch('it holds no scheduler state, but a scheduler was given to load it into');
    if (ck.scheduler.class !== schedulerKind(scheduler)) {
      throw mismatch(`it holds the state of a ${ck.scheduler.class} scheduler, not of a ${schedulerKind(scheduler)}`);
    }
    if (typeof scheduler.checkStateDict === 'function') {
      const state = ck.scheduler.state;
      applyScheduler = asMismatch('scheduler', () => scheduler.checkStateDict!(state, 'checkpoint: scheduler'));
    }
  }

  // 3. Apply. The optimizer checks its whole state dict before it changes anything.
  const before = optimizer !== null && scheduler !== null && applyScheduler === null ? optimizer.stateDict() : null;
  if (optimizer !== null) asMismatch('optimizer', () => optimizer.loadStateDict(ck.optimizer!.stateDict));
  if (scheduler !== null) {
    if (applyScheduler !== null) applyScheduler();
    else {
      try {
        asMismatch('scheduler', () => scheduler.loadStateDict(ck.scheduler!.state));
      } catch (err) {
        if (before !== null) optimizer!.loadStateDict(before);
        throw err;
      }
    }
  }
  ck.params.forEach((saved, i) => model.params[i].set(saved.data));
  return ck;
}

/** Runs `fn`; a library error it throws (a state dict that does not fit) becomes ERR_CHECKPOINT_MISMATCH. */
function asMismatch<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isFusedOptimError(err) && err.code !== ErrorCodes.STEP_IN_FLIGHT) throw mismatch(`${what}: ${err.message}`);
    throw err;
  }
}
