/**
 * The fast path of a synchronous step given the same gradient tensors as the
 * last one (the usual training loop): the last full step's kernel calls are
 * kept as that step built them (kernel_calls.ts), with one backend plan each
 * (native/boundary/plan.cc: the buffers resolved and checked once), and only what can
 * change between two steps is checked again. docs/architecture.md ("The step
 * pipeline") tells the whole story.
 *
 * What `holds` checks, and why that is every check of a full step: the
 * gradients are the very tensors the full step accepted (type, dtype and
 * aliasing with params and state cannot change for the same objects), every
 * state buffer is the one recorded and every param of a call shares its step
 * count and per-param numbers; each group's hyper-parameters were re-validated
 * by the caller (throwing just as a full step would, before anything changes).
 * What can change under the same typed arrays is their memory: an ArrayBuffer
 * detached, or a resizable one resized. That is checked in one place, by the
 * backend, once per distinct ArrayBuffer of all the step's plans, before any
 * kernel runs; a refusal there changes nothing here (see `run`), and the
 * caller takes the full step, which refuses with its own messages.
 *
 * The cache holds the gradients only weakly (and so do the backend's plans):
 * a step's gradient arrays are never kept alive beyond the call that used
 * them. A training loop that passes new arrays each step frees the old ones;
 * one that passes the same arrays keeps them alive itself.
 */
import type { Backend, UpdatePlan } from '../../backend';
import { ScalarWriter, scalarWriter } from '../../kernels/kernel_def';
import { NormType, finishValue, mergeValues } from '../../norm';
import { StateArray, Tensor, dtypeOf } from '../../tensor';
import { GroupPart, KernelCall, KernelCallBuilder } from './kernel_calls';
import type { ParamTable } from './param_table';
import type { OptimizerSpec } from './spec';
import { storedChoice } from '../../compact/state_storage';

/** Where every optimizer kernel takes the gradient: param, grad, state... */
const GRAD_SLOT = 1;

interface CachedCall<O> {
  gi: number;
  /** The group's hyper-parameters as the step that uses the cache validated them. */
  hyper: O;
  /** The params it steps (all of the part's), their storage, kernel and state schema. */
  part: GroupPart;
  /** The call's flat buffer list as the full step built it: param, grad, state... per param, with null for each grad (held only by the caller). */
  tensors: (StateArray | null)[];
  /** Its scalars: a window of the cache's `scalars`. */
  scalars: ScalarWriter<string>;
  /** The params' per-param numbers before the running step (advanceShared), to undo it if the plans refuse. */
  before: Record<string, number>;
}

export class StepCache<O> {
  private grads: Array<WeakRef<Tensor> | null> = [];
  private calls: CachedCall<O>[] | null = null;
  /** Every call's scalars in turn: what the backend takes with the plans. */
  private scalars = new Float64Array(0);
  /** The calls' plans in order, and split by the params' element type (float32, float64) for the norm; made when a second step reuses the calls. */
  private plans: { all: UpdatePlan[]; byDtype: [UpdatePlan[], UpdatePlan[]] } | null = null;

  constructor(
    private readonly spec: OptimizerSpec<O>,
    private readonly table: ParamTable,
    private readonly builder: KernelCallBuilder<O>,
  ) {}

  /** Forgets the calls (anything that replaces state or params calls this). */
  clear(): void {
    this.calls = null;
    this.plans = null;
  }

  /**
   * Keeps the calls of the full step just run, for the next one with the
   * same gradients; keeps nothing if a part's params were stepped in several
   * calls (they do not share their state: kernel_calls.ts).
   */
  record(calls: readonly KernelCall[], hyper: readonly O[], grads: ReadonlyArray<Tensor | null>): void {
    this.clear();
    if (!calls.every((c) => c.whole)) return;
    this.scalars = new Float64Array(calls.reduce((n, c) => n + c.kernel.scalars.length, 0));
    let offset = 0;
    this.calls = calls.map(({ gi, part, kernel, tensors }) => {
      const width = kernel.scalars.length;
      const scalars = scalarWriter(kernel, this.scalars.subarray(offset, (offset += width)));
      // A copy: the builder refills its list at the next full step and empties it now.
      const kept: (StateArray | null)[] = tensors.slice();
      for (let k = GRAD_SLOT; k < kept.length; k += kernel.slots) kept[k] = null;
      return { gi, hyper: hyper[gi], part, tensors: kept, scalars, before: {} };
    });
    this.grads = grads.map((g) => (g === null ? null : new WeakRef(g)));
  }

  /**
   * Whether a step given `grads`, whose groups' hyper-parameters validated as
   * `hyper`, can run the cached calls (see the header); false, having changed
   * nothing, if not.
   */
  holds(grads: unknown, hyper: readonly O[]): boolean {
    const calls = this.calls;
    if (calls === null || !Array.isArray(grads) || grads.length !== this.grads.length) return false;
    for (let i = 0; i < grads.length; i++) if (grads[i] !== (this.grads[i]?.deref() ?? null)) return false;
    for (const call of calls) {
      const now = hyper[call.gi];
      if (now !== call.hyper) {
        // A value changed (a scheduler's lr): the kernel it chooses may have too (amsgrad switched on).
        const { part } = call;
        const choice = storedChoice(this.spec.kernel(now, this.table.shapes[part.indices[0]]), part.storage);
        if (choice.kernel !== part.choice.kernel || !sameNames(choice.buffers, part.choice.buffers)) return false;
      }
      if (!this.callHolds(call)) return false;
    }
    for (const call of calls) call.hyper = hyper[call.gi];
    return true;
  }

  /**
   * The global norm of the cached calls' gradients (after holds), read
   * through their plans: per element type, one reduction over every plan of
   * that type, so the bits are those of one reduction over all the gradients
   * (normOf). Null, having changed nothing, if a plan refused.
   */
  norm(backend: Backend, type: NormType, threads: number): number | null {
    const plans = this.planned(backend);
    if (plans === null) return null;
    let total = 0;
    try {
      for (const group of plans.byDtype) {
        if (group.length > 0) total = mergeValues(type.kind, total, backend.reducePlanned(group, GRAD_SLOT, type.kind, type.p, threads, 0));
      }
    } catch {
      this.clear();
      return null;
    }
    return finishValue(type, total);
  }

  /**
   * Runs the cached calls (after holds) with the gradient scale `gradScale`:
   * advances the params' state, writes the scalars, and runs every plan in one
   * backend call. If the backend refuses (a buffer detached or resized since
   * the plans were made; it then runs nothing), the advance is taken back and
   * false is returned: nothing changed.
   */
  run(backend: Backend, gradScale: number, threads: number): boolean {
    const plans = this.planned(backend);
    const calls = this.calls!;
    if (plans === null) return false;
    for (const call of calls) this.builder.advanceShared(call.gi, call.hyper, call.part, gradScale, call.scalars, call.before);
    try {
      backend.updatePlanned(plans.all, this.scalars, threads);
    } catch {
      for (const call of calls) this.builder.undoShared(call.part, call.before);
      this.clear();
      return false;
    }
    return true;
  }

  /**
   * The calls' plans, made on the first step that reuses them, from the
   * gradients holds() compared (read from the cache's own references, not
   * from the caller's Array again); null, having forgotten the calls, if the
   * backend refuses to make one (a buffer detached since the full step).
   */
  private planned(backend: Backend): StepCache<O>['plans'] {
    if (this.plans !== null) return this.plans;
    const plans: NonNullable<StepCache<O>['plans']> = { all: [], byDtype: [[], []] };
    try {
      for (const { tensors, part } of this.calls!) {
        const slots = part.choice.kernel.slots;
        const filled = tensors.map((t, k) => t ?? this.grads[part.indices[(k - GRAD_SLOT) / slots]]!.deref()!);
        const plan = backend.createPlan(part.choice.kernel, filled);
        plans.all.push(plan);
        plans.byDtype[dtypeOf(filled[0] as Tensor) === 'float64' ? 1 : 0].push(plan);
      }
    } catch {
      this.clear();
      return null;
    }
    return (this.plans = plans);
  }

  /**
   * Every param of the call shares the first one's step count and per-param
   * numbers and every state buffer is the recorded one: one pass (this runs
   * per param per step).
   */
  private callHolds(call: CachedCall<O>): boolean {
    const { tensors } = call;
    const { indices, choice, schema } = call.part;
    const buffers = choice.buffers;
    const numbers = schema.scalars;
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
