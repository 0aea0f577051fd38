/**
 * Every param of an optimizer in global order, its state, and the indexes a
 * step needs to refuse a gradient that aliases a param or a state buffer.
 */
import { ErrorCodes, makeError } from '../../errors';
import { StateArray, Tensor, bufferOf, dtypeOf, lengthOf } from '../../tensor';
import { allocStateSlab } from '../../alloc';
import { checkStateArray, checkTensor, overlaps } from '../../validate';
import { ParamShape, ParamState, StateBufferSpec, StateSchema, bufferLength } from './spec';

export class ParamTable {
  /** Every param in global order. */
  readonly params: Tensor[] = [];
  /** state[i]: the state of params[i]; {} until its first step. */
  readonly state: ParamState[] = [];
  /** shapes[i]: the shape of params[i] its group gives (OptimizerSpec.shapeOf), or null. */
  readonly shapes: Array<ParamShape | null> = [];
  /** Param indices by ArrayBuffer: the alias check of a step looks up only the params that share a gradient's buffer. */
  private readonly paramsByBuffer = new Map<ArrayBufferLike, number[]>();
  /**
   * Every state buffer by its ArrayBuffer (a group's state shares one: see
   * ensureState), so a step can refuse a gradient that is one: the kernels
   * would read it while writing it, on another thread if it belongs to
   * another param.
   */
  private readonly stateByBuffer = new Map<ArrayBufferLike, Array<{ index: number; key: string; array: StateArray }>>();

  constructor(private readonly owner: string) {}

  add(param: Tensor, shape: ParamShape | null = null): void {
    const indices = this.paramsByBuffer.get(bufferOf(param));
    if (indices) indices.push(this.params.length);
    else this.paramsByBuffer.set(bufferOf(param), [this.params.length]);
    this.params.push(param);
    this.state.push({});
    this.shapes.push(shape);
  }

  /** Replaces every param's state (loadStateDict, after its checks). */
  replaceState(state: readonly ParamState[]): void {
    this.stateByBuffer.clear();
    state.forEach((entry, i) => {
      this.state[i] = entry;
      for (const [key, value] of Object.entries(entry)) if (typeof value === 'object') this.registerState(i, key, value);
    });
  }

  /**
   * Creates the buffers of `names` that the params of `indices` lack, as
   * `schema` declares them, all in one ArrayBuffer (allocStateSlab), and
   * each param's per-param numbers on its first step. Returns, per param,
   * whether it got a new buffer.
   */
  ensureState(indices: readonly number[], schema: StateSchema, names: readonly string[]): boolean[] {
    const missing: Array<{ i: number; spec: StateBufferSpec }> = [];
    const fresh = indices.map((i) => {
      const state = this.state[i];
      let created = false;
      for (const name of names) {
        if (state[name] !== undefined) continue;
        missing.push({ i, spec: schema.buffers.find((b) => b.name === name)! });
        created = true;
      }
      if (state.step === undefined) for (const scalar of schema.scalars) state[scalar.name] = scalar.initial;
      return created;
    });
    if (missing.length === 0) return fresh;
    const owned = missing.filter(({ spec }) => spec.shared === undefined);
    const arrays = allocStateSlab(
      owned.map(({ i, spec }) => ({ dtype: spec.dtype === 'param' ? dtypeOf(this.params[i]) : spec.dtype, length: bufferLength(spec, lengthOf(this.params[i]), this.shapes[i]) })),
    );
    let next = 0;
    missing.forEach(({ i, spec }) => {
      const array = spec.shared ?? arrays[next++];
      if (spec.fromParam === true) array.set(this.params[i]);
      else if (spec.initial !== undefined && spec.initial !== 0) array.fill(spec.initial);
      this.state[i][spec.name] = array;
      this.registerState(i, spec.name, array);
    });
    return fresh;
  }

  /**
   * A param or state buffer whose ArrayBuffer was transferred (postMessage to a
   * worker) is detached: say so, before anything changes, rather than report a
   * length mismatch or fail in the kernel after the step counts have advanced.
   */
  checkAttached(i: number): void {
    // A detached view has length 0: only a zero length needs the full check.
    const state = this.state[i];
    let suspect = lengthOf(this.params[i]) === 0;
    for (const key in state) {
      const value = state[key];
      if (typeof value === 'object' && lengthOf(value) === 0) suspect = true;
    }
    if (!suspect) return;
    checkTensor(`${this.owner}: step: params[${i}]`, this.params[i]);
    for (const [key, value] of Object.entries(state)) {
      if (typeof value === 'object') checkStateArray(`${this.owner}: step: state[${i}].${key}`, value);
    }
  }

  /** A gradient must not share memory with any param (the same buffer passed as both, say) nor with any state buffer. */
  checkGradsDoNotAlias(grads: ReadonlyArray<Tensor | null>): void {
    for (let i = 0; i < grads.length; i++) {
      const g = grads[i];
      if (g === null) continue;
      for (const j of this.paramsByBuffer.get(bufferOf(g)) ?? []) {
        if (overlaps(this.params[j], g)) {
          throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${this.owner}: step: grads[${i}]: shares memory with params[${j}]; a gradient needs its own buffer`);
        }
      }
      const owner = this.stateByBuffer.get(bufferOf(g))?.find((entry) => overlaps(entry.array, g));
      if (owner) {
        throw makeError(
          ErrorCodes.INVALID_ARG_VALUE,
          `${this.owner}: step: grads[${i}]: shares memory with state[${owner.index}].${owner.key}; a gradient needs its own buffer`,
        );
      }
    }
  }

  private registerState(index: number, key: string, array: StateArray): void {
    const entries = this.stateByBuffer.get(bufferOf(array));
    if (entries) entries.push({ index, key, array });
    else this.stateByBuffer.set(bufferOf(array), [{ index, key, array }]);
  }
}
