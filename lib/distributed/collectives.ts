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
 */
import { ErrorCodes, makeError } from '../errors';
import { StateArray, Tensor, typedArrayTag } from '../tensor';
import { checkArray, checkBoolean, checkNoOverlap, checkNumber, checkOptions, checkStateArray, checkString, checkTensor } from '../validate';
import { COLLECTIVE_NAMES, fingerprintOf, throwMismatch } from './fingerprint';
import { CollectiveArgs, CollectiveKind, ReduceOpCode } from './mpi_addon';
import { currentSettings, initialized } from './world';

/** How a reduction combines the ranks' values. */
export type ReduceOp = 'sum' | 'mean' | 'max';

/** The options of allReduce and reduceScatter. */
export interface ReduceOptions {
  /** Default 'sum'. */
  op?: ReduceOp;
  /** Sum in rank order: bit-identical on every rank and every run. Default false. */
  deterministic?: boolean;
}

const OPS: Readonly<Record<ReduceOp, ReduceOpCode>> = { sum: ReduceOpCode.Sum, mean: ReduceOpCode.Mean, max: ReduceOpCode.Max };

let sequence = 0;
let queued = 0;
let tail: Promise<unknown> = Promise.resolve();

interface Prepared {
  args: CollectiveArgs;
  what: string;
  rank: number;
}

/** The collectives that only move data: they take bits (Uint16Array, Uint8Array) too. */
const MOVES_ONLY: ReadonlySet<CollectiveKind> = new Set([CollectiveKind.Broadcast, CollectiveKind.AllGather]);

/** The tensors of one element type. */
function ofType<T extends StateArray>(list: readonly StateArray[], tag: string): T[] {
  return list.filter((t) => typedArrayTag(t) === tag) as T[];
}

/** Every check of a collective's arguments, then its addon arguments; changes nothing if it throws. */
function prepare(kind: CollectiveKind, tensors: unknown, op: ReduceOpCode, root: number, deterministic: boolean): Prepared {
  const what = COLLECTIVE_NAMES[kind];
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
  const fingerprint = fingerprintOf({ sequence: sequence, kind, op, root, deterministic, tensors: list });
  const { bucketBytes, stallWarningSeconds } = currentSettings();
  return { args: [kind, op, root, deterministic, bucketBytes, stallWarningSeconds, f32, f64, u16, u8, fingerprint, what], what, rank: state.rank };
}

function checkReduceOptions(what: string, options: unknown): { op: ReduceOpCode; deterministic: boolean } {
  if (options === undefined) return { op: ReduceOpCode.Sum, deterministic: false };
  const opts = checkOptions(`${what}: options`, options, ['op', 'deterministic']);
  const op = opts.op === undefined ? 'sum' : checkString<ReduceOp>(`${what}: options.op`, opts.op, ['sum', 'mean', 'max']);
  const deterministic = opts.deterministic === undefined ? false : checkBoolean(`${what}: options.deterministic`, opts.deterministic);
  return { op: OPS[op], deterministic };
}

function checkRoot(what: string, root: unknown): number {
  return root === undefined ? 0 : checkNumber(`${what}: root`, root, { integer: true, min: 0 });
}

function runSync(p: Prepared): void {
  if (queued > 0) {
    throw makeError(
      ErrorCodes.STEP_IN_FLIGHT,
      `fusedoptim/distributed: ${p.what}: ${queued} asynchronous collective(s) still queued; await them first (collectives run one at a time, in the order called)`,
    );
  }
  sequence++;
  const mismatch = initialized(p.what).mpi.collective(...p.args);
  if (mismatch !== undefined) throwMismatch(mismatch, p.rank, p.what);
}

function runAsync(p: Prepared): Promise<void> {
  sequence++;
  queued++;
  const run = tail.then(async () => {
    try {
      const mismatch = await initialized(p.what).mpi.collectiveAsync(...p.args);
      if (mismatch !== undefined) throwMismatch(mismatch, p.rank, p.what);
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
  const { op, deterministic } = checkReduceOptions('allReduce', options);
  runSync(prepare(CollectiveKind.AllReduce, tensors, op, 0, deterministic));
}

/** allReduce, run on libuv's thread pool: resolves when it is done (collectives run one at a time, in call order). */
export function allReduceAsync(tensors: readonly Tensor[], options?: ReduceOptions): Promise<void> {
  return deferred(() => {
    const { op, deterministic } = checkReduceOptions('allReduceAsync', options);
    return runAsync(prepare(CollectiveKind.AllReduce, tensors, op, 0, deterministic));
  });
}

/** Copies rank `root`'s tensors (default 0) into every rank's, in place; Uint16Arrays and Uint8Arrays too, bit for bit. */
export function broadcast(tensors: readonly StateArray[], root?: number): void {
  runSync(prepare(CollectiveKind.Broadcast, tensors, ReduceOpCode.Sum, checkRoot('broadcast', root), false));
}

/** broadcast, run on libuv's thread pool: resolves when it is done (collectives run one at a time, in call order). */
export function broadcastAsync(tensors: readonly StateArray[], root?: number): Promise<void> {
  return deferred(() => runAsync(prepare(CollectiveKind.Broadcast, tensors, ReduceOpCode.Sum, checkRoot('broadcastAsync', root), false)));
}

/** Reduces into this rank's shard (shardRange) of the tensors; the rest of them is left unspecified. */
export function reduceScatter(tensors: readonly Tensor[], options?: ReduceOptions): void {
  const { op, deterministic } = checkReduceOptions('reduceScatter', options);
  runSync(prepare(CollectiveKind.ReduceScatter, tensors, op, 0, deterministic));
}

/** reduceScatter, run on libuv's thread pool: resolves when it is done (collectives run one at a time, in call order). */
export function reduceScatterAsync(tensors: readonly Tensor[], options?: ReduceOptions): Promise<void> {
  return deferred(() => {
    const { op, deterministic } = checkReduceOptions('reduceScatterAsync', options);
    return runAsync(prepare(CollectiveKind.ReduceScatter, tensors, op, 0, deterministic));
  });
}

/** Copies each rank's shard (shardRange) of the tensors into every rank's tensors; Uint16Arrays and Uint8Arrays too. */
export function allGather(tensors: readonly StateArray[]): void {
  runSync(prepare(CollectiveKind.AllGather, tensors, ReduceOpCode.Sum, 0, false));
}

/** allGather, run on libuv's thread pool: resolves when it is done (collectives run one at a time, in call order). */
export function allGatherAsync(tensors: readonly StateArray[]): Promise<void> {
  return deferred(() => runAsync(prepare(CollectiveKind.AllGather, tensors, ReduceOpCode.Sum, 0, false)));
}

/** An asynchronous call's checks as a rejected Promise rather than a synchronous throw. */
function deferred(start: () => Promise<void>): Promise<void> {
  try {
    return start();
  } catch (err) {
    return Promise.reject(err);
  }
}
