/**
 * Collectives over lists of Float32Array / Float64Array, in place:
 *
 *   allReduce(tensors, { op })        every rank ends with the sum (mean, max) of every rank's tensors
 *   broadcast(tensors, root)          every rank ends with rank `root`'s tensors
 *   reduceScatter(tensors, { op })    each rank's shard of the flat tensors ends reduced (others unspecified)
 *   allGather(tensors)                each rank's shard of the flat tensors reaches every rank
 *
 * broadcast and allGather also move Uint16Arrays and Uint8Arrays (bfloat16 and
 * 8-bit optimizer state), bit for bit: what moves data without arithmetic
 * takes any state array; what adds does not.
 *
 * A shard is a range of each element type's tensors laid end to end (shardRange):
 * it may cut through a tensor. Many small tensors travel in fused buckets
 * (init's bucketBytes), large ones where they lie. Each call first exchanges
 * a fingerprint (./fingerprint.ts): ranks that disagree throw
 * ERR_COLLECTIVE_MISMATCH, all of them, instead of hanging.
 *
 * The ...Async forms run on libuv's pool, off the event loop. Collectives run
 * one at a time in the order they were called, on every rank: an asynchronous
 * one is queued behind those not yet finished, and a synchronous one while any
 * is queued throws ERR_STEP_IN_FLIGHT (await them first). Until its Promise
 * settles, do not touch the tensors.
 *
 * `deterministic: true` sums in rank order on the rank that owns each shard
 * (an all-to-all, the sum, an all-gather): the same bits on every rank and on
 * every run, whatever algorithm MPI picks. Without it MPI's own reduction runs
 * (faster for small messages); its order is MPI's choice.
 *
 * `compression: 'bf16' | 'fp16'` (allReduce of Float32Arrays) sends every
 * value in 16 bits, rounded to nearest even, and sums in float32: the
 * deterministic scheme over the rounded values, the sum rounded once more for
 * the all-gather (native/mpi/collective.h). `residuals` add error feedback.
 *
 * Gradient buckets (./overlap.ts) go to the addon's communication thread
 * (submitBucket) and are collected by drainBuckets(); while any is in flight
 * every other collective throws ERR_STEP_IN_FLIGHT, and a bucket is refused
 * while asynchronous collectives are queued: MPI sees one call at a time, in
 * the same order on every rank.
 */
import { ErrorCodes, makeError } from '../errors';
import { StateArray, Tensor, typedArrayTag } from '../tensor';
import { checkArray, checkBoolean, checkNoOverlap, checkNumber, checkOptions, checkSameLength, checkStateArray, checkString, checkTensor } from '../validate';
import { COLLECTIVE_NAMES, fingerprintOf } from './fingerprint';
import { CollectiveArgs, CollectiveKind, CollectiveOutcome, CompressionCode, ReduceOpCode } from './mpi_addon';
import { settleOutcome } from './outcome';
import { currentSettings, initialized } from './world';

/** How a reduction combines the ranks' values. */
export type ReduceOp = 'sum' | 'mean' | 'max';

/** The format values travel in: 'none' (their own), or 16 bits, 'bf16' (bfloat16) or 'fp16' (IEEE binary16). */
export type Compression = 'none' | 'bf16' | 'fp16';

/** The options of allReduce and reduceScatter. */
export interface ReduceOptions {
  /** Default 'sum'. */
  op?: ReduceOp;
  /** Sum in rank order: bit-identical on every rank and every run. Default false. */
  deterministic?: boolean;
  /** Send Float32Arrays in 16 bits and sum in float32 (the same bits on every rank). Default 'none'. */
  compression?: Compression;
  /**
   * Error feedback for compression: one Float32Array per tensor, of its length, zero at first.
   * Each value sent is x = value + residual, and the residual becomes x minus its 16-bit rounding.
   */
  residuals?: readonly Float32Array[];
}

const OPS: Readonly<Record<ReduceOp, ReduceOpCode>> = { sum: ReduceOpCode.Sum, mean: ReduceOpCode.Mean, max: ReduceOpCode.Max };
export const COMPRESSIONS: Readonly<Record<Compression, CompressionCode>> = { none: CompressionCode.None, bf16: CompressionCode.Bf16, fp16: CompressionCode.Fp16 };
/** Every compression's name, in one order: what DistributedOptions.compression and `fusedoptim train --compression` take. */
export const COMPRESSION_NAMES = Object.keys(COMPRESSIONS) as readonly Compression[];

let sequence = 0;
let queued = 0;
let tail: Promise<unknown> = Promise.resolve();
/** The gradient buckets submitted since the last drain, by index: their names and collective numbers. */
let buckets: { what: string; sequence: number }[] = [];

interface Prepared {
  args: CollectiveArgs;
  what: string;
  rank: number;
  /** The collective's number in this rank's sequence (its fingerprint's first field). */
  sequence: number;
}

/** What an all-reduce adds to a collective's arguments. */
interface Reduction {
  op: ReduceOpCode;
  deterministic: boolean;
  compression: CompressionCode;
  residuals: readonly Float32Array[];
  /** A gradient bucket's index in the flat gradients. */
  bucket?: number;
}

const PLAIN: Reduction = { op: ReduceOpCode.Sum, deterministic: false, compression: CompressionCode.None, residuals: [] };

/** The collectives that only move data: they take bits (Uint16Array, Uint8Array) too. */
const MOVES_ONLY: ReadonlySet<CollectiveKind> = new Set([CollectiveKind.Broadcast, CollectiveKind.AllGather]);

/** The tensors of one element type. */
function ofType<T extends StateArray>(list: readonly StateArray[], tag: string): T[] {
  return list.filter((t) => typedArrayTag(t) === tag) as T[];
}

/** Every check of a collective's arguments, then its addon arguments; changes nothing if it throws. */
function prepare(kind: CollectiveKind, tensors: unknown, root: number, reduction: Reduction, what = COLLECTIVE_NAMES[kind]): Prepared {
  const { op, deterministic, compression, residuals, bucket } = reduction;
  const { state } = initialized(what);
  const check = MOVES_ONLY.has(kind) ? checkStateArray : checkTensor;
  const list: StateArray[] = checkArray(`${what}: tensors`, tensors).map((t, i) => check(`${what}: tensors[${i}]`, t));
  checkNoOverlap(`${what}: tensors`, list);
  if (root >= state.size) {
    throw makeError(ErrorCodes.OUT_OF_RANGE, `${what}: root: expected a rank in [0, ${state.size - 1}], got ${root}`);
  }
  const f32 = ofType<Float32Array>(list, 'Float32Array');
  const f64 = ofType<Float64Array>(list, 'Float64Array');
  const u16 = ofType<Uint16Array>(list, 'Uint16Array');
  const u8 = ofType<Uint8Array>(list, 'Uint8Array');
  if (compression !== CompressionCode.None) {
    const k = list.findIndex((t) => !(t instanceof Float32Array));
    if (k >= 0) throw makeError(ErrorCodes.DTYPE_MISMATCH, `${what}: tensors[${k}]: compression sends Float32Arrays in 16 bits; expected a Float32Array, got a ${typedArrayTag(list[k])}`);
  }
  if (residuals.length > 0) {
    if (residuals.length !== list.length) throw makeError(ErrorCodes.SHAPE_MISMATCH, `${what}: options.residuals: expected ${list.length} arrays, one per tensor, got ${residuals.length}`);
    residuals.forEach((r, i) => checkSameLength(`${what}: options.residuals[${i}]`, r, `tensors[${i}]`, list[i]));
    checkNoOverlap(`${what}: tensors and options.residuals`, [...list, ...residuals]);
  }
  const fingerprint = fingerprintOf({ sequence: sequence, kind, op, root, deterministic, tensors: list, compression, bucket });
  const { bucketBytes, stallWarningSeconds } = currentSettings();
  return {
    args: [kind, op, root, deterministic, bucketBytes, stallWarningSeconds, f32, f64, u16, u8, fingerprint, what, compression, residuals],
    what,
    rank: state.rank,
    sequence,
  };
}

function checkReduceOptions(what: string, options: unknown): Reduction {
  if (options === undefined) return PLAIN;
  const opts = checkOptions(`${what}: options`, options, ['op', 'deterministic', 'compression', 'residuals']);
  const op = opts.op === undefined ? 'sum' : checkString<ReduceOp>(`${what}: options.op`, opts.op, ['sum', 'mean', 'max']);
  const deterministic = opts.deterministic === undefined ? false : checkBoolean(`${what}: options.deterministic`, opts.deterministic);
  const compression = opts.compression === undefined ? 'none' : checkString<Compression>(`${what}: options.compression`, opts.compression, ['none', 'bf16', 'fp16']);
  const residuals =
    opts.residuals === undefined
      ? []
      : checkArray(`${what}: options.residuals`, opts.residuals).map((r, i) => {
          const t = checkTensor(`${what}: options.residuals[${i}]`, r);
          if (!(t instanceof Float32Array)) throw makeError(ErrorCodes.DTYPE_MISMATCH, `${what}: options.residuals[${i}]: expected a Float32Array, got a ${typedArrayTag(t)}`);
          return t;
        });
  if (residuals.length > 0 && compression === 'none') {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${what}: options.residuals: error feedback needs options.compression ('bf16' or 'fp16')`);
  }
  return { op: OPS[op], deterministic, compression: COMPRESSIONS[compression], residuals };
}

function checkRoot(what: string, root: unknown): number {
  return root === undefined ? 0 : checkNumber(`${what}: root`, root, { integer: true, min: 0 });
}

/** Throws ERR_STEP_IN_FLIGHT while gradient buckets are in flight (unless `bucketsToo` is false), or asynchronous collectives queued (unless `queuedToo` is false). */
function checkIdle(what: string, queuedToo: boolean, bucketsToo = true): void {
  if (bucketsToo && buckets.length > 0) {
    throw makeError(
      ErrorCodes.STEP_IN_FLIGHT,
      `fusedoptim/distributed: ${what}: ${buckets.length} gradient bucket(s) in flight; step() (or drain them) first (collectives run one at a time, in the order called)`,
    );
  }
  if (queuedToo && queued > 0) {
    throw makeError(
      ErrorCodes.STEP_IN_FLIGHT,
      `fusedoptim/distributed: ${what}: ${queued} asynchronous collective(s) still queued; await them first (collectives run one at a time, in the order called)`,
    );
  }
}

function runSync(p: Prepared): void {
  checkIdle(p.what, true);
  sequence++;
  settleOutcome(initialized(p.what).mpi.collective(...p.args), p.rank, p.what, p.sequence);
}

function runAsync(p: Prepared): Promise<void> {
  checkIdle(p.what, false);
  sequence++;
  queued++;
  const run = tail.then(async () => {
    try {
      settleOutcome(await initialized(p.what).mpi.collectiveAsync(...p.args), p.rank, p.what, p.sequence);
    } finally {
      queued--;
    }
  });
  // The next collective waits for this one, failed or not.
  tail = run.catch(() => undefined);
  return run;
}

/** Reduces every rank's tensors into every rank's tensors, in place (sum by default). */
export function allReduce(tensors: readonly Tensor[], options?: ReduceOptions): void {
  runSync(prepare(CollectiveKind.AllReduce, tensors, 0, checkReduceOptions('allReduce', options)));
}

/** allReduce, run on libuv's thread pool: resolves when it is done (collectives run one at a time, in call order). */
export function allReduceAsync(tensors: readonly Tensor[], options?: ReduceOptions): Promise<void> {
  return deferred(() => {
    return runAsync(prepare(CollectiveKind.AllReduce, tensors, 0, checkReduceOptions('allReduceAsync', options)));
  });
}

/** Copies rank `root`'s tensors (default 0) into every rank's, in place; Uint16Arrays and Uint8Arrays too, bit for bit. */
export function broadcast(tensors: readonly StateArray[], root?: number): void {
  runSync(prepare(CollectiveKind.Broadcast, tensors, checkRoot('broadcast', root), PLAIN));
}

/** broadcast, run on libuv's thread pool: resolves when it is done (collectives run one at a time, in call order). */
export function broadcastAsync(tensors: readonly StateArray[], root?: number): Promise<void> {
  return deferred(() => runAsync(prepare(CollectiveKind.Broadcast, tensors, checkRoot('broadcastAsync', root), PLAIN)));
}

/** Reduces into this rank's shard (shardRange) of the tensors; the rest of them is left unspecified. */
export function reduceScatter(tensors: readonly Tensor[], options?: ReduceOptions): void {
  runSync(prepare(CollectiveKind.ReduceScatter, tensors, 0, uncompressed('reduceScatter', checkReduceOptions('reduceScatter', options))));
}

/** reduceScatter, run on libuv's thread pool: resolves when it is done (collectives run one at a time, in call order). */
export function reduceScatterAsync(tensors: readonly Tensor[], options?: ReduceOptions): Promise<void> {
  return deferred(() => {
    return runAsync(prepare(CollectiveKind.ReduceScatter, tensors, 0, uncompressed('reduceScatterAsync', checkReduceOptions('reduceScatterAsync', options))));
  });
}

/** Copies each rank's shard (shardRange) of the tensors into every rank's tensors; Uint16Arrays and Uint8Arrays too. */
export function allGather(tensors: readonly StateArray[]): void {
  runSync(prepare(CollectiveKind.AllGather, tensors, 0, PLAIN));
}

/** allGather, run on libuv's thread pool: resolves when it is done (collectives run one at a time, in call order). */
export function allGatherAsync(tensors: readonly StateArray[]): Promise<void> {
  return deferred(() => runAsync(prepare(CollectiveKind.AllGather, tensors, 0, PLAIN)));
}

/** reduceScatter's options: compression is allReduce's alone. */
function uncompressed(what: string, reduction: Reduction): Reduction {
  if (reduction.compression !== CompressionCode.None || reduction.residuals.length > 0) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${what}: options.compression: only allReduce compresses`);
  }
  return reduction;
}

/**
 * Hands an all-reduce of `tensors` (views of the gradients: one bucket) to the
 * communication thread and returns at once; drainBuckets() waits for it. The
 * caller (./overlap.ts) has checked the tensors; `bucket` is the bucket's
 * place, which every rank must agree on.
 */
export function submitBucket(tensors: readonly Tensor[], reduction: Omit<Reduction, 'op'>, bucket: number): void {
  const what = `gradient bucket #${bucket}`;
  checkNothingQueued(what);
  const p = prepare(CollectiveKind.AllReduce, tensors, 0, { ...reduction, op: ReduceOpCode.Sum, bucket }, what);
  initialized(what).mpi.submit(...p.args);
  sequence++;
  buckets.push({ what, sequence: p.sequence });
}

/** Throws ERR_STEP_IN_FLIGHT while asynchronous collectives are queued: a bucket would overtake them. */
export function checkNothingQueued(what: string): void {
  checkIdle(what, true, false);
}

/** The number of gradient buckets in flight. */
export function bucketsInFlight(): number {
  return buckets.length;
}

/** Waits for every bucket in flight; ERR_COLLECTIVE_MISMATCH (every rank) when the ranks disagreed on one. */
export function drainBuckets(): void {
  settleBuckets(initialized('drain').mpi.drain());
}

export async function drainBucketsAsync(): Promise<void> {
  settleBuckets(await initialized('drain').mpi.drainAsync());
}

function settleBuckets(failed: [number, Exclude<CollectiveOutcome, undefined>] | undefined): void {
  const round = buckets;
  buckets = [];
  if (failed !== undefined) settleOutcome(failed[1], initialized('drain').state.rank, round[failed[0]].what, round[failed[0]].sequence);
}

/** An asynchronous call's checks as a rejected Promise rather than a synchronous throw. */
function deferred(start: () => Promise<void>): Promise<void> {
  try {
    return start();
  } catch (err) {
    return Promise.reject(err);
  }
}
