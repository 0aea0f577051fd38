/**
 * DistributedOptimizer: data-parallel training in Horovod's shape.
 *
 *   const opt = new DistributedOptimizer(new AdamW(params, { lr }));  // rank 0's params and state reach every rank
 *   opt.step(grads, { maxGradNorm: 1 });                              // grads summed over ranks, averaged inside the fused step
 *
 * Averaging costs no pass of its own: a step pre-hook on the wrapped
 * optimizer sums the gradients across ranks (allReduce) and divides the
 * step's gradScale by the world size, which the optimizer's fused kernel
 * applies while it reads the gradients; its fused clip therefore sees the
 * averaged gradient. The hook stays on the wrapped optimizer, so
 * `opt.optimizer.step(grads)` (what train() and the schedulers hold) averages too,
 * except under shardState, where the wrapped optimizer refuses to step alone.
 *
 * `backwardPassesPerStep: k` adds k gradients locally (one call to step() per
 * backward pass) and communicates and steps at every k-th call, with gradScale
 * 1/(k·size). `deterministic: true` sums in rank order (see collectives.ts):
 * the params are then bit-identical on every rank after every step, and from
 * run to run. `shardState: true` is ZeRO stage 1 (./zero.ts).
 *
 * Overlap: `opt.gradReady(i, grad)` during the backward pass hands param i's
 * gradient over as soon as it is complete; the buckets it completes are summed
 * on the addon's communication thread while the backward pass goes on
 * (./overlap.ts), and the step hands over the rest and waits. The sums are the
 * bits of averaging after the backward pass. With backwardPassesPerStep k,
 * gradReady on the first k - 1 passes adds the gradient locally (as step()
 * would), and on the k-th hands the sum over.
 *
 * `compression: 'bf16' | 'fp16'` sends float32 gradients in 16 bits and sums
 * them in float32 (collectives.ts); `errorFeedback: true` carries each rank's
 * rounding error into its next step's gradients. Those residuals are training
 * state, kept per rank: gatherState() brings every rank's to rank 0 for a
 * checkpoint (errorFeedbackState), loadErrorFeedback() gives each rank its own
 * back on the same world size (on another, they are dropped, saying so).
 */
import { createHash } from 'crypto';
import { accumulateGrads } from '../clip';
import { ErrorCodes, makeError } from '../errors';
import type { AnyOptimizer, StepOptions, StepResult } from '../optim/core/optimizer';
import { isCodeMapKey } from '../compact/state_storage';
import { StateArray, Tensor, typedArrayTag } from '../tensor';
import { zerosLike } from '../alloc';
import type { ErrorFeedbackState } from '../train/checkpoint';
import { checkArray, checkBoolean, checkNumber, checkObject, checkOptions, checkString, checkTensor, describe } from '../validate';
import { COMPRESSIONS, COMPRESSION_NAMES, Compression, allReduce, allReduceAsync, broadcast } from './collectives';
import { GradientBuckets } from './overlap';
import { initialized } from './world';
import { ShardedStep } from './zero';

export type { AnyOptimizer };

/** The options of DistributedOptimizer. */
export interface DistributedOptions {
  /**
   * Backward passes whose gradients are added locally before one communication and one step. Default 1.
   * train() takes it over as its own accumulation: k micro-batches per optimizer step, counted as one step.
   */
  backwardPassesPerStep?: number;
  /** Sum in rank order: params bit-identical on every rank and every run. Default false. */
  deterministic?: boolean;
  /** ZeRO stage 1: each rank keeps and updates the optimizer state of 1/size of the params. Default false. */
  shardState?: boolean;
  /** Send float32 gradients in 16 bits, bfloat16 or IEEE half, and sum them in float32. Default 'none'. */
  compression?: Compression;
  /** With compression: add each rank's rounding error of a step to its next step's gradients. Default false. */
  errorFeedback?: boolean;
}

/** What DistributedOptimizer.step returns: the wrapped step's result, and whether it stepped. */
export interface DistributedStepResult extends StepResult {
  /**
   * False for the first backwardPassesPerStep - 1 calls of each step: the gradients were only added
   * locally and nothing stepped (a loop advances its schedule and counts a step only when true).
   */
  communicated: boolean;
}

const OPTIONS = ['backwardPassesPerStep', 'deterministic', 'shardState', 'compression', 'errorFeedback'] as const;

/** Every param of every group, in order. */
export function paramsOf(optimizer: AnyOptimizer): Tensor[] {
  return optimizer.paramGroups.flatMap((g) => g.params as Tensor[]);
}

/** A code map of 8-bit state, by where it is held. */
interface CodeMapSlot {
  label: string;
  map: Float32Array;
}

/**
 * Each param's state in a fixed order (keys sorted): its typed arrays (any
 * element type: they travel as bits), its numbers (step counts ...), and
 * apart, the code maps of 8-bit moments, which every param shares and which
 * are compared, never written (see checkCodeMaps).
 */
function stateBuffers(optimizer: AnyOptimizer): { arrays: StateArray[]; numbers: Float64Array; codeMaps: CodeMapSlot[] } {
  const arrays: StateArray[] = [];
  const numbers: number[] = [];
  const codeMaps: CodeMapSlot[] = [];
  optimizer.state.forEach((s, i) => {
    for (const key of Object.keys(s).sort()) {
      const value = s[key];
      if (typeof value === 'number') numbers.push(value);
      else if (isCodeMapKey(s, key)) codeMaps.push({ label: `state[${i}].${key}`, map: value as Float32Array });
      else if (value !== undefined) arrays.push(value);
    }
  });
  return { arrays, numbers: Float64Array.from(numbers), codeMaps };
}

/** 48 bits of a SHA-256 of an array's bytes: an integer a Float64Array holds exactly. */
function digest48(array: Float32Array): number {
  return createHash('sha256').update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength)).digest().readUIntBE(0, 6);
}

/**
 * Checks (a collective) that every rank holds rank 0's code maps, bit for
 * bit: rank 0's codes mean the same values only under the same map. A map is
 * shared by every param (a module constant until a load copies it), so it is
 * compared rather than broadcast into; ranks that differ make every rank throw.
 */
function checkCodeMaps(codeMaps: readonly CodeMapSlot[]): void {
  const n = codeMaps.length;
  // The largest digest and the largest negated one: equal magnitudes on every slot mean every rank agrees.
  const extremes = new Float64Array(2 * n);
  codeMaps.forEach(({ map }, k) => {
    extremes[k] = digest48(map);
    extremes[n + k] = -extremes[k];
  });
  allReduce([extremes], { op: 'max', deterministic: true });
  const k = codeMaps.findIndex((_, j) => extremes[j] !== -extremes[n + j]);
  if (k >= 0) {
    throw makeError(
      ErrorCodes.INVALID_ARG_VALUE,
      `DistributedOptimizer: ${codeMaps[k].label}: the ranks hold different 8-bit code maps, so rank 0's codes would mean other values elsewhere; ` +
        'load the same checkpoint on every rank',
    );
  }
}

/** Wraps an optimizer for data-parallel training: gradients are averaged across ranks inside its fused step. */
export class DistributedOptimizer<Opt extends AnyOptimizer = AnyOptimizer> {
  /** The wrapped optimizer (hand it to schedulers and to train()). */
  readonly optimizer: Opt;
  /** Backward passes added locally before each communication and step. */
  readonly backwardPassesPerStep: number;
  /** Gradients are summed in rank order: the same bits on every rank and every run. */
  readonly deterministic: boolean;
  /** ZeRO-1: each rank keeps and updates the optimizer state of 1/size of the params. */
  readonly shardState: boolean;
  /** How gradients travel: float32 ('none'), or 16 bits (bfloat16 or IEEE half) summed in float32. */
  readonly compression: Compression;
  /** Each rank's rounding error of a compressed step is added to its next step's gradients. */
  readonly errorFeedback: boolean;

  private readonly size: number;
  private readonly rank: number;
  private passes = 0;
  private accumulated: Tensor[] | null = null;
  /** With backwardPassesPerStep: the params whose gradient gradReady added in this pass. */
  private added: boolean[];
  /** Error feedback: each param's rounding error, or null. */
  private readonly residuals: Float32Array[] | null;
  /** On rank 0 between gatherState() and releaseState(): every rank's residuals. */
  private gathered: Float32Array[][] | null = null;
  private readonly buckets: GradientBuckets | null;
  private asyncHook = false;
  private readonly sharded: ShardedStep | null;

  constructor(optimizer: Opt, options?: DistributedOptions) {
    const name = 'DistributedOptimizer';
    const { state } = initialized(name);
    checkObject(`${name}: optimizer`, optimizer);
    if (typeof (optimizer as { registerStepPreHook?: unknown }).registerStepPreHook !== 'function' || !Array.isArray(optimizer.paramGroups)) {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: optimizer: expected a fusedoptim Optimizer`);
    }
    const opts = checkOptions(`${name}: options`, options, OPTIONS);
    this.backwardPassesPerStep =
      opts.backwardPassesPerStep === undefined ? 1 : checkNumber(`${name}: options.backwardPassesPerStep`, opts.backwardPassesPerStep, { integer: true, min: 1 });
    this.deterministic = opts.deterministic === undefined ? false : checkBoolean(`${name}: options.deterministic`, opts.deterministic);
    this.shardState = opts.shardState === undefined ? false : checkBoolean(`${name}: options.shardState`, opts.shardState);
    this.compression = opts.compression === undefined ? 'none' : checkString(`${name}: options.compression`, opts.compression, COMPRESSION_NAMES);
    this.errorFeedback = opts.errorFeedback === undefined ? false : checkBoolean(`${name}: options.errorFeedback`, opts.errorFeedback);
    const params = paramsOf(optimizer);
    if (this.compression !== 'none') {
      if (this.shardState) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}: options.compression: shardState reduce-scatters uncompressed; use one or the other`);
      const k = params.findIndex((p) => !(p instanceof Float32Array));
      if (k >= 0) throw makeError(ErrorCodes.DTYPE_MISMATCH, `${name}: options.compression: sends float32 gradients in 16 bits, but param ${k} is a ${typedArrayTag(params[k])}`);
    } else if (this.errorFeedback) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}: options.errorFeedback: needs options.compression ('bf16' or 'fp16')`);
    }
    this.optimizer = optimizer;
    this.size = state.size;
    this.rank = state.rank;
    this.added = params.map(() => false);
    this.residuals = this.errorFeedback ? params.map((p) => new Float32Array(p.length)) : null;
    const code = COMPRESSIONS[this.compression];
    this.buckets = this.shardState ? null : new GradientBuckets(params, { deterministic: this.deterministic, compression: code, residuals: this.residuals }, `${name}: gradReady`);

    // Every rank starts from rank 0's params and state (state exists after a load, or steps).
    broadcast(paramsOf(optimizer), 0);
    this.broadcastState();

    if (this.shardState) {
      this.sharded = new ShardedStep(optimizer, state.rank, state.size, this.deterministic);
      // The wrapped optimizer's state now lives in the shards: stepped alone, it would build
      // every param's state anew from this rank's own gradients, and the ranks would part.
      optimizer.registerStepPreHook(() => {
        throw makeError(
          ErrorCodes.INVALID_ARG_VALUE,
          `${optimizer.constructor.name}.step: this optimizer is wrapped by a DistributedOptimizer with shardState, which keeps its state in shards across the ranks; step the DistributedOptimizer instead (it reduce-scatters the gradients and steps this rank's shard)`,
        );
      });
    } else {
      this.sharded = null;
      optimizer.registerStepPreHook((_opt, grads, stepOptions) => this.average(grads, stepOptions));
    }
  }

  /**
   * One backward pass's gradients (one per param, as the wrapped optimizer's
   * step takes them). Every backwardPassesPerStep-th call sums them across
   * ranks and steps; the others add them locally.
   */
  step(grads: readonly (Tensor | null)[], options?: StepOptions): DistributedStepResult {
    const ready = this.accumulate(grads);
    if (ready === null) return { gradNorm: undefined, skipped: false, communicated: false };
    const scaled = this.scaledOptions(options);
    try {
      const result = this.sharded !== null ? this.sharded.step(ready, scaled) : this.optimizer.step(ready, scaled);
      return { ...result, communicated: true };
    } finally {
      this.restart();
    }
  }

  /** step() with the communication and the kernels on libuv's pool (collectives in call order on every rank). */
  async stepAsync(grads: readonly (Tensor | null)[], options?: StepOptions): Promise<DistributedStepResult> {
    const ready = this.accumulate(grads);
    if (ready === null) return { gradNorm: undefined, skipped: false, communicated: false };
    const scaled = this.scaledOptions(options);
    this.asyncHook = true;
    try {
      const result = this.sharded !== null ? await this.sharded.stepAsync(ready, scaled) : await this.optimizer.stepAsync(ready, scaled);
      return { ...result, communicated: true };
    } finally {
      this.asyncHook = false;
      this.restart();
    }
  }

  /**
   * Hands param `index`'s gradient over as soon as the backward pass has
   * finished it (before the others): its bucket is summed across ranks while
   * the backward pass goes on. Then call step() with all the gradients, as
   * always (`grad` among them); until then, do not write `grad`. With
   * backwardPassesPerStep, the gradient is added locally on the first passes
   * and the sum handed over on the last. Not with shardState.
   */
  gradReady(index: number, grad: Tensor): void {
    const what = 'DistributedOptimizer: gradReady';
    if (this.buckets === null) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${what}: shardState reduce-scatters the gradients at the step, all at once; gradReady is for the all-reduce`);
    }
    const checked = this.buckets.check(index, grad);
    if (this.backwardPassesPerStep === 1) {
      this.buckets.handOver(checked.index, checked.grad);
      return;
    }
    const i = checked.index;
    if (this.added[i]) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${what}: grads[${i}] was already handed over for this backward pass`);
    if (this.accumulated === null) this.accumulated = paramsOf(this.optimizer).map((p) => zerosLike(p));
    accumulateGrads([this.accumulated[i]], [checked.grad]);
    this.added[i] = true;
    if (this.passes === this.backwardPassesPerStep - 1) this.buckets.handOver(i, this.buckets.check(i, this.accumulated[i]).grad);
  }

  /** After a step: the local sums start again from zero (unless a refused step left them in flight). */
  private restart(): void {
    if (this.buckets?.active) return;
    this.passes = 0;
    this.added.fill(false);
    for (const a of this.accumulated ?? []) a.fill(0);
  }

  /**
   * Makes the wrapped optimizer's state the whole state, for a checkpoint
   * (its stateDict() is then an ordinary, world-size-independent one). A
   * collective: every rank calls it. With shardState it assembles every
   * rank's shard (memory: the whole state, until releaseState()); without, every
   * rank already holds it.
   */
  gatherState(): void {
    this.sharded?.gatherState();
    if (this.residuals !== null) this.gathered = this.gatherResiduals(this.residuals);
  }

  /** Drops what gatherState() assembled: with shardState the whole state (this rank's shard stays), the ranks' residuals. */
  releaseState(): void {
    this.sharded?.releaseState();
    this.gathered = null;
  }

  /**
   * After every rank loaded the same checkpoint into the wrapped optimizer
   * (saved on any number of ranks): with shardState, keeps this rank's shard
   * of it; without, makes every rank hold rank 0's (a collective).
   */
  scatterState(): void {
    if (this.sharded !== null) this.sharded.scatterState();
    else this.broadcastState();
  }

  /** Elements of optimizer state held by this rank (with shardState about 1/size of the whole). */
  get localStateElements(): number {
    if (this.sharded !== null) return this.sharded.stateElements;
    let n = 0;
    for (const s of this.optimizer.state) for (const v of Object.values(s)) if (typeof v === 'object') n += v.length;
    return n;
  }

  /**
   * With errorFeedback, on rank 0 between gatherState() and releaseState(): every rank's residuals
   * (copies), for a checkpoint (saveCheckpoint's `errorFeedback`; train() saves them). Null on the
   * other ranks, at other times, and without errorFeedback.
   */
  get errorFeedbackState(): ErrorFeedbackState | null {
    if (this.gathered === null || this.compression === 'none') return null;
    return { compression: this.compression, residuals: this.gathered };
  }

  /**
   * After every rank loaded the same checkpoint (loadCheckpoint's `errorFeedback`, null when it holds
   * none): this rank's residuals from it. They are each rank's own rounding errors, so they carry
   * over only to the same world size and compression; otherwise (or without errorFeedback here) they
   * are dropped, error feedback starts from zero, and the returned text says why (null when they were
   * taken, or there were none). Not a collective: every rank decides alike from the same file.
   */
  loadErrorFeedback(saved: ErrorFeedbackState | null): string | null {
    const name = 'DistributedOptimizer: loadErrorFeedback';
    const residuals = this.residuals;
    // Checked first (ownResiduals throws before anything changes); then each residual is the saved one, or zero.
    const taken = saved === null ? null : this.ownResiduals(name, saved);
    const own = Array.isArray(taken) ? taken : null;
    residuals?.forEach((r, i) => (own !== null ? r.set(own[i]) : r.fill(0)));
    return typeof taken === 'string' ? taken : null;
  }

  /** This rank's residuals in `saved`, checked against the params; or why they cannot be used here. */
  private ownResiduals(name: string, saved: ErrorFeedbackState): readonly Float32Array[] | string {
    const { compression, residuals: ranks } = checkOptions(name, saved, ['compression', 'residuals']) as unknown as ErrorFeedbackState;
    checkArray(`${name}: residuals`, ranks);
    const what = `the checkpoint's error-feedback residuals (${compression} rounding errors of ${ranks.length} rank${ranks.length === 1 ? '' : 's'})`;
    if (this.residuals === null) return `${what} are not used: this run has no errorFeedback`;
    if (compression !== this.compression) return `${what} are dropped: this run rounds to ${this.compression}; error feedback starts from zero`;
    if (ranks.length !== this.size) {
      return (
        `${what} are dropped: each is one rank's rounding error of its own gradients, and this run has ${this.size} rank${this.size === 1 ? '' : 's'}; ` +
        'error feedback starts from zero (the run continues, but not bit for bit as it would have)'
      );
    }
    const live = this.residuals;
    const mine = checkArray(`${name}: residuals[${this.rank}]`, ranks[this.rank]);
    if (mine.length !== live.length) {
      throw makeError(ErrorCodes.CHECKPOINT_MISMATCH, `${name}: the checkpoint has residuals of ${mine.length} params, the optimizer has ${live.length} params`);
    }
    return mine.map((r, i) => {
      const t = checkTensor(`${name}: residuals[${this.rank}][${i}]`, r);
      if (typedArrayTag(t) !== 'Float32Array' || t.length !== live[i].length) {
        throw makeError(ErrorCodes.CHECKPOINT_MISMATCH, `${name}: residuals[${this.rank}][${i}] is ${describe(t)}, param ${i}'s residual a Float32Array(${live[i].length})`);
      }
      return t as Float32Array;
    });
  }

  /**
   * Every rank's residuals on rank 0 (copies), from a broadcast by each rank in turn: the other
   * ranks receive into one scratch list, so no rank but 0 holds more than two sets. A collective.
   */
  private gatherResiduals(own: readonly Float32Array[]): Float32Array[][] | null {
    const scratch = this.rank === 0 ? null : own.map((r) => new Float32Array(r.length));
    const all: Float32Array[][] = [];
    for (let r = 0; r < this.size; r++) {
      const list = r === this.rank ? [...own] : this.rank === 0 ? own.map((x) => new Float32Array(x.length)) : scratch!;
      broadcast(list, r);
      if (this.rank === 0) all.push(r === 0 ? own.map((x) => x.slice()) : list);
    }
    return this.rank === 0 ? all : null;
  }

  /**
   * Rank 0's state into every rank's, bit for bit, whatever its element types
   * (the same keys everywhere, or ERR_COLLECTIVE_MISMATCH; the same code maps, or ERR_INVALID_ARG_VALUE).
   */
  private broadcastState(): void {
    const { arrays, numbers, codeMaps } = stateBuffers(this.optimizer);
    if (codeMaps.length > 0) checkCodeMaps(codeMaps);
    broadcast([...arrays, numbers], 0);
    let k = 0;
    this.optimizer.state.forEach((s) => {
      for (const key of Object.keys(s).sort()) if (typeof s[key] === 'number') s[key] = numbers[k++];
    });
  }

  /** The gradients to step with now (the accumulated ones), or null while passes remain. */
  private accumulate(grads: readonly (Tensor | null)[]): readonly (Tensor | null)[] | null {
    if (this.backwardPassesPerStep === 1) return grads;
    const list = checkArray('DistributedOptimizer: step: grads', grads).map((g, i) => {
      if (g === null) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `DistributedOptimizer: step: grads[${i}]: with backwardPassesPerStep every param needs a gradient`);
      return checkTensor(`DistributedOptimizer: step: grads[${i}]`, g);
    });
    if (this.accumulated === null) this.accumulated = list.map((g) => zerosLike(g));
    // The gradients gradReady added in this pass are in already.
    const rest = list.flatMap((_, i) => (this.added[i] ? [] : [i]));
    accumulateGrads(rest.map((i) => this.accumulated![i]), rest.map((i) => list[i]));
    this.added.fill(false);
    return ++this.passes < this.backwardPassesPerStep ? null : this.accumulated;
  }

  /** The step's options with gradScale divided by the local passes (the pre-hook divides by the world size). */
  private scaledOptions(options: StepOptions | undefined): StepOptions | undefined {
    if (this.backwardPassesPerStep === 1) return options;
    const gradScale = options?.gradScale === undefined ? 1 : checkNumber('DistributedOptimizer: step: options.gradScale', options.gradScale);
    return { ...options, gradScale: gradScale / this.backwardPassesPerStep };
  }

  /**
   * The pre-hook: sum the gradients across ranks (those handed over are in
   * flight: hand over the rest and wait); the fused step divides by the world size.
   */
  private average(grads: readonly (Tensor | null)[], options: StepOptions | undefined) {
    const gradScale = options?.gradScale === undefined ? 1 : options.gradScale;
    const averaged = { options: { ...options, gradScale: gradScale / this.size } };
    const buckets = this.buckets!;
    if (buckets.active) {
      buckets.complete(grads);
      if (this.asyncHook) return buckets.drainAsync().then(() => averaged);
      buckets.drain();
      return averaged;
    }
    const present = grads.filter((g): g is Tensor => g !== null);
    const residuals = this.residuals === null ? undefined : grads.flatMap((g, i) => (g === null ? [] : [this.residuals![i]]));
    const reduce = { deterministic: this.deterministic, compression: this.compression, residuals };
    if (this.asyncHook) return allReduceAsync(present, reduce).then(() => averaged);
    allReduce(present, reduce);
    return averaged;
  }
}
