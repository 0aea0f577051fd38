/**
 * ZeRO stage 1 (DeepSpeed's optimizer-state partitioning): each rank keeps
 * and updates the optimizer state of only its shard, 1/size of the params.
 *
 * Each element type's params, laid end to end in param order, form one flat
 * vector; rank r owns shardRange(total, r, size) of it, which may cut through
 * tensors (as DeepSpeed's flat partitions do), except that no cut falls inside
 * a block of 8-bit state (./shard_layout.ts). A step:
 *
 *   1. the wrapped optimizer checks the step (its options, a Schedule-Free group's
 *      mode) on every rank, before anything is sent
 *   2. reduceScatter(grads)                 each rank holds the summed gradient of its shard
 *   3. the global norm, when the step clips or skips: each rank's partial over its
 *      shard, all-gathered and merged in rank order (../norm.ts), so every rank
 *      computes the same bits and makes the same decision
 *   4. the shard's optimizer steps its pieces (views into the params), gradScale
 *      divided by the world size and times the clip coefficient: one fused pass;
 *      the wrapped optimizer's groups advance their own values (below)
 *   5. allGather(params)                     every rank holds every updated param
 *
 * What the state of each param allows comes from the optimizer's
 * state-layout view (Optimizer.stateLayout: ../optim/core/state_layout.ts),
 * the one thing this file knows of how state is stored: state that follows
 * its param element by element is cut anywhere (float32/float64, bfloat16
 * rounded to nearest: a moment's bits do not depend on where its param was
 * cut); 8-bit state only at its blocks' starts (./shard_layout.ts moves a cut
 * inside a block there, so that each absmax has one owner); a param whose
 * state cannot be cut (stochastic rounding, whose random bits come from each
 * element's place in its param; a step that reduces over each whole param)
 * is refused.
 *
 * The shard optimizer is the wrapped optimizer cloned over the pieces
 * (Optimizer.cloneOver), with the wrapped groups' hyper-parameters copied in
 * before every step (schedulers write the wrapped optimizer's). The wrapped optimizer
 * holds no state until gatherState() copies every rank's into it for a
 * checkpoint; scatterState() takes a loaded checkpoint's state back into the shards.
 *
 * The wrapped optimizer keeps its groups' own values (spec.groupState:
 * Schedule-Free's k, lrMax, weightSum, scheduledLr and trainMode), so that
 * its state dict is an unsharded one's. A step has it check itself first
 * (Optimizer.checkStepOfClone), copies the values into the shard's groups
 * with the hyper-parameters, and has it advance them once the shard stepped,
 * as the shard advanced its copies: a rank whose shard lacks a group (or
 * that owns nothing) advances them all the same. Its train() and eval() need
 * the state the shards hold: it hands them to this object (holdStateIn),
 * which runs them over each rank's pieces and all-gathers the params, so
 * that every rank holds the whole x or y. A collective, as the step is: one
 * all-gather of the params per group that switches.
 */
import { finishNorm, gradNormPartial, mergeNormPartials } from '../clip';
import { ErrorCodes, makeError } from '../errors';
import type { AnyOptimizer, OptimizerStateDict, StateHolder, StepOptions, StepResult } from '../optim/core/optimizer';
import type { KernelDef } from '../kernels/kernel_def';
import type { StateBufferLayout, StateLayout } from '../optim/core/state_layout';
import { checkStepOptions, stepScale } from '../optim/core/step_checks';
import { Pipeline, call, runAsync, runSync } from '../pipeline';
import { StateArray, Tensor, engineView } from '../tensor';
import { allocStateSlab } from '../alloc';
import { checkArray, checkLike, checkTensor } from '../validate';
import { allGather, allGatherAsync, allReduce, reduceScatter, reduceScatterAsync } from './collectives';
import { ShardLayout } from './shard_layout';

/** A piece of param `index`: its elements [from, to), owned by this rank, stepped in the shard's group `shardGroup`. */
interface Piece {
  index: number;
  shardGroup: number;
  from: number;
  to: number;
}

/**
 * A group of the shard's optimizer: the pieces of wrapped group `group` whose
 * params need the same options over the group's to be stored as they are
 * (StateLayout.pieceOptions: 8-bit pieces, however short, with min8bitSize 0).
 */
interface ShardGroup {
  group: number;
  pieceOptions: Readonly<Record<string, unknown>>;
}

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

/**
 * Where a piece's part of a state buffer sits in the whole buffer: at the
 * piece's first element, or block (8-bit absmax); a shared buffer (a code
 * map), which every piece of a param holds whole, comes from the param's
 * first piece (else null).
 */
function placeOf(buffer: StateBufferLayout | undefined, piece: Piece): number | null {
  if (buffer?.placement === 'shared') return piece.from === 0 ? 0 : null;
  return buffer?.placement === 'block' ? piece.from / buffer.blockSize! : piece.from;
}

/** A piece's part of a whole state buffer (placeOf's inverse): a shared one whole. */
function partOf(buffer: StateBufferLayout | undefined, value: StateArray, piece: Piece): StateArray {
  if (buffer?.placement === 'shared') return value;
  if (buffer?.placement === 'block') return value.slice(piece.from / buffer.blockSize!, Math.ceil(piece.to / buffer.blockSize!));
  return value.slice(piece.from, piece.to);
}

/** A param's stored buffers by name. */
function buffersOf(layout: StateLayout): Map<string, StateBufferLayout> {
  return new Map(layout.buffers.map((b) => [b.name, b]));
}

/**
 * Refuses param i if its state cannot be cut, or holds what gatherState could
 * not assemble: buffers of bits (bfloat16, 8-bit codes), which it gathers
 * along the float32 params' layout, must follow a float32 param element by element.
 */
function checkShardable(layout: StateLayout, i: number, param: Tensor): void {
  const bits = layout.buffers.find((b) => b.dtype !== 'float32' && b.dtype !== 'float64' && (b.placement !== 'element' || !(param instanceof Float32Array)));
  if (layout.whyUncut === null && bits === undefined) return;
  throw makeError(
    ErrorCodes.INVALID_ARG_VALUE,
    `${NAME}: options.shardState: params[${i}] cannot be cut into shards: ` +
      `${layout.whyUncut ?? `its state buffer ${bits!.name} (${bits!.dtype}) is not one element per element of a float32 param`}; ` +
      'use shardState: false (every rank keeps the whole state)',
  );
}

export class ShardedStep implements StateHolder {
  private readonly params: Tensor[];
  private readonly groupOf: number[];
  private readonly layout: ShardLayout;
  /** The scratch that pads each rank's range in the collectives' lists, where a cut moved (ShardLayout). */
  private readonly pads: Float32Array[];
  private readonly pieces: Piece[];
  /** The shard's optimizer, or null when this rank owns nothing (more ranks than elements). */
  readonly shard: AnyOptimizer | null;
  /** shard.paramGroups[k] holds the pieces of shardGroups[k]. */
  private readonly shardGroups: ShardGroup[];
  /** The live state is the shards' (a step ran, or scatterState took a loaded one in), not the wrapped optimizer's. */
  private stateInShards = false;

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
    const layouts = this.params.map((param, i) => {
      const layout = wrapped.stateLayout(i);
      checkShardable(layout, i, param);
      return layout;
    });
    this.layout = new ShardLayout(this.params, layouts.map((l) => l.cutUnit!), size);
    this.pads = this.layout.padLengths().map((n) => new Float32Array(n));
    const ranges = this.layout.rangesOf(rank);
    // A shard group per wrapped group and piece options, in group order (each named by its first param).
    const keyOf = (i: number) => JSON.stringify([this.groupOf[i], layouts[i].pieceOptions]);
    const firsts = new Map<string, number>();
    for (const { index } of ranges) if (!firsts.has(keyOf(index))) firsts.set(keyOf(index), index);
    const keys = [...firsts.keys()].sort((a, b) => this.groupOf[firsts.get(a)!] - this.groupOf[firsts.get(b)!]);
    this.shardGroups = keys.map((key) => ({ group: this.groupOf[firsts.get(key)!], pieceOptions: layouts[firsts.get(key)!].pieceOptions }));
    // In the shard's param order: by shard group, then by param.
    this.pieces = ranges
      .map((r) => ({ index: r.index, shardGroup: keys.indexOf(keyOf(r.index)), from: r.from, to: r.to }))
      .sort((a, b) => a.shardGroup - b.shardGroup || a.index - b.index);
    this.shard =
      this.pieces.length === 0
        ? null
        : wrapped.cloneOver(
            this.shardGroups.map(({ group, pieceOptions }, k) => ({
              like: group,
              options: pieceOptions,
              params: this.pieces.filter((p) => p.shardGroup === k).map((p) => this.params[p.index].subarray(p.from, p.to)),
            })),
          );
    wrapped.holdStateIn(this);
  }

  /**
   * The shard's group k: its wrapped group's hyper-parameters and values, the
   * piece options over them. (They override storage options, which are fixed:
   * a change of the wrapped group's is refused by its checkStepOfClone, and a
   * load keeps the live ones.)
   */
  private hyperOf(k: number): Record<string, unknown> {
    const { group, pieceOptions } = this.shardGroups[k];
    return { ...hyperOf(this.wrapped.paramGroups[group]), ...pieceOptions };
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
    const advanceWrappedGroups = this.wrapped.checkStepOfClone();
    this.copyHyper();
    const laid = this.layout.laidOut(list, this.pads);
    yield* call({ sync: () => reduceScatter(laid, { deterministic: this.deterministic }), async: () => reduceScatterAsync(laid, { deterministic: this.deterministic }) });
    const pieces = this.pieces.map((p) => list[p.index].subarray(p.from, p.to));
    // The reduce-scatter summed the ranks' gradients: the mean is their sum over the ranks.
    const meanScale = opts.gradScale / this.size;
    let norm: number | undefined;
    if (opts.norm !== null) {
      // The norm of the summed gradient: each rank's partial over its shard, merged in rank order on every rank.
      const p = opts.norm.p;
      const partials = new Float64Array(this.size);
      partials[this.rank] = pieces.length === 0 ? 0 : gradNormPartial(pieces, p, { backend: this.wrapped.backend }).value;
      yield* call({ sync: () => allGather([partials]), async: () => allGatherAsync([partials]) });
      norm = finishNorm(mergeNormPartials(Array.from(partials, (value) => ({ normType: p, value }))));
    }
    const { gradNorm, scale } = stepScale(opts, norm, `${NAME}: step`, meanScale);
    if (scale === null) return { gradNorm, skipped: true };
    const shard = this.shard;
    if (shard !== null) {
      yield* call({ sync: () => shard.step(pieces, { gradScale: scale }), async: () => shard.stepAsync(pieces, { gradScale: scale }) });
    }
    advanceWrappedGroups();
    this.stateInShards = true;
    const params = this.laidOutParams();
    yield* call({ sync: () => allGather(params), async: () => allGatherAsync(params) });
    return { gradNorm, skipped: false };
  }

  /** The params as the collectives take them: all-gathered, every rank's pieces reach every rank's params. */
  private laidOutParams(): Tensor[] {
    return this.layout.laidOut(this.params, this.pads);
  }

  /**
   * The wrapped optimizer's updateParamsWithState (Schedule-Free's train() and
   * eval()), which it hands here (holdStateIn): `kernel` over this rank's
   * pieces of group `gi` with their state, then the params all-gathered. A
   * collective: every rank's train() or eval() makes the same calls.
   */
  updateParamsWithState(gi: number, kernel: KernelDef, buffers: readonly string[], scalars: Float64Array): void {
    if (!this.stateInShards && this.wrapped.state.some((s) => Object.keys(s).length > 0)) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `${NAME}: ${this.wrapped.kind}: train/eval: the wrapped optimizer holds state (a loaded checkpoint) that its shards do not; ` +
          'call scatterState() on every rank first',
      );
    }
    this.shardGroups.forEach(({ group }, k) => {
      if (group === gi) this.shard!.updateParamsWithState(k, kernel, buffers, scalars);
    });
    allGather(this.laidOutParams());
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

  /** The wrapped groups' hyper-parameters (what schedulers and users change) and values into the shard's groups. */
  private copyHyper(): void {
    this.shard?.paramGroups.forEach((group, k) => Object.assign(group, this.hyperOf(k)));
  }

  /**
   * Every rank's shard of the state, assembled into the wrapped optimizer's
   * state (a collective: every rank calls it, every rank ends with all of it),
   * so that its stateDict() is the state of an ordinary, unsharded optimizer.
   * Float buffers (moments, 8-bit absmax, code maps) are assembled by a max;
   * bfloat16 and 8-bit codes, bits a max would not keep, by an all-gather of
   * each moment over the float32 params, laid out as their shards are.
   */
  gatherState(): void {
    const layouts = this.params.map((_, i) => this.wrapped.stateLayout(i));
    const numberNames = layouts.map((l) => l.numbers);
    // Each rank writes what it owns; -Infinity elsewhere; a max in rank order assembles (and keeps -0 and NaN).
    const offsets: number[] = [];
    let count = 0;
    layouts.forEach((l, i) => {
      offsets.push(count);
      count += numberNames[i].length + l.buffers.length;
    });
    const known = new Float64Array(count).fill(-Infinity);
    const shardState = this.shard?.state ?? [];
    this.pieces.forEach((piece, k) => {
      const s = shardState[k];
      if (Object.keys(s).length === 0) return;
      numberNames[piece.index].forEach((name, j) => (known[offsets[piece.index] + j] = (s[name] as number | undefined) ?? -Infinity));
      layouts[piece.index].buffers.forEach((b, j) => {
        if (s[b.name] !== undefined) known[offsets[piece.index] + numberNames[piece.index].length + j] = 1;
      });
    });
    allReduce([known], { op: 'max', deterministic: true });
    const state: OptimizerStateDict['state'] = {};
    const floats: Tensor[] = [];
    /** moment name → param index → its bits (bfloat16 or 8-bit codes). */
    const bits = new Map<string, Map<number, Uint8Array | Uint16Array>>();
    this.params.forEach((_, i) => {
      const names = numberNames[i];
      if (known[offsets[i]] === -Infinity) return; // never stepped
      const entry: Record<string, StateArray | number> = {};
      names.forEach((name, j) => (entry[name] = known[offsets[i] + j]));
      layouts[i].buffers.forEach((b, j) => {
        if (known[offsets[i] + names.length + j] !== 1) return;
        const whole = allocStateSlab([{ dtype: b.dtype, length: b.length }])[0];
        entry[b.name] = whole;
        if (whole instanceof Float32Array || whole instanceof Float64Array) {
          floats.push(whole.fill(-Infinity));
        } else {
          if (!bits.has(b.name)) bits.set(b.name, new Map());
          bits.get(b.name)!.set(i, whole);
        }
      });
      state[i] = entry;
    });
    this.pieces.forEach((piece, k) => {
      const buffers = buffersOf(layouts[piece.index]);
      for (const [name, value] of Object.entries(shardState[k])) {
        if (typeof value !== 'object') continue;
        const at = placeOf(buffers.get(name), piece);
        // The whole buffer has the piece's element type.
        if (at !== null) (state[piece.index][name] as Tensor).set(value as Tensor, at);
      }
    });
    allReduce(floats, { op: 'max', deterministic: true });
    for (const name of [...bits.keys()].sort()) {
      const held = bits.get(name)!;
      const type = [...held.values()][0] instanceof Uint8Array ? Uint8Array : Uint16Array;
      // A float32 param without this moment as these bits holds its place in the flat vector (scratch).
      const arrays = this.params.map((p, i) => held.get(i) ?? new type(p instanceof Float32Array ? p.length : 0));
      allGather(this.layout.laidOutFloat32(arrays, this.layout.padLengths().map((n) => new type(n))));
    }
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
        const buffers = buffersOf(this.wrapped.stateLayout(piece.index));
        const entry: Record<string, StateArray | number> = {};
        for (const [name, value] of Object.entries(full)) {
          if (value === undefined) continue;
          entry[name] = typeof value === 'number' ? value : partOf(buffers.get(name), value, piece);
        }
        state[k] = entry;
      });
      let index = 0;
      const groups = shard.paramGroups.map((g, k) => ({ ...this.hyperOf(k), params: g.params.map(() => index++) }));
      shard.loadStateDict({ state, paramGroups: groups });
    }
    this.stateInShards = true;
    this.releaseState();
  }

  /** Empties the wrapped optimizer's state (after gatherState and a checkpoint): only the shard stays in memory. */
  releaseState(): void {
    this.wrapped.loadStateDict({ state: {}, paramGroups: groupsOf(this.wrapped) });
  }
}
