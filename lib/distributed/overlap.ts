/**
 * Gradient buckets reduced while the backward pass produces the rest (the
 * overlap of DDP and Horovod): a DistributedOptimizer hands each gradient
 * over as soon as it is complete (gradReady), and every bucket all of whose
 * gradients have arrived goes to the MPI addon's communication thread at once,
 * while JavaScript computes the next layer's (native/mpi/in_flight.h). The
 * step hands over what is left and waits for the last bucket.
 *
 * The buckets are the chunks allReduce cuts (collectives.ts): each element
 * type's gradients laid end to end in param order, cut every bucketBytes. The
 * addon is handed the very same MPI calls, views of the gradients where
 * allReduce packs them, so the sums are the same bits as averaging after the
 * backward pass; only their order in time differs. A bucket's place is in
 * its fingerprint: ranks that hand gradients over in different orders throw
 * ERR_COLLECTIVE_MISMATCH instead of adding one layer's gradient to another's.
 *
 * While buckets are in flight the addon writes into the gradients: they are
 * kept alive by the addon, must not be written, and a gradient on a resizable
 * ArrayBuffer (which could shrink under the write) is refused.
 */
import { ErrorCodes, makeError } from '../errors';
import { Tensor, lengthOf, typedArrayTag } from '../tensor';
import { checkArray, checkNumber, checkTensor, isDetached } from '../validate';
import { checkNothingQueued, drainBuckets, drainBucketsAsync, submitBucket } from './collectives';
import { CompressionCode } from './mpi_addon';
import { currentSettings } from './world';

/** How the buckets are reduced (DistributedOptimizer's options). */
export interface BucketReduction {
  deterministic: boolean;
  compression: CompressionCode;
  /** Error feedback: one Float32Array per param, or null. */
  residuals: readonly Float32Array[] | null;
}

/** A range [from, to) of param `param`'s gradient inside a bucket. */
interface Piece {
  param: number;
  from: number;
  to: number;
}

/** Each element type's gradients in param order, cut every `bucketBytes`: the pieces of each bucket. */
function planBuckets(params: readonly Tensor[], bucketBytes: number): Piece[][] {
  const plan: Piece[][] = [];
  for (const tag of ['Float32Array', 'Float64Array']) {
    const members = params.map((p, i) => ({ p, i })).filter(({ p }) => typedArrayTag(p) === tag);
    const per = Math.max(1, Math.floor(bucketBytes / (tag === 'Float32Array' ? 4 : 8)));
    let bucket: Piece[] = [];
    let room = per;
    for (const { p, i } of members) {
      const n = lengthOf(p);
      for (let from = 0; from < n; ) {
        const to = Math.min(n, from + room);
        bucket.push({ param: i, from, to });
        room -= to - from;
        from = to;
        if (room === 0) {
          plan.push(bucket);
          bucket = [];
          room = per;
        }
      }
    }
    if (bucket.length > 0) plan.push(bucket);
  }
  return plan;
}

export class GradientBuckets {
  private readonly params: readonly Tensor[];
  private readonly reduction: BucketReduction;
  private readonly what: string;
  private plan: Piece[][] = [];
  /** The buckets each param's gradient is in. */
  private bucketsOf: number[][] = [];
  /** Gradients each bucket still waits for. */
  private missing: number[] = [];
  /** The gradients handed over this round, by param; null where none yet. */
  private handed: (Tensor | null)[];
  private count = 0;

  constructor(params: readonly Tensor[], reduction: BucketReduction, what: string) {
    this.params = params;
    this.reduction = reduction;
    this.what = what;
    this.handed = params.map(() => null);
  }

  /** True once a gradient was handed over this round (the step then completes the round). */
  get active(): boolean {
    return this.count > 0;
  }

  /** Every check of gradReady(index, grad); returns the index. Changes nothing. */
  check(index: unknown, grad: unknown): { index: number; grad: Tensor } {
    const what = this.what;
    const i = checkNumber(`${what}: index`, index, { integer: true, min: 0, max: this.params.length - 1 });
    const g = checkTensor(`${what}: grad`, grad);
    const param = this.params[i];
    if (typedArrayTag(g) !== typedArrayTag(param)) {
      throw makeError(ErrorCodes.DTYPE_MISMATCH, `${what}: grad: expected a ${typedArrayTag(param)} like params[${i}], got a ${typedArrayTag(g)}`);
    }
    if (lengthOf(g) !== lengthOf(param)) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `${what}: grad: expected length ${lengthOf(param)} like params[${i}], got length ${lengthOf(g)}`);
    }
    if ((g.buffer as { resizable?: boolean }).resizable === true) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${what}: grad: views a resizable ArrayBuffer, which could shrink while the reduction writes into it; use a fixed-length one`);
    }
    if (this.handed[i] !== null) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${what}: grads[${i}] was already handed over for this step (a gradient is handed over once per step)`);
    }
    const clash = this.overlapping(g);
    if (clash >= 0) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${what}: grad: shares memory with the gradient handed over as grads[${clash}] (the same buffer twice?)`);
    checkNothingQueued(what);
    return { index: i, grad: g };
  }

  /** Hands a checked gradient over; every bucket it completes starts communicating. */
  handOver(index: number, grad: Tensor): void {
    if (this.count === 0) this.startRound();
    this.handed[index] = grad;
    this.count++;
    for (const b of this.bucketsOf[index]) if (--this.missing[b] === 0) this.submit(b);
  }

  /**
   * At the step: `grads` are the step's gradients, one per param. Those handed
   * over must be the very arrays, still of their length; the others are handed
   * over now, in param order. Throws (changing nothing) before handing any over.
   */
  complete(grads: readonly (Tensor | null)[]): void {
    const what = `${this.what.replace(/gradReady$/, 'step')}: grads`;
    const list = checkArray(what, grads);
    if (list.length !== this.params.length) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `${what}: expected ${this.params.length} gradients, one per param, got ${list.length}`);
    }
    const rest: number[] = [];
    list.forEach((g, i) => {
      const handed = this.handed[i];
      if (handed === null) {
        if (g === null) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${what}[${i}]: once gradients are handed over (gradReady), every param needs one`);
        rest.push(i);
      } else if (g !== handed) {
        throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${what}[${i}]: is not the array handed over by gradReady(${i}, ...) for this step`);
      } else if (isDetached(handed) || lengthOf(handed) !== lengthOf(this.params[i])) {
        // Reached only by a caller that ignored the rule not to touch a gradient in flight.
        throw makeError(ErrorCodes.DETACHED_BUFFER, `${what}[${i}]: its buffer was detached or resized after it was handed over`);
      }
    });
    const checked = rest.map((i) => this.check(i, list[i]).grad);
    rest.forEach((i, k) => this.handOver(i, checked[k]));
  }

  /** Waits for every bucket of the round (complete() first); a new round starts. */
  drain(): void {
    this.endRound();
    drainBuckets();
  }

  async drainAsync(): Promise<void> {
    this.endRound();
    await drainBucketsAsync();
  }

  /** The bucket plan of this round: bucketBytes may have changed since the last (init({ bucketBytes })). */
  private startRound(): void {
    const { bucketBytes } = currentSettings();
    if (this.plan.length === 0 || this.plannedBytes !== bucketBytes) {
      this.plan = planBuckets(this.params, bucketBytes);
      this.plannedBytes = bucketBytes;
      this.bucketsOf = this.params.map(() => []);
      this.plan.forEach((pieces, b) => pieces.forEach(({ param }) => this.bucketsOf[param].push(b)));
    }
    this.missing = this.plan.map((pieces) => pieces.length);
  }

  private plannedBytes = 0;

  private endRound(): void {
    this.handed.fill(null);
    this.count = 0;
  }

  private submit(b: number): void {
    const pieces = this.plan[b];
    const views = pieces.map(({ param, from, to }) => this.handed[param]!.subarray(from, to));
    const residuals = this.reduction.residuals;
    const { deterministic, compression } = this.reduction;
    submitBucket(views, { deterministic, compression, residuals: residuals === null ? [] : pieces.map(({ param, from, to }) => residuals[param].subarray(from, to)) }, b);
  }

  /** The param whose handed-over gradient shares memory with `g`, or -1. */
  private overlapping(g: Tensor): number {
    const start = g.byteOffset;
    const end = start + g.byteLength;
    return this.handed.findIndex((h) => h !== null && h.buffer === g.buffer && h.byteOffset < end && start < h.byteOffset + h.byteLength);
  }
}
