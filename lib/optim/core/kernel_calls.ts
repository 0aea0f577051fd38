/**
 * Building a step's kernel calls, once per group: create the state a param
 * lacks (as the schema declares it), advance its step count and per-param
 * numbers, lay out its buffers in the kernel's slot order, and compute the
 * kernel's scalars. Params of a group that share their step count and numbers
 * (the usual case) make one call; the others (a param skipped with a null
 * gradient earlier) a call per distinct count. With 8-bit state, a group's
 * small params (full-precision state) and large ones (8-bit) are two parts,
 * each with its own kernel (state_storage.ts).
 */
import { KernelDef, ScalarWriter, scalarWriter } from '../../kernels/kernel_def';
import type { StateArray, Tensor } from '../../tensor';
import type { ParamTable } from './param_table';
import type { GroupState, KernelChoice, OptimizerSpec, ParamState, StateSchema } from './spec';
import { Storage, roundingKey, storageOf, storedChoice, storedSchema } from '../../compact/state_storage';

/** The params of a group whose state is stored one way, with the kernel and schema for that storage. */
export interface GroupPart {
  storage: Storage;
  /** The optimizer's own kernel choice for these params (before their storage). */
  kernel: KernelChoice<string>;
  indices: number[];
  choice: KernelChoice<string>;
  schema: StateSchema;
}

/**
 * A group's params (`indices`) split by how their state is stored and by the
 * kernel their shape takes: one part, or two with 8-bit state (small params
 * keep full state) or with Adafactor (matrices and vectors).
 */
export function groupParts<O>(spec: OptimizerSpec<O>, table: ParamTable, hyper: O, indices: readonly number[]): GroupPart[] {
  const parts: GroupPart[] = [];
  for (const i of indices) {
    const shape = table.shapes[i];
    const choice = spec.kernel(hyper, shape);
    const storage = storageOf(hyper as object, table.params[i].length);
    let part = parts.find((p) => p.storage === storage && p.kernel === choice);
    if (part === undefined) {
      part = { storage, kernel: choice, indices: [], choice: storedChoice(choice, storage), schema: storedSchema(spec.state(hyper, shape), storage) };
      parts.push(part);
    }
    part.indices.push(i);
  }
  return parts;
}

/** One kernel call of a step. */
export interface KernelCall {
  kernel: KernelDef;
  /** Per param: param, grad, state buffers in slot order. */
  tensors: StateArray[];
  scalars: Float64Array;
  /** The group it steps (an index into the step's groups) and the part of it (all of the part's params, if `whole`). */
  gi: number;
  part: GroupPart;
  /**
   * Whether this call steps every param of its part, all of which share their step count and
   * per-param numbers after it: such calls are what the step cache repeats (step_cache.ts).
   */
  whole: boolean;
}

export class KernelCallBuilder<O> {
  /**
   * Per part (the optimizer's kernel choice, then group and storage: what groupParts tells parts
   * apart by), the flat buffer list and scalars of its last uniform call, refilled in place by the
   * next. Keyed by the choice itself, not its kernel's name: two parts of a group may run one kernel
   * over different buffers, and each needs its own list.
   */
  private readonly uniform = new Map<KernelChoice<string>, Map<string, { tensors: StateArray[]; scalars: ScalarWriter<string> }>>();
  /** The context handed to spec.scalars, refilled for every call (a step allocates nothing). */
  private readonly context = {
    step: 0,
    fresh: false,
    gradScale: 1,
    state: {} as Readonly<Record<string, number>>,
    before: {} as Readonly<Record<string, number>>,
    group: {} as Readonly<GroupState>,
  };
  /** The uniform call's per-param numbers before the step's advance, refilled in place (advanceShared). */
  private readonly before: Record<string, number> = {};

  constructor(
    private readonly spec: OptimizerSpec<O>,
    private readonly table: ParamTable,
    /** The optimizer's groups, whose groupState values the scalars may read (spec.ts). */
    private readonly groups: readonly object[],
  ) {}

  /** The calls of group `gi` over its params with gradients (`indices`); the first mutation of a step. */
  commit(gi: number, hyper: O, indices: readonly number[], grads: ReadonlyArray<Tensor | null>, gradScale: number): KernelCall[] {
    return groupParts(this.spec, this.table, hyper, indices).flatMap((part) => this.commitPart(gi, hyper, part, grads, gradScale));
  }

  private commitPart(gi: number, hyper: O, part: GroupPart, grads: ReadonlyArray<Tensor | null>, gradScale: number): KernelCall[] {
    const { storage, indices, choice, schema } = part;
    if (sharedState(this.table.state, indices, choice.buffers, schema) !== null) {
      let byPart = this.uniform.get(part.kernel);
      if (byPart === undefined) this.uniform.set(part.kernel, (byPart = new Map()));
      const key = `${gi}:${storage}`;
      let cache = byPart.get(key);
      if (!cache || cache.scalars.array.length !== choice.kernel.scalars.length) {
        byPart.set(key, (cache = { tensors: [], scalars: scalarWriter(choice.kernel) }));
      }
      const tensors = cache.tensors;
      tensors.length = 0;
      for (const i of indices) pushTensors(tensors, this.table, i, grads[i]!, choice.buffers);
      this.advanceShared(gi, hyper, part, gradScale, cache.scalars, this.before);
      return [{ kernel: choice.kernel, tensors, scalars: cache.scalars.array, gi, part, whole: true }];
    }
    const batches = new Map<string, { first: number; fresh: boolean; before: Record<string, number>; tensors: StateArray[] }>();
    const created = this.table.ensureState(indices, schema, choice.buffers);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      const fresh = created[k];
      const state = this.table.state[i];
      const before = numbersOf(state, schema);
      advance(this.spec, hyper, state);
      const key = `${fresh}:${numbersKey(before, schema)}:${numbersKey(state, schema)}`;
      let batch = batches.get(key);
      if (!batch) batches.set(key, (batch = { first: i, fresh, before, tensors: [] }));
      pushTensors(batch.tensors, this.table, i, grads[i]!, choice.buffers);
    }
    // One batch: every param of the part left this step with the same numbers (the first step's usual case).
    const whole = batches.size === 1;
    return [...batches.values()].map((batch) => ({
      kernel: choice.kernel,
      tensors: batch.tensors,
      scalars: this.fillScalars(gi, hyper, this.table.state[batch.first].step!, this.table.state[batch.first], batch.before, batch.fresh, gradScale, scalarWriter(choice.kernel)),
      gi,
      part,
      whole,
    }));
  }

  /**
   * The step of a part whose params share their step count and per-param
   * numbers (checked by the caller): advances each, and writes the kernel's
   * scalars for the step into `out`. `before` receives the numbers as they
   * were, for undoShared. The one place a uniform step advances its params,
   * for the full step and the cached one alike.
   */
  advanceShared(gi: number, hyper: O, { indices, schema }: GroupPart, gradScale: number, out: ScalarWriter<string>, before: Record<string, number>): void {
    const states = this.table.state;
    const first = states[indices[0]];
    for (const scalar of schema.scalars) before[scalar.name] = first[scalar.name] as number;
    for (const i of indices) advance(this.spec, hyper, states[i]);
    this.fillScalars(gi, hyper, first.step!, first, before, false, gradScale, out);
  }

  /** Takes back advanceShared (the kernels it prepared were refused before any ran): every param's numbers as they were. */
  undoShared({ indices, schema }: GroupPart, before: Readonly<Record<string, number>>): void {
    for (const i of indices) {
      const state = this.table.state[i];
      state.step! -= 1;
      for (const scalar of schema.scalars) state[scalar.name] = before[scalar.name];
    }
  }

  /**
   * Empties the lists the last calls filled, which hold that step's gradients: called once the
   * calls ran (or failed), so no gradient is kept alive beyond its step. The lists keep their
   * capacity, so the next step still allocates nothing.
   */
  releaseGradients(): void {
    for (const byPart of this.uniform.values()) for (const cache of byPart.values()) cache.tensors.length = 0;
  }

  /**
   * Writes the kernel's scalars for params of group `gi` at step `step` whose
   * per-param numbers are those of `state` after this step's advance and of
   * `before` before it; returns the array.
   */
  fillScalars(gi: number, hyper: O, step: number, state: ParamState, before: ParamState, fresh: boolean, gradScale: number, out: ScalarWriter<string>): Float64Array {
    const context = this.context;
    context.step = step;
    context.fresh = fresh;
    context.gradScale = gradScale;
    context.state = state as Readonly<Record<string, number>>;
    context.before = before as Readonly<Record<string, number>>;
    context.group = this.groups[gi] as Readonly<GroupState>;
    out.reset();
    this.spec.scalars(hyper, context, out);
    // A stochastically rounding driver's own scalar (state_storage.ts).
    if ('roundingSeed' in out) out.roundingSeed = roundingKey((hyper as { roundingSeed: number }).roundingSeed, step);
    return out.array;
  }
}

/** Advances a param's step count, then its per-param numbers. */
function advance<O>(spec: OptimizerSpec<O>, hyper: O, state: ParamState): void {
  const step = (state.step ?? 0) + 1;
  state.step = step;
  spec.advance?.(hyper, step, state);
}

/** param, grad and the state buffers of param i, appended in slot order. */
function pushTensors(out: StateArray[], table: ParamTable, i: number, grad: Tensor, buffers: readonly string[]): void {
  const state = table.state[i];
  out.push(table.params[i], grad);
  for (const b of buffers) out.push(state[b] as StateArray);
}

/**
 * The step count every param of `indices` shares, if all of them already have
 * the kernel's buffers and the same per-param numbers; else null.
 */
function sharedState(state: readonly ParamState[], indices: readonly number[], buffers: readonly string[], schema: StateSchema): number | null {
  const first = state[indices[0]];
  const step = first.step;
  if (step === undefined) return null;
  for (const i of indices) {
    const s = state[i];
    if (s.step !== step) return null;
    for (const b of buffers) if (s[b] === undefined) return null;
    for (const scalar of schema.scalars) if (!Object.is(s[scalar.name], first[scalar.name])) return null;
  }
  return step;
}

/** A copy of the per-param numbers of `state` (the schema's, and the step count). */
function numbersOf(state: ParamState, schema: StateSchema): Record<string, number> {
  const out: Record<string, number> = { step: state.step ?? 0 };
  for (const scalar of schema.scalars) out[scalar.name] = state[scalar.name] as number;
  return out;
}

function numbersKey(state: ParamState, schema: StateSchema): string {
  let key = String(state.step);
  for (const scalar of schema.scalars) key += `:${state[scalar.name] as number}`;
  return key;
}
