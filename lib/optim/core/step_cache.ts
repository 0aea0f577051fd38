/**
 * The fast path of a synchronous step given the same gradient tensors as the
 * last one (the usual training loop): the last step's kernel calls are kept,
 * each with a backend plan (native/boundary/plan.cc: the buffers resolved once), and
 * only what can change between two steps is checked again.
 *
 * What `holds` checks, and why that is every check of a full step: the
 * gradients are the very tensors the full step accepted (type, dtype and
 * aliasing with params and state cannot change for the same objects), every
 * state buffer is the one recorded and every param of a call shares its step
 * count and per-param numbers, every buffer still has its recorded length (a
 * detached view has length 0; a view of a resized buffer changes length:
 * checked once per ArrayBuffer, see `memory`), and
 * each group's hyper-parameters are re-validated (throwing just as a full step
 * would, before anything changes). Nothing but the step's own norm reduction
 * runs between these checks and the synchronous kernel calls, and the backend
 * checks each ArrayBuffer's byte length itself again.
 *
 * The cache holds the gradients only weakly (and so do the backend's plans):
 * a step's gradient arrays are never kept alive beyond the call that used
 * them. A training loop that passes new arrays each step frees the old ones;
 * one that passes the same arrays keeps them alive itself.
 */
import type { Backend, UpdatePlan } from '../../backend';
import { ScalarWriter, scalarWriter } from '../../kernels/kernel_def';
import { NormType, finishValue, mergeValues } from '../../norm';
import { StateArray, Tensor, bufferOf, byteLengthReader } from '../../tensor';
import { KernelCallBuilder, advance, groupParts, pushTensors, sharedState } from './kernel_calls';
import type { ParamTable } from './param_table';
import type { KernelChoice, OptimizerSpec, StateSchema } from './spec';
import { fixedKey } from './param_groups';
import { Storage, storedChoice } from '../../compact/state_storage';

/** Where every optimizer kernel takes the gradient: param, grad, state... */
const GRAD_SLOT = 1;

interface CachedCall<O> {
  gi: number;
  /** The group's hyper-parameters as the step that uses the cache validated them. */
  hyper: O;
  /** How the call's params store their state, and the group's storage options then (state_storage.ts). */
  storage: Storage;
  fixedKey: string;
  choice: KernelChoice<string>;
  schema: StateSchema;
  /** Global indices of the params in the call, in order. */
  indices: number[];
  /** The call's flat buffer list: param, grad, state... per param, with null for each grad (held only by the caller). */
  tensors: (StateArray | null)[];
  scalars: ScalarWriter<string>;
  /** The backend's plan over `tensors`, made when a second step reuses them. */
  plan: UpdatePlan | null;
}

export class StepCache<O> {
  private grads: Array<WeakRef<Tensor> | null> = [];
  private calls: CachedCall<O>[] | null = null;
  /**
   * Every distinct ArrayBuffer the calls view, and its byte length then: a
   * detached or resized one changes it, and an unchanged one means every view
   * of it kept its length (a model's flat params, a group's state slab: a few
   * checks, not one per tensor).
   */
  private memory: Array<{ buffer: WeakRef<ArrayBufferLike>; byteLength: number; read: (this: ArrayBufferLike) => number }> = [];

  constructor(
    private readonly spec: OptimizerSpec<O>,
    private readonly table: ParamTable,
    private readonly builder: KernelCallBuilder<O>,
  ) {}

  /** Forgets the calls (anything that replaces state or params calls this). */
  clear(): void {
    this.calls = null;
  }

  /**
   * Keeps the calls of the full step just run, for the next one with the same
   * gradients; keeps nothing if a group's params do not share their state.
   */
  record(active: readonly number[][], hyper: readonly O[], grads: ReadonlyArray<Tensor | null>): void {
    const calls: CachedCall<O>[] = [];
    const memory: StepCache<O>['memory'] = [];
    for (let gi = 0; gi < active.length; gi++) {
      if (active[gi].length === 0) continue;
      for (const { storage, indices, choice, schema } of groupParts(this.spec, this.table, hyper[gi], active[gi])) {
        if (sharedState(this.table.state, indices, choice.buffers, schema) === null) {
          this.calls = null;
          return;
        }
        const tensors: StateArray[] = [];
        for (const i of indices) pushTensors(tensors, this.table, i, grads[i]!, choice.buffers);
        const seen = new Set<ArrayBufferLike>();
        for (const t of tensors) {
          const buffer = bufferOf(t);
          if (seen.has(buffer)) continue;
          seen.add(buffer);
          // Read by the engine's getter (byteLengthReader): an own `byteLength` property on the
          // ArrayBuffer could keep claiming the old size of a buffer resized or detached since.
          const read = byteLengthReader(buffer);
          memory.push({ buffer: new WeakRef(buffer), byteLength: read.call(buffer), read });
        }
        for (let k = GRAD_SLOT; k < tensors.length; k += 2 + choice.buffers.length) (tensors as (StateArray | null)[])[k] = null;
        const scalars = scalarWriter(choice.kernel);
        calls.push({ gi, hyper: hyper[gi], storage, fixedKey: fixedKey(this.spec, hyper[gi]), choice, schema, indices, tensors, scalars, plan: null });
      }
    }
    this.grads = grads.map((g) => (g === null ? null : new WeakRef(g)));
    this.calls = calls;
    this.memory = memory;
  }

  /** Whether a step given `grads` can run the cached calls (see the header); false, having changed nothing, if not. */
  holds(grads: unknown, hyperOf: (gi: number) => O, groupCount: number): boolean {
    const calls = this.calls;
    if (calls === null || !Array.isArray(grads) || grads.length !== this.grads.length) return false;
    for (let i = 0; i < grads.length; i++) if (grads[i] !== (this.grads[i]?.deref() ?? null)) return false;
    for (const { buffer, byteLength, read } of this.memory) {
      const live = buffer.deref();
      if (live === undefined || read.call(live) !== byteLength) return false;
    }
    let c = 0;
    for (let gi = 0; gi < groupCount; gi++) {
      const hyper = hyperOf(gi);
      for (; c < calls.length && calls[c].gi === gi; c++) {
        const call = calls[c];
        // Fixed options that changed: the full step refuses them. (The same validated object as
        // last step means no value changed: ValidatedHyper hands it back; nothing to compare.)
        if (hyper !== call.hyper && call.fixedKey !== '' && fixedKey(this.spec, hyper) !== call.fixedKey) return false;
        const choice = storedChoice(this.spec.kernel(hyper, this.table.shapes[call.indices[0]]), call.storage);
        if (choice.kernel !== call.choice.kernel || !sameNames(choice.buffers, call.choice.buffers)) return false;
        if (!this.callHolds(call)) return false;
        call.hyper = hyper;
      }
    }
    return true;
  }

  /**
   * The global norm of the cached calls' gradients (after holds), read
   * through their plans: per element type, each plan's reduction continues
   * the last one's total, so the bits are those of one reduction over all the
   * gradients (normOf), without resolving them again.
   */
  norm(backend: Backend, grads: ReadonlyArray<Tensor | null>, type: NormType, threads: number): number {
    const calls = this.planned(backend, grads);
    let total = 0;
    for (const double of [false, true]) {
      let part: number | null = null;
      for (const call of calls) {
        if (call.tensors[0] instanceof Float64Array !== double) continue; // a param
        part = backend.reducePlanned(call.plan!, GRAD_SLOT, type.kind, type.p, threads, part ?? 0);
      }
      if (part !== null) total = mergeValues(type.kind, total, part);
    }
    return finishValue(type, total);
  }

  /** Runs the cached calls (after holds) with the gradient scale `gradScale`, then advances the params' state. */
  run(backend: Backend, grads: ReadonlyArray<Tensor | null>, gradScale: number, threads: number): void {
    const calls = this.planned(backend, grads);
    for (const call of calls) {
      const first = this.table.state[call.indices[0]];
      // The scalars see the state as this step leaves it: with per-param numbers
      // that advance, a copy of the first param's, advanced.
      let next = first;
      if (this.spec.advance !== undefined) advance(this.spec, call.hyper, (next = { ...first }));
      this.builder.fillScalars(call.hyper, first.step! + 1, next, first, false, gradScale, call.scalars);
    }
    for (const call of calls) backend.updatePlanned(call.plan!, call.scalars.array, threads);
    for (const call of calls) for (const i of call.indices) advance(this.spec, call.hyper, this.table.state[i]);
  }

  /**
   * The cached calls, each with its backend plan, made on the first step that reuses them from
   * its gradients `grads` (those holds() accepted); the plan holds them weakly.
   */
  private planned(backend: Backend, grads: ReadonlyArray<Tensor | null>): CachedCall<O>[] {
    const calls = this.calls!;
    for (const call of calls) {
      if (call.plan !== null) continue;
      const width = 2 + call.choice.buffers.length;
      const tensors = call.tensors.map((t, k) => t ?? grads[call.indices[(k - GRAD_SLOT) / width]]!);
      call.plan = backend.createPlan(call.choice.kernel, tensors);
    }
    return calls;
  }

  /**
   * Every param of the call shares the first one's step count and per-param
   * numbers and every state buffer is the recorded one: one pass (this runs
   * per param per step; the buffers' lengths were checked per ArrayBuffer).
   */
  private callHolds(call: CachedCall<O>): boolean {
    const { indices, tensors } = call;
    const buffers = call.choice.buffers;
    const numbers = call.schema.scalars;
    const states = this.table.state;
    const first = states[indices[0]];
    const step = first.step;
    if (step === undefined) return false;
    const width = 2 + buffers.length;
    for (let t = 0, k = 0; t < indices.length; t++, k += width) {
      const state = states[indices[t]];
      if (state.step !== step) return false;
      for (let n = 0; n < numbers.length; n++) if (!Object.is(state[numbers[n].name], first[numbers[n].name])) return false;
      for (let b = 0; b < buffers.length; b++) if (state[buffers[b]] !== tensors[k + 2 + b]) return false;
    }
    return true;
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
