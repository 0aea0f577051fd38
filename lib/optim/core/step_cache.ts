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
 * The cached calls run as one backend step (createStep / runStep): one
 * native call checks every distinct ArrayBuffer of all the calls once and runs
 * every kernel, and, when the step clips by the 2-, 1- or ∞-norm, takes the
 * norm and scales the kernels' gradScale by the clip coefficient in the same
 * call (other p: the norm first, through the plans, then the step).
 *
 * Gradients, and what the cache keeps alive. The usual loop passes the same
 * Array of the same gradients each step. The cache keys its copy of that
 * Array's elements by the Array itself, in a WeakMap: the copy lives exactly
 * as long as the caller's Array, and a step given that Array compares its
 * elements with the copy (a strict comparison each, no WeakRef.deref(), which
 * costs a runtime call and keeps its target alive to the end of the job).
 * Another Array holding the very same gradients is compared through one weak
 * reference per gradient instead, as before. So the cache keeps no gradient
 * alive once the caller drops the Array it stepped with, and a loop that
 * passes new gradients each step frees the old ones; the one thing kept a
 * little longer is a gradient the caller replaced inside its Array (grads[3] =
 * other): the copy holds the old one until the next step records anew. That is
 * deliberate: it is what buys a step over 1000 gradients 1000 weak-reference
 * reads (see docs/architecture.md, "The step pipeline"). The backend's plans
 * hold every buffer weakly.
 */
import { Backend, UpdatePlan, UpdateStep, stepRan } from '../../backend';
import { ScalarWriter, scalarWriter } from '../../kernels/kernel_def';
import { ReduceKind } from '../../kernels/reduce_kind';
import { NormType, finishValue, mergeValues } from '../../norm';
import { StateArray, Tensor, dtypeOf } from '../../tensor';
import { GroupPart, KernelCall, KernelCallBuilder } from './kernel_calls';
import type { ParamTable } from './param_table';
import type { OptimizerSpec } from './spec';
import type { CheckedStepOptions, Grads } from './step_checks';
import { StateCheck, stateCheck } from './compiled_checks';
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
  /** The params' per-param numbers before the running step (advanceShared), to undo it if the step refuses. */
  before: Record<string, number>;
  /** Whether its params still share their step count and numbers, and hold the recorded state buffers (compiled once). */
  stateHolds: StateCheck;
}

export class StepCache<O> {
  /** The caller's Array of the recorded step → a copy of its elements (see the header). */
  private gradsOf = new WeakMap<object, Grads>();
  /** The recorded gradients, weakly: what a step given another Array is compared with. */
  private gradRefs: Array<WeakRef<Tensor> | null> = [];
  private calls: CachedCall<O>[] | null = null;
  /** Every call's scalars in turn: what the backend takes with the step. */
  private scalars = new Float64Array(0);
  /** The backend's step over the calls' plans, and the plans split by the params' element type (float32, float64) for the norm of other p; made when a second step reuses the calls. */
  private planned: { step: UpdateStep; byDtype: [UpdatePlan[], UpdatePlan[]] } | null = null;
  /** runStep's clip argument, refilled each step: [kind, gradScale, maxNorm, flags]. */
  private readonly clip = new Float64Array(4);

  constructor(
    private readonly spec: OptimizerSpec<O>,
    private readonly table: ParamTable,
    private readonly builder: KernelCallBuilder<O>,
  ) {}

  /** Forgets the calls (anything that replaces state or params calls this). */
  clear(): void {
    this.calls = null;
    this.planned = null;
  }

  /**
   * Keeps the calls of the full step just run, for the next one with the
   * same gradients: `given` is the caller's Array, `grads` the step's checked
   * copy of it. Keeps nothing if a part's params were stepped in several
   * calls (they do not share their state: kernel_calls.ts).
   */
  record(calls: readonly KernelCall[], hyper: readonly O[], given: unknown, grads: Grads): void {
    this.clear();
    if (!calls.every((c) => c.whole)) return;
    this.scalars = new Float64Array(calls.reduce((n, c) => n + c.kernel.scalars.length, 0));
    let offset = 0;
    this.calls = calls.map(({ gi, part, kernel, tensors }) => {
      const scalars = scalarWriter(kernel, this.scalars.subarray(offset, (offset += kernel.scalars.length)));
      // A copy: the builder refills its list at the next full step and empties it now.
      const kept: (StateArray | null)[] = tensors.slice();
      for (let k = GRAD_SLOT; k < kept.length; k += kernel.slots) kept[k] = null;
      // Per state buffer, the arrays recorded for the part's params in order (slots 2... of each param's param, grad, state...).
      const buffers = part.choice.buffers;
      const width = 2 + buffers.length;
      const recorded = buffers.map((_, b) => part.indices.map((_i, t) => tensors[t * width + 2 + b]));
      const stateHolds = stateCheck(part.indices, part.schema.scalars.map((s) => s.name), buffers, recorded);
      return { gi, hyper: hyper[gi], part, tensors: kept, scalars, before: {}, stateHolds };
    });
    this.gradsOf = new WeakMap();
    if (Array.isArray(given)) this.gradsOf.set(given, grads);
    this.gradRefs = grads.map((g) => (g === null ? null : new WeakRef(g)));
  }

  /**
   * Whether a step given `grads`, whose groups' hyper-parameters validated as
   * `hyper`, can run the cached calls (see the header); false, having changed
   * nothing, if not.
   */
  holds(grads: unknown, hyper: readonly O[]): boolean {
    const calls = this.calls;
    if (calls === null || !Array.isArray(grads)) return false;
    const kept = this.gradsOf.get(grads);
    if (kept !== undefined) {
      if (grads.length !== kept.length) return false;
      for (let i = 0; i < kept.length; i++) if (grads[i] !== kept[i]) return false;
    } else {
      const refs = this.gradRefs;
      if (grads.length !== refs.length) return false;
      for (let i = 0; i < refs.length; i++) if (grads[i] !== (refs[i]?.deref() ?? null)) return false;
    }
    const states = this.table.state;
    for (const call of calls) {
      const now = hyper[call.gi];
      if (now !== call.hyper) {
        // A value changed (a scheduler's lr): the kernel it chooses may have too (amsgrad switched on).
        const { part } = call;
        const choice = storedChoice(this.spec.kernel(now, this.table.shapes[part.indices[0]]), part.storage);
        if (choice.kernel !== part.choice.kernel || !sameNames(choice.buffers, part.choice.buffers)) return false;
      }
      if (!call.stateHolds(states)) return false;
    }
    for (const call of calls) call.hyper = hyper[call.gi];
    return true;
  }

  /** Whether run() takes the norm `type` itself, in its one backend call (the 2-, 1- and ∞-norms); for other p, norm() first. */
  static clipsInStep(type: NormType): boolean {
    return type.kind === ReduceKind.SumSquares || type.kind === ReduceKind.SumAbs || type.kind === ReduceKind.MaxAbs;
  }

  /**
   * The global norm of the cached calls' gradients (after holds), for a
   * norm run() does not take itself: per element type, one reduction over
   * every plan of that type, so the bits are those of one reduction over all
   * the gradients (normOf). Null, having changed nothing, if a plan refused.
   */
  norm(backend: Backend, type: NormType, threads: number): number | null {
    const planned = this.plan(backend);
    if (planned === null) return null;
    let total = 0;
    try {
      for (const group of planned.byDtype) {
        if (group.length > 0) total = mergeValues(type.kind, total, backend.reducePlanned(group, GRAD_SLOT, type.kind, type.p, threads, 0));
      }
    } catch {
      this.clear();
      return null;
    }
    return finishValue(type, total);
  }

  /**
   * Runs the cached calls (after holds) in one backend call: advances the
   * params' state, writes the scalars with `gradScale`, and runs the step.
   * With `clip` (a step that clips or skips, by a norm clipsInStep takes),
   * the backend takes the norm, scales gradScale by the clip coefficient and
   * returns the norm; if it ran no kernel (a non-finite norm the options skip
   * or refuse: stepRan), the advance is taken back. Null, the advance taken
   * back and the calls forgotten, if the backend refused (a buffer detached or
   * resized since the plans were made; it then ran nothing): nothing changed.
   */
  run(backend: Backend, gradScale: number, threads: number, clip: CheckedStepOptions | null): number | undefined | null {
    const planned = this.plan(backend);
    if (planned === null) return null;
    const calls = this.calls!;
    for (const call of calls) this.builder.advanceShared(call.gi, call.hyper, call.part, gradScale, call.scalars, call.before);
    let args: Float64Array | undefined;
    if (clip !== null) {
      args = this.clip;
      args[0] = clip.norm!.kind;
      args[1] = gradScale;
      args[2] = clip.maxGradNorm ?? 0;
      args[3] = (clip.maxGradNorm !== undefined ? 1 : 0) | (clip.skipIfNonfinite || clip.errorIfNonfinite ? 2 : 0);
    }
    let norm: number | undefined;
    try {
      norm = backend.runStep(planned.step, this.scalars, threads, args);
    } catch {
      this.undo(calls);
      this.clear();
      return null;
    }
    if (args !== undefined && !stepRan(args, norm!)) this.undo(calls);
    return norm;
  }

  private undo(calls: readonly CachedCall<O>[]): void {
    for (const call of calls) this.builder.undoShared(call.part, call.before);
  }

  /**
   * The calls' plans and their step, made on the first step that reuses them,
   * from the gradients holds() compared (read from the cache's own references,
   * not from the caller's Array again); null, having forgotten the calls, if
   * the backend refuses to make one (a buffer detached since the full step).
   */
  private plan(backend: Backend): StepCache<O>['planned'] {
    if (this.planned !== null) return this.planned;
    const all: UpdatePlan[] = [];
    const byDtype: [UpdatePlan[], UpdatePlan[]] = [[], []];
    try {
      for (const { tensors, part } of this.calls!) {
        const slots = part.choice.kernel.slots;
        const filled = tensors.map((t, k) => t ?? this.gradRefs[part.indices[(k - GRAD_SLOT) / slots]]!.deref()!);
        const plan = backend.createPlan(part.choice.kernel, filled);
        all.push(plan);
        byDtype[dtypeOf(filled[0] as Tensor) === 'float64' ? 1 : 0].push(plan);
      }
      return (this.planned = { step: backend.createStep(all), byDtype });
    } catch {
      this.clear();
      return null;
    }
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
