/**
 * ZeRO stage 1 (DeepSpeed's optimizer-state partitioning): each rank keeps
 * and updates the optimizer state of only its shard, 1/size of the params.
 *
 * Each element type's params, laid end to end in param order, form one flat
 * vector; rank r owns shardRange(total, r, size) of it, which may cut through
 * tensors (as DeepSpeed's flat partitions do). A step:
 *
 *   1. reduceScatter(grads)                 each rank holds the summed gradient of its shard
 *   2. the global norm, when the step clips or skips: each rank's partial over its
 *      shard, all-gathered and merged in rank order (../norm.ts), so every rank
 *      computes the same bits and makes the same decision
 *   3. the shard's optimizer steps its pieces (views into the params), gradScale
 *      divided by the world size and times the clip coefficient: one fused pass
 *   4. allGather(params)                     every rank holds every updated param
 *
 * The shard optimizer is a second instance of the wrapped optimizer's class
 * over the pieces, with the wrapped groups' hyper-parameters copied in before
 * every step (schedulers write the wrapped optimizer's). The wrapped optimizer
 * holds no state until gatherState() copies every rank's into it for a
 * checkpoint; scatterState() takes a loaded checkpoint's state back into the shards.
 */
import { finishNorm, gradNormPartial, mergeNormPartials } from '../clip';
import { ErrorCodes, makeError } from '../errors';
import { clipScale } from '../norm';
import type { OptimizerStateDict, StepOptions, StepResult } from '../optim/optimizer';
import { checkStepOptions } from '../optim/step_checks';
import { Pipeline, call, runAsync, runSync } from '../pipeline';
import { StateArray, Tensor, engineView } from '../tensor';
import { checkArray, checkLike, checkTensor } from '../validate';
import { allGather, allGatherAsync, allReduce, reduceScatter, reduceScatterAsync } from './collectives';
import { shardRange } from './shard';
import type { AnyOptimizer } from './optimizer';

/** A piece of param `index`: its elements [from, to), owned by this rank. */
interface Piece {
  index: number;
  group: number;
  from: number;
  to: number;
}

type OptimizerClass = new (params: unknown, options: unknown) => AnyOptimizer;

const NAME = 'DistributedOptimizer';

/** The groups of a state dict for `optimizer`: its hyper-parameters, params by index. */
function groupsOf(optimizer: AnyOptimizer): OptimizerStateDict['paramGroups'] {
  let index = 0;
  return optimizer.paramGroups.map((group) => ({ ...hyperOf(group), params: group.params.map(() => index++) }));
}

function hyperOf(group: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(group)) if (key !== 'params') out[key] = Array.isArray(value) ? [...value] : value;
  return out;
}

function pick(object: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => k in object).map((k) => [k, object[k]]));
}

export class ShardedStep {
  private readonly params: Tensor[];
  private readonly groupOf: number[];
  private readonly pieces: Piece[];
  /** The shard's optimizer, or null when this rank owns nothing (more ranks than elements). */
  readonly shard: AnyOptimizer | null;
  /** shard.paramGroups[k] holds the pieces of wrapped group shardGroups[k]. */
  private readonly shardGroups: number[];

  constructor(
    private readonly wrapped: AnyOptimizer,
    private readonly rank: number,
    private readonly size: number,
    private readonly deterministic: boolean,
  ) {
    this.params = [];
    this.groupOf = [];
    wrapped.paramGroups.forEach((g, gi) => {
      for (const p of g.params as Tensor[]) {
        // Engine views (engineView), made once: the shards are cut by the elements each param has,
        // not by an own `length` that lies (2^40 would put every rank's shard past the end).
        this.params.push(engineView(p));
        this.groupOf.push(gi);
      }
    });
    if (wrapped.reducesPerTensor) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `${NAME}: options.shardState: ${wrapped.kind}'s step reduces over each whole param (a trust ratio, an RMS), so its params cannot be cut into shards; ` +
          'use shardState: false (every rank keeps the whole state)',
      );
    }
    wrapped.paramGroups.forEach((_, gi) => {
      for (const buffer of wrapped.stateSchema(gi).buffers) {
        if (buffer.blockSize !== undefined || (buffer.dtype !== 'param' && buffer.dtype !== 'float32' && buffer.dtype !== 'float64')) {
          throw makeError(
            ErrorCodes.INVALID_ARG_VALUE,
            `${NAME}: options.shardState: group ${gi}'s state buffer ${buffer.name} (${buffer.blockSize !== undefined ? `one per ${buffer.blockSize} elements` : buffer.dtype}) cannot be cut into shards; only element-wise float32/float64 state can`,
          );
        }
      }
    });
    this.pieces = [];
    for (const single of [true, false]) {
      const indices = this.params.map((_, i) => i).filter((i) => (this.params[i] instanceof Float32Array) === single);
      const total = indices.reduce((n, i) => n + this.params[i].length, 0);
      const { begin, end } = shardRange(total, rank, size);
      let at = 0;
      for (const i of indices) {
        const from = Math.max(begin, at) - at;
        const to = Math.min(end, at + this.params[i].length) - at;
        if (from < to) this.pieces.push({ index: i, group: this.groupOf[i], from, to });
        at += this.params[i].length;
      }
    }
    this.pieces.sort((a, b) => a.index - b.index);
    this.shardGroups = [...new Set(this.pieces.map((p) => p.group))].sort((a, b) => a - b);
    const Class = wrapped.constructor as OptimizerClass;
    this.shard =
      this.pieces.length === 0
        ? null
        : new Class(
            // The optimizer's own options only: keys others added to the groups (a scheduler's initialLr) follow at each step.
            this.shardGroups.map((gi) => ({
              ...pick(hyperOf(wrapped.paramGroups[gi]), Object.keys(wrapped.defaults)),
              params: this.pieces.filter((p) => p.group === gi).map((p) => this.params[p.index].subarray(p.from, p.to)),
            })),
            { backend: wrapped.backend },
          );
  }

  /** Elements of optimizer state this rank holds (its shard's buffers). */
  get stateElements(): number {
    let n = 0;
    for (const s of this.shard?.state ?? []) for (const v of Object.values(s)) if (typeof v === 'object') n += v.length;
    return n;
  }

  step(grads: readonly (Tensor | null)[], options?: StepOptions): StepResult {
    return runSync(this.pipeline(grads, options));
  }

  stepAsync(grads: readonly (Tensor | null)[], options?: StepOptions): Promise<StepResult> {
    return runAsync(this.pipeline(grads, options));
  }

  private *pipeline(grads: readonly (Tensor | null)[], options: StepOptions | undefined): Pipeline<StepResult> {
    const opts = checkStepOptions(`${NAME}`, options);
    const list = this.checkGrads(grads);
    this.copyHyper();
    yield* call({ sync: () => reduceScatter(list, { deterministic: this.deterministic }), async: () => reduceScatterAsync(list, { deterministic: this.deterministic }) });
    const pieces = this.pieces.map((p) => list[p.index].subarray(p.from, p.to));
    let scale = opts.gradScale / this.size;
    let gradNorm: number | undefined;
    if (opts.norm !== null) {
      const p = opts.norm.p;
      const partials = new Float64Array(this.size);
      partials[this.rank] = pieces.length === 0 ? 0 : gradNormPartial(pieces, p, { backend: this.wrapped.backend }).value;
      yield* call({ sync: () => allGather([partials]), async: () => allGatherAsync([partials]) });
      gradNorm = finishNorm(mergeNormPartials(Array.from(partials, (value) => ({ normType: p, value })))) * Math.abs(scale);
      const coefficient = clipScale(gradNorm, opts.maxGradNorm, p, opts, `${NAME}: step`);
      if (coefficient === null) return { gradNorm, skipped: true };
      if (opts.maxGradNorm !== undefined) scale *= coefficient;
    }
    const shard = this.shard;
    if (shard !== null) {
      yield* call({ sync: () => shard.step(pieces, { gradScale: scale }), async: () => shard.stepAsync(pieces, { gradScale: scale }) });
    }
    yield* call({ sync: () => allGather(this.params), async: () => allGatherAsync(this.params) });
    return { gradNorm, skipped: false };
  }

  private checkGrads(grads: readonly (Tensor | null)[]): Tensor[] {
    const list = checkArray(`${NAME}: step: grads`, grads);
    if (list.length !== this.params.length) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `${NAME}: step: grads: expected ${this.params.length} gradients (one per param), got ${list.length}`);
    }
    return list.map((g, i) => {
      if (g === null) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${NAME}: step: grads[${i}]: with shardState every param needs a gradient`);
      const grad = checkTensor(`${NAME}: step: grads[${i}]`, g);
      checkLike(`${NAME}: step: grads[${i}]`, grad, `params[${i}]`, this.params[i]);
      return grad;
    });
  }

  /** The wrapped groups' hyper-parameters (what schedulers and users change) into the shard's groups. */
  private copyHyper(): void {
    this.shard?.paramGroups.forEach((group, k) => Object.assign(group, hyperOf(this.wrapped.paramGroups[this.shardGroups[k]])));
  }

  /**
   * Every rank's shard of the state, assembled into the wrapped optimizer's
   * state (a collective: every rank calls it, every rank ends with all of it),
   * so that its stateDict() is the state of an ordinary, unsharded optimizer.
   */
  gatherState(): void {
    const schemas = this.params.map((_, i) => this.wrapped.stateSchema(this.groupOf[i]));
    const numberNames = schemas.map((s) => ['step', ...s.scalars.map((x) => x.name)]);
    // Each rank writes what it owns; -Infinity elsewhere; a max in rank order assembles (and keeps -0 and NaN).
    const offsets: number[] = [];
    let count = 0;
    schemas.forEach((s, i) => {
      offsets.push(count);
      count += numberNames[i].length + s.buffers.length;
    });
    const known = new Float64Array(count).fill(-Infinity);
    const shardState = this.shard?.state ?? [];
    this.pieces.forEach((piece, k) => {
      const s = shardState[k];
      if (Object.keys(s).length === 0) return;
      numberNames[piece.index].forEach((name, j) => (known[offsets[piece.index] + j] = (s[name] as number | undefined) ?? -Infinity));
      schemas[piece.index].buffers.forEach((b, j) => {
        if (s[b.name] !== undefined) known[offsets[piece.index] + numberNames[piece.index].length + j] = 1;
      });
    });
    allReduce([known], { op: 'max', deterministic: true });
    const state: OptimizerStateDict['state'] = {};
    const buffers: Tensor[] = [];
    this.params.forEach((param, i) => {
      const names = numberNames[i];
      if (known[offsets[i]] === -Infinity) return; // never stepped
      const entry: Record<string, StateArray | number> = {};
      names.forEach((name, j) => (entry[name] = known[offsets[i] + j]));
      schemas[i].buffers.forEach((b, j) => {
        if (known[offsets[i] + names.length + j] !== 1) return;
        const dtype = b.dtype === 'param' ? (param instanceof Float32Array ? 'float32' : 'float64') : b.dtype;
        const full = (dtype === 'float32' ? new Float32Array(param.length) : new Float64Array(param.length)).fill(-Infinity);
        entry[b.name] = full;
        buffers.push(full);
      });
      state[i] = entry;
    });
    this.pieces.forEach((piece, k) => {
      for (const [name, value] of Object.entries(shardState[k])) {
        if (typeof value === 'object') (state[piece.index][name] as Tensor).set(value as Tensor, piece.from);
      }
    });
    allReduce(buffers, { op: 'max', deterministic: true });
    this.wrapped.loadStateDict({ state, paramGroups: groupsOf(this.wrapped) });
  }

  /**
   * The wrapped optimizer's state (loaded from a checkpoint on every rank) cut
   * into this rank's shard; the wrapped optimizer's state is then emptied, so
   * that only the shard stays in memory. No communication.
   */
  scatterState(): void {
    const shard = this.shard;
    if (shard !== null) {
      const state: OptimizerStateDict['state'] = {};
      this.pieces.forEach((piece, k) => {
        const full = this.wrapped.state[piece.index];
        if (Object.keys(full).length === 0) return;
        const entry: Record<string, StateArray | number> = {};
        for (const [name, value] of Object.entries(full)) {
          if (value === undefined) continue;
          entry[name] = typeof value === 'number' ? value : value.slice(piece.from, piece.to);
        }
        state[k] = entry;
      });
      let index = 0;
      const groups = shard.paramGroups.map((g, k) => ({ ...hyperOf(this.wrapped.paramGroups[this.shardGroups[k]]), params: g.params.map(() => index++) }));
      shard.loadStateDict({ state, paramGroups: groups });
    }
    this.releaseState();
  }

  /** Empties the wrapped optimizer's state (after gatherState and a checkpoint): only the shard stays in memory. */
  releaseState(): void {
    this.wrapped.loadStateDict({ state: {}, paramGroups: groupsOf(this.wrapped) });
  }
}
