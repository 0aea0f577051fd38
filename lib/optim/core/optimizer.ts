/**
 * What every optimizer shares (PyTorch's torch/optim/optimizer.py): param
 * groups whose keys override the defaults, per-param state, stateDict /
 * loadStateDict that refer to params by index, hooks, and the step pipeline:
 *
 *   1. checks: options, hyper-parameters, gradients   (step_checks.ts; nothing changes if they throw)
 *   2. step pre-hooks: gradient transforms (averaging across processes, ...)
 *   3. the global norm, when the step clips or skips: partial sums → merge → root (../norm.ts)
 *   4. the clip coefficient and the kernel's scale    (stepScale in step_checks.ts, the one place)
 *   5. state created, step counts advanced, one kernel call per group  (kernel_calls.ts)
 *   6. step post-hooks
 *
 * The pipeline is written once as a generator of backend calls (../pipeline.ts):
 * step() runs it on the calling thread, stepAsync() on libuv's pool. A
 * synchronous step given the same gradients as the last one runs the last
 * step's calls through backend plans (step_cache.ts).
 *
 * A subclass only declares an OptimizerSpec (spec.ts): its hyper-parameters,
 * its state schema, which kernel runs and the kernel's scalars; the
 * arithmetic lives in the kernels (native/kernels/*.h and lib/kernels/*.ts).
 */
import { Backend, BackendName, getBackend } from '../../backend';
import { ErrorCodes, makeError } from '../../errors';
import { normOf } from '../../norm';
import { Pipeline, call, runAsync, runSync } from '../../pipeline';
import { getNumThreads } from '../../threads';
import { checkArray, checkFunction, checkNoOverlap, checkNumber, checkOptions, checkTensor } from '../../validate';
import { KernelCallBuilder } from './kernel_calls';
import { ParamGroup, ParamGroupInput, ParamsInput, ValidatedHyper, checkGroupInput, fixedKey, fixedOptionsOf, isGroupLike, resolveGroup } from './param_groups';
import { ParamTable } from './param_table';
import type { GroupState, OptimizerSpec, ParamState, StateSchema } from './spec';
import { checkGroupValue, groupStateOf } from './group_state';
import type { KernelDef } from '../../kernels/kernel_def';
import type { StateArray, Tensor } from '../../tensor';
import { OptimizerStateDict, checkStateDict, takeStateDict } from './state_dict';
import { CheckedStepOptions, Grads, StepOptions, checkGrads, checkStepOptions, stepScale } from './step_checks';
import { StepCache } from './step_cache';
import { stateBytes } from '../../compact/state_storage';
import { StateSize, plannedStateSize } from './state_size';
import { StateLayout, stateLayoutOf } from './state_layout';

export type { ParamGroup, ParamGroupInput, ParamsInput } from './param_groups';
export type { OptimizerSpec, ParamState, StateSchema, StateBufferSpec, StateScalarSpec, KernelChoice, ScalarContext, GroupState, GroupStateSpec } from './spec';
export type { OptimizerStateDict } from './state_dict';
export type { StateSize } from './state_size';
export type { Grads, StepOptions } from './step_checks';

/** @internal A group of a clone (Optimizer.cloneOver): its params, and the group whose options and values it takes. */
export interface CloneGroup {
  readonly params: readonly Tensor[];
  /** The index of the group of the cloned optimizer it is like. */
  readonly like: number;
  /** Options over that group's (ZeRO: a piece's storage, StateLayout.pieceOptions). */
  readonly options?: Readonly<Record<string, unknown>>;
}

/**
 * @internal Where an optimizer's state lives when a wrapper keeps it elsewhere
 * (ZeRO's shards, lib/distributed/zero.ts): updateParamsWithState runs there.
 */
export interface StateHolder {
  /** Runs `kernel` over the params of group `gi` with the state buffers `buffers`, as Optimizer.updateParamsWithState does. */
  updateParamsWithState(gi: number, kernel: KernelDef, buffers: readonly string[], scalars: Float64Array): void;
}

/** A step's gradients and hyper-parameters, checked: per group the params with a gradient, and the validated hyper-parameters. */
interface CheckedStep<O> {
  list: Grads;
  active: number[][];
  hyper: O[];
}

/** An optimizer whatever its options type (what wrappers such as DistributedOptimizer take). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOptimizer = Optimizer<any>;

/**
 * An optimizer that keeps a train and an eval mode (Schedule-Free): its params hold the point
 * where gradients are taken in train mode, and the point to evaluate in eval mode.
 */
export interface TrainEvalModes {
  /** Puts the params where gradients are taken; steps need this mode. */
  train(): void;
  /** Puts the params where the model is evaluated (and saved for inference). */
  eval(): void;
  /** True in train mode. */
  readonly training: boolean;
}

/** The modes of `optimizer` if it keeps them (the registry's `modes` capability), else null. */
export function modesOf(optimizer: unknown): TrainEvalModes | null {
  const o = optimizer as Partial<TrainEvalModes> | null;
  return optimizer instanceof Optimizer && typeof o!.train === 'function' && typeof o!.eval === 'function' ? (o as TrainEvalModes) : null;
}

/** What a step returns. */
export interface StepResult {
  /** The global norm of the (scaled) gradients, when the step computed it (maxGradNorm or skipIfNonfinite). */
  gradNorm: number | undefined;
  /** True when skipIfNonfinite found a non-finite gradient and the step changed nothing. */
  skipped: boolean;
}

/** The options every optimizer takes besides its hyper-parameters. */
export interface OptimizerOptions {
  /** Which kernels run the step: 'native' (default) or 'js' (the reference, for tests and baselines). */
  backend?: BackendName;
}

/**
 * Runs before every step (PyTorch's register_step_pre_hook), after the step's
 * arguments were checked and before the norm and the kernels: it may change
 * the gradients in place (average them across processes, unscale them), or
 * return replacements for the gradients and the options, which are checked
 * in turn. In stepAsync it may return a Promise, which the step awaits.
 *
 * `grads` is the caller's list, read-only as a list (to replace gradients,
 * return `{ grads }`): its tensors' values are the hook's to change. It may
 * hold null (a param without a gradient) and Float64Array (float64 params), so
 * a helper that takes it is typed `(grads: Grads) => void`, not
 * `(grads: Float32Array[]) => void` (tsc refuses that one):
 *
 *   function unscale(grads: Grads, factor: number): void {
 *     for (const g of grads) if (g !== null) for (let i = 0; i < g.length; i++) g[i] *= factor;
 *   }
 *   opt.registerStepPreHook((_opt, grads) => unscale(grads, 1 / 1024));
 *
 * docs/optimizers.md (Hooks) has this, type-checked.
 */
export type StepPreHook<Opt> = (
  optimizer: Opt,
  grads: Grads,
  options: StepOptions | undefined,
) => void | StepPreHookResult | Promise<void | StepPreHookResult>;

/** What a step pre-hook may return to replace the step's arguments (each is checked again). */
export interface StepPreHookResult {
  /** The gradients the step uses instead. */
  grads?: Grads;
  /** The step options used instead. */
  options?: StepOptions;
}

/** Runs after every step (PyTorch's register_step_post_hook), skipped ones included, with the step's result. */
export type StepPostHook<Opt> = (optimizer: Opt, result: StepResult) => void;

/** What registerStep*Hook returns: `remove()` unregisters the hook. */
export interface HookHandle {
  /** Unregisters the hook. */
  remove(): void;
}

/** The base class of every optimizer but LBFGS: param groups, per-param state, state dicts, hooks and the fused step. */
export abstract class Optimizer<
  O extends {
    /** The learning rate, which every optimizer has. */
    lr: number;
  },
> {
  /** The param groups; each holds its params and hyper-parameters. */
  readonly paramGroups: ParamGroup<O>[] = [];
  /** state[i]: the state of the i-th param (counting through all groups in order); {} until its first step. */
  readonly state: ParamState[];
  /** The constructor's options with every default filled in: what a new group does not override. */
  readonly defaults: Readonly<O>;
  /** The kernels in use: 'native' or 'js'. */
  readonly backend: BackendName;

  private readonly spec: OptimizerSpec<O>;

  /** The name this optimizer declares (its spec's, "AdamW", ...): what checkpoints store. Not `constructor.name`, which a minifier renames. */
  get kind(): string {
    return this.spec.name;
  }
  private readonly kernels: Backend;
  private readonly table: ParamTable;
  private readonly hyper: ValidatedHyper<O>;
  private readonly builder: KernelCallBuilder<O>;
  private readonly cache: StepCache<O>;
  // Stored with the optimizer's type erased: a field typed by `this` would make
  // Optimizer<SGDOptions> unassignable to Optimizer<{ lr: number }>.
  private readonly preHooks = new Map<number, StepPreHook<unknown>>();
  private readonly postHooks = new Map<number, StepPostHook<unknown>>();
  private nextHookId = 0;
  private inFlight = false;
  /** Per group, its options that lay out its state as added (fixedKey): fixed for the group's life. */
  private readonly fixedKeys: string[] = [];
  /** Per group, the validated object whose fixed-options key stepHyper last found unchanged. */
  private readonly fixedChecked: Array<O | undefined> = [];
  /** The array stepHyper refills. */
  private readonly validated: O[] = [];
  /** Where updateParamsWithState runs when a wrapper keeps the state (holdStateIn), or null: here. */
  private stateHolder: StateHolder | null = null;

  protected constructor(spec: OptimizerSpec<O>, params: ParamsInput<O>, options: (Partial<O> & OptimizerOptions) | undefined) {
    this.spec = spec;
    this.table = new ParamTable(spec.name);
    this.state = this.table.state;
    const { defaults, kernels } = resolveOptions(spec, options);
    this.kernels = kernels;
    this.backend = kernels.name;
    this.defaults = defaults;
    this.hyper = new ValidatedHyper(spec, this.defaults);
    this.builder = new KernelCallBuilder(spec, this.table, this.paramGroups);
    this.cache = new StepCache(spec, this.table, this.builder);

    const list = checkArray(`${spec.name}: params`, params);
    if (list.length === 0) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${spec.name}: params: expected at least one tensor or param group, got an empty Array`);
    }
    // As in PyTorch, the first entry decides: a list of param groups starts with
    // a group (a plain object), anything else is a list of tensors (one group),
    // so a stray non-tensor is reported as that, at its own index.
    const flat = !isGroupLike(list[0]);
    // Validate every group before adding any, so a bad group leaves nothing half-built.
    const resolved = flat
      ? [checkGroupInput(spec, this.defaults, { params: list }, `${spec.name}`, `${spec.name}: params`)]
      : list.map((g, i) => checkGroupInput(spec, this.defaults, g, `${spec.name}: params[${i}]`));
    checkNoOverlap(`${spec.name}: params`, resolved.flatMap((g) => g.params));
    for (const group of resolved) this.addResolvedGroup(group);
  }

  /** Adds a param group (PyTorch's add_param_group): its keys override the defaults. */
  addParamGroup(group: ParamGroupInput<O>): void {
    this.assertIdle('addParamGroup');
    const resolved = checkGroupInput(this.spec, this.defaults, group, `${this.spec.name}: addParamGroup: group`);
    checkNoOverlap(`${this.spec.name}: params`, [...this.table.params, ...resolved.params]);
    this.addResolvedGroup(resolved);
    this.cache.clear();
  }

  /** The learning rate of group 0. */
  get lr(): number {
    return this.paramGroups[0].lr;
  }

  /** Sets the learning rate of every group. */
  set lr(value: number) {
    this.assertIdle('lr');
    const lr = checkNumber(`${this.spec.name}: lr`, value, { min: 0 });
    for (const group of this.paramGroups) group.lr = lr;
  }

  /**
   * The bytes of optimizer state held: every state buffer once (see
   * stateDtype: full-precision Adam holds 8 per float32 param, bfloat16 4,
   * 8-bit about 2).
   */
  stateBytes(): number {
    return stateBytes(this.state);
  }

  /**
   * The state's bytes, in all and by element type, once every param has
   * stepped: before the first step, what the steps will allocate (nothing is
   * allocated to tell). A code map of 8-bit state counts once (state_size.ts).
   */
  stateSize(): StateSize {
    const hypers = this.paramGroups.map((_, gi) => this.hyperOf(gi));
    return plannedStateSize(this.spec, this.table, hypers, this.paramGroups.map((g) => g.params.length));
  }

  /** The state a param of group `groupIndex` may hold under the group's current hyper-parameters (its state schema). */
  stateSchema(groupIndex: number): StateSchema {
    checkNumber(`${this.spec.name}: stateSchema: groupIndex`, groupIndex, { integer: true, min: 0, max: this.paramGroups.length - 1 });
    return this.spec.state(this.hyperOf(groupIndex));
  }

  /**
   * Whether a step reduces over each whole param before moving it (LAMB's
   * trust ratio, Adafactor's RMS), under the groups' current options: such a
   * param cannot be cut into pieces stepped apart, as ZeRO sharding would
   * (DistributedOptimizer's shardState refuses it).
   */
  get reducesPerTensor(): boolean {
    let index = 0;
    return this.paramGroups.some((group, gi) => {
      const hyper = this.hyperOf(gi);
      const first = index;
      index += group.params.length;
      return group.params.some((_, k) => this.spec.kernel(hyper, this.table.shapes[first + k]).kernel.perTensor === true);
    });
  }

  /**
   * @internal How param `index`'s state is stored, buffer by buffer, under its
   * group's current options (the state-layout view, state_layout.ts): for
   * code that cuts the params into pieces stepped apart (ZeRO,
   * lib/distributed/zero.ts). Not public API.
   */
  stateLayout(index: number): StateLayout {
    checkNumber(`${this.spec.name}: stateLayout: index`, index, { integer: true, min: 0, max: this.table.params.length - 1 });
    let gi = 0;
    for (let first = 0; index >= first + this.paramGroups[gi].params.length; gi++) first += this.paramGroups[gi].params.length;
    return stateLayoutOf(this.spec, this.hyperOf(gi), this.table.params[index], this.table.shapes[index]);
  }

  /**
   * @internal The same optimizer (its class, declaration and backend) over
   * other params, without state: clone group k takes this optimizer's group
   * `groups[k].like`, its options (`groups[k].options` over them) and its
   * values (spec.groupState). ZeRO's shard optimizer (lib/distributed/zero.ts)
   * is one, over pieces of these params. Built by this object's own class,
   * so that a user's subclass stays itself: every Optimizer subclass's
   * constructor takes (params, options), as the registry's OptimizerClass says.
   */
  cloneOver(groups: readonly CloneGroup[]): Optimizer<O> {
    const Class = this.constructor as new (params: ParamsInput<O>, options: OptimizerOptions) => Optimizer<O>;
    const like = groups.map((g, k) => checkNumber(`${this.spec.name}: cloneOver: groups[${k}].like`, g.like, { integer: true, min: 0, max: this.paramGroups.length - 1 }));
    const clone = new Class(
      groups.map((g, k) => ({ ...this.hyperOf(like[k]), ...g.options, params: g.params }) as ParamGroupInput<O>),
      { backend: this.backend },
    );
    clone.paramGroups.forEach((group, k) => Object.assign(group, groupStateOf(this.spec, this.paramGroups[like[k]])));
    return clone;
  }

  /**
   * @internal The checks and the group bookkeeping of a step whose kernels a
   * clone of this optimizer runs over pieces of its params (ZeRO's shard,
   * lib/distributed/zero.ts). Checks the step as step() does (hyper-parameters,
   * fixed options, the groups' values: a Schedule-Free group in eval mode
   * throws ERR_NOT_IN_TRAIN_MODE), changing nothing, so that the wrapper can
   * refuse before it communicates. Returns what the step then owes this
   * optimizer's own groups, to call once the clone's kernels ran: their
   * values advanced (spec.groupState: Schedule-Free's k, lrMax, weightSum),
   * from the hyper-parameters checked here, as the clone advanced its own.
   */
  checkStepOfClone(): () => void {
    this.assertIdle('step');
    const hyper = [...this.stepHyper()];
    return () => void this.advanceGroups(hyper);
  }

  /**
   * @internal Hands the param updates that read this optimizer's state
   * (updateParamsWithState: Schedule-Free's train() and eval()) to `holder`,
   * which keeps that state (ZeRO's shards, lib/distributed/zero.ts); null takes them back.
   */
  holdStateIn(holder: StateHolder | null): void {
    this.stateHolder = holder;
  }

  /** The number of params in all groups. */
  get paramCount(): number {
    return this.table.params.length;
  }

  /**
   * One optimizer step over every param that has a gradient. Validates
   * everything first: a call that throws has changed nothing.
   */
  step(grads: Grads, options?: StepOptions): StepResult {
    this.assertIdle('step');
    const opts = checkStepOptions(this.spec.name, options);
    // The usual training loop, without hooks: straight to the cached calls.
    if (this.preHooks.size === 0) {
      const result = this.cachedStep(grads, opts);
      if (result !== null) return this.finished(result);
    }
    return runSync(this.stepPipeline(grads, options, opts, true, null));
  }

  /**
   * The same step on libuv's thread pool, so the event loop keeps running.
   * The result is bit-identical to step().
   *
   * Until the promise settles: step, stepAsync, zeroGrad, stateDict,
   * loadStateDict, addParamGroup and the lr setter throw ERR_STEP_IN_FLIGHT;
   * the caller must not write into (or transfer) the params, grads or state
   * buffers, nor read the params expecting either the old or the new values.
   * Direct edits of paramGroups cannot be prevented: they take effect at the
   * next step, because the step uses the hyper-parameters it validated when it
   * was called.
   */
  async stepAsync(grads: Grads, options?: StepOptions): Promise<StepResult> {
    this.assertIdle('stepAsync');
    // A call that would be refused is refused before the optimizer becomes busy.
    const opts = checkStepOptions(this.spec.name, options);
    const checked = this.checkedStep(grads);
    this.inFlight = true;
    try {
      return await runAsync(this.stepPipeline(grads, options, opts, false, checked));
    } finally {
      this.inFlight = false;
    }
  }

  /** True while a stepAsync is running. */
  get busy(): boolean {
    return this.inFlight;
  }

  /** Registers a hook that runs before every step (see StepPreHook); returns its handle. */
  registerStepPreHook(hook: StepPreHook<this>): HookHandle {
    return this.addHook(this.preHooks, checkFunction<StepPreHook<unknown>>(`${this.spec.name}: registerStepPreHook: hook`, hook));
  }

  /** Registers a hook that runs after every step (see StepPostHook); returns its handle. */
  registerStepPostHook(hook: StepPostHook<this>): HookHandle {
    return this.addHook(this.postHooks, checkFunction<StepPostHook<unknown>>(`${this.spec.name}: registerStepPostHook: hook`, hook));
  }

  /**
   * Fills every gradient buffer with zeros (nulls are skipped). Rejected with
   * ERR_STEP_IN_FLIGHT while a stepAsync runs: the kernels are still reading the
   * gradients, and zeroing them then would silently change that step.
   */
  zeroGrad(grads: Grads): void {
    this.assertIdle('zeroGrad');
    const list = checkArray(`${this.spec.name}: zeroGrad: grads`, grads);
    const tensors = list.map((g, i) => (g === null ? null : checkTensor(`${this.spec.name}: zeroGrad: grads[${i}]`, g)));
    for (const g of tensors) g?.fill(0);
  }

  /**
   * A snapshot: every group's hyper-parameters (params as indices) and a copy of
   * every param's state. Rejected with ERR_STEP_IN_FLIGHT while a stepAsync runs:
   * the kernels are writing the state, so a copy then would be torn.
   */
  stateDict(): OptimizerStateDict {
    this.assertIdle('stateDict');
    return takeStateDict(this.paramGroups, this.state);
  }

  /**
   * Restores a snapshot taken by stateDict() of an optimizer of the same class
   * over params of the same shapes. Checks every count, hyper-parameter, and
   * every state buffer's element type and length and every per-param number
   * against the optimizer's state schema first; a call that throws has changed
   * nothing. The params themselves are not touched (as in PyTorch); the
   * buffers are copied.
   */
  loadStateDict(stateDict: OptimizerStateDict): void {
    this.assertIdle('loadStateDict');
    const checked = checkStateDict(this.spec, this.paramGroups, this.table.params, this.table.shapes, stateDict);
    checked.groups.forEach(({ hyper, extras }, gi) => {
      const group = this.paramGroups[gi] as Record<string, unknown>;
      for (const key of Object.keys(group)) if (key !== 'params' && !(key in this.spec.options)) delete group[key];
      Object.assign(group, hyper, extras);
    });
    this.table.replaceState(checked.state);
    this.cache.clear();
  }

  // ---- the step pipeline -------------------------------------------------

  /** `checked`: the checks of these grads already made (stepAsync's, before it became busy), or null. */
  private *stepPipeline(
    grads: Grads,
    options: StepOptions | undefined,
    opts: CheckedStepOptions,
    sync: boolean,
    checked: CheckedStep<O> | null,
  ): Pipeline<StepResult> {
    const name = this.spec.name;
    if (this.preHooks.size > 0) {
      // Check the step first: a call that would throw runs no hook.
      if (checked === null) this.checkedStep(grads);
      // A hook may change anything (the gradients, the hyper-parameters): check again after.
      checked = null;
      for (const hook of [...this.preHooks.values()]) {
        const returned = hook(this, grads, options);
        const result = isThenable(returned) ? yield* call(awaitOnlyAsync(returned, name)) : returned;
        if (result === undefined || result === null) continue;
        if (typeof result !== 'object') {
          throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: step: a step pre-hook returned ${typeof result}; expected nothing or { grads, options }`);
        }
        if (result.grads !== undefined) grads = result.grads;
        if (result.options !== undefined) opts = checkStepOptions(name, (options = result.options));
      }
    }
    // (Without hooks, step() asked the cache already.)
    if (sync && this.preHooks.size > 0) {
      const result = this.cachedStep(grads, opts);
      if (result !== null) return this.finished(result);
    }
    const threads = getNumThreads();
    this.cache.clear();
    const { list, active, hyper } = checked ?? this.checkedStep(grads);
    const present = active.flat().map((i) => list[i]!);
    const norm = opts.norm ? yield* normOf(this.kernels, present, opts.norm, threads) : undefined;
    const { gradNorm, scale } = stepScale(opts, norm, `${this.spec.name}: step`);
    if (scale !== null) {
      const groupStateBefore = this.advanceGroups(hyper);
      try {
        const calls = active.flatMap((indices, gi) => (indices.length === 0 ? [] : this.builder.commit(gi, hyper[gi], indices, list, scale)));
        for (const c of calls) {
          yield* call({
            sync: () => this.kernels.update(c.kernel, c.tensors, c.scalars, threads),
            async: () => this.kernels.updateAsync(c.kernel, c.tensors, c.scalars, threads),
          });
        }
        // Kept for the next step with the same gradients (before the lists are emptied below).
        // stepAsync does not keep its calls: its buffers are kept alive per call by the async
        // worker, and an asynchronous step is never small enough for the saving to show.
        if (sync) this.cache.record(calls, hyper, grads, list);
      } catch (error) {
        this.restoreGroups(groupStateBefore);
        throw error;
      } finally {
        this.builder.releaseGradients();
      }
    }
    return this.finished({ gradNorm, skipped: scale === null });
  }

  /**
   * A synchronous step through the cached calls, if they hold for `grads` (step_cache.ts); null,
   * having changed nothing, if not, or if the backend found a buffer changed under them: the full
   * step then runs, and refuses what must be refused with its own messages. One backend call
   * runs the step, its norm and clip included (for the 2-, 1- and ∞-norms).
   */
  private cachedStep(grads: unknown, opts: CheckedStepOptions): StepResult | null {
    // Validated first, as the full step does: an invalid hyper-parameter throws either way.
    if (!this.cache.holds(grads, this.stepHyper())) return null;
    const threads = getNumThreads();
    const what = `${this.spec.name}: step`;
    if (opts.norm !== null && !StepCache.clipsInStep(opts.norm)) {
      // Another p: the norm through the plans first, then the step with its scale.
      const norm = this.cache.norm(this.kernels, opts.norm, threads);
      if (norm === null) return null;
      const { gradNorm, scale } = stepScale(opts, norm, what);
      if (scale !== null) {
        const groupStateBefore = this.advanceGroups(this.validated);
        if (this.cache.run(this.kernels, scale, threads, null) === null) {
          this.restoreGroups(groupStateBefore);
          return null;
        }
      }
      return { gradNorm, skipped: scale === null };
    }
    const groupStateBefore = this.advanceGroups(this.validated);
    const norm = this.cache.run(this.kernels, opts.gradScale, threads, opts.norm === null ? null : opts);
    if (norm === null) {
      this.restoreGroups(groupStateBefore);
      return null;
    }
    if (norm === undefined) return { gradNorm: undefined, skipped: false };
    // The backend ran no kernel if the norm is not finite and the options skip or refuse such a
    // step (the cache took back the params' advance): stepScale then says skip, or throws.
    let ran = false;
    try {
      const { gradNorm, scale } = stepScale(opts, norm, what);
      ran = scale !== null;
      return { gradNorm, skipped: !ran };
    } finally {
      if (!ran) this.restoreGroups(groupStateBefore);
    }
  }

  /** Runs the post-hooks on a step's result and returns it. */
  private finished(result: StepResult): StepResult {
    if (this.postHooks.size > 0) for (const hook of [...this.postHooks.values()]) hook(this, result);
    return result;
  }

  /** Every check of a step's gradients and hyper-parameters; changes nothing. */
  private checkedStep(grads: unknown): CheckedStep<O> {
    const hyper = [...this.stepHyper()];
    const { list, active } = checkGrads(this.spec.name, this.table, this.paramGroups.map((g) => g.params.length), grads);
    return { list, active, hyper };
  }

  /**
   * Every group's hyper-parameters, validated (schedulers and users write them between steps),
   * with the options that lay out its state as when it was added; throws as a step must, before
   * anything changes. The full step and the cached one both start here. Refills one array.
   */
  private stepHyper(): readonly O[] {
    const hyper = this.validated;
    // (Setting an Array's length costs a runtime call even when it does not change it.)
    if (hyper.length !== this.paramGroups.length) hyper.length = this.paramGroups.length;
    for (let gi = 0; gi < hyper.length; gi++) hyper[gi] = this.hyperOf(gi);
    if (this.spec.groupState !== undefined) this.checkGroupState(hyper);
    for (let gi = 0; gi < hyper.length; gi++) {
      // Compared once per validated object: an unchanged group costs one identity check.
      if (hyper[gi] === this.fixedChecked[gi] || this.hyper.fixedKeyOf(gi) === this.fixedKeys[gi]) {
        this.fixedChecked[gi] = hyper[gi];
        continue;
      }
      const names = Object.keys(fixedOptionsOf(this.spec, hyper[gi]));
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `${this.spec.name}: paramGroups[${gi}]: ${names.slice(0, -1).join(', ')}${names.length > 1 ? ' and ' : ''}${names[names.length - 1]} ` +
          `${names.length > 1 ? 'are' : 'is'} fixed when a group is added; ` +
          'to change how state is laid out, build a new optimizer and loadStateDict (which converts the state)',
      );
    }
    return hyper;
  }

  /** Group `gi`'s hyper-parameters, validated (what a subclass reads outside a step: Schedule-Free's train/eval). */
  protected groupHyper(gi: number): O {
    return this.hyperOf(gi);
  }

  private hyperOf(gi: number): O {
    return this.hyper.of(this.paramGroups[gi] as Record<string, unknown>, gi);
  }

  // ---- the groups' own values (spec.groupState) ---------------------------

  /** Every group's groupState values are of their declared type (users and loads write groups), and the spec allows the step. */
  private checkGroupState(hyper: readonly O[]): void {
    const specs = this.spec.groupState!;
    for (let gi = 0; gi < hyper.length; gi++) {
      const group = this.paramGroups[gi] as unknown as GroupState;
      for (const value of specs) checkGroupValue(`${this.spec.name}: paramGroups[${gi}].${value.name}`, value, group[value.name]);
      this.spec.checkStep?.(hyper[gi], group, `${this.spec.name}: step: paramGroups[${gi}]`);
    }
  }

  /** Advances every group's values for a step that runs; returns them as they were, for restoreGroups (null when the spec has none). */
  private advanceGroups(hyper: readonly O[]): GroupState[] | null {
    const advance = this.spec.advanceGroup;
    if (advance === undefined) return null;
    const before = this.paramGroups.map((group) => ({ ...groupStateOf(this.spec, group) }));
    this.paramGroups.forEach((group, gi) => advance(hyper[gi], group as unknown as GroupState));
    return before;
  }

  /** Takes back advanceGroups (the step's kernels were refused before any ran). */
  private restoreGroups(before: GroupState[] | null): void {
    if (before !== null) this.paramGroups.forEach((group, gi) => Object.assign(group, before[gi]));
  }

  /**
   * Runs `kernel` over every param of group `gi` that has the state buffers
   * `buffers` (its slots: the param, then those buffers), with `scalars`:
   * what an optimizer declares beside its step, such as Schedule-Free moving
   * its params between the sequences it keeps (train() / eval()). Where a
   * wrapper keeps the state (holdStateIn), it runs there.
   *
   * @internal Public for that wrapper (ZeRO), which runs its wrapped
   * optimizer's updates through its shard's; a subclass calls it, no user does.
   */
  updateParamsWithState(gi: number, kernel: KernelDef, buffers: readonly string[], scalars: Float64Array): void {
    this.assertIdle('train/eval');
    if (this.stateHolder !== null) {
      this.stateHolder.updateParamsWithState(gi, kernel, buffers, scalars);
      return;
    }
    let first = 0;
    for (let g = 0; g < gi; g++) first += this.paramGroups[g].params.length;
    const tensors: StateArray[] = [];
    this.paramGroups[gi].params.forEach((param, k) => {
      const state = this.state[first + k];
      if (buffers.every((b) => state[b] !== undefined)) tensors.push(param, ...buffers.map((b) => state[b] as StateArray));
    });
    if (tensors.length > 0) this.kernels.update(kernel, tensors, scalars, getNumThreads());
  }


  // ---- internals -------------------------------------------------------

  private assertIdle(what: string): void {
    if (this.inFlight) {
      throw makeError(
        ErrorCodes.STEP_IN_FLIGHT,
        `${this.spec.name}: ${what}: an asynchronous step is still running on this optimizer; await it first`,
      );
    }
  }

  private addHook<H>(hooks: Map<number, H>, hook: H): HookHandle {
    const id = this.nextHookId++;
    hooks.set(id, hook);
    return { remove: () => void hooks.delete(id) };
  }

  private addResolvedGroup(group: ParamGroup<O>): void {
    for (const value of this.spec.groupState ?? []) (group as Record<string, unknown>)[value.name] = value.initial;
    this.paramGroups.push(group);
    this.fixedKeys.push(fixedKey(this.spec, group));
    group.params.forEach((p, k) => this.table.add(p, this.spec.shapeOf?.(group, k) ?? null));
  }
}

/**
 * The options a new optimizer of `spec` is built with, checked as its
 * constructor checks them (its hyper-parameters and `backend`, nothing else;
 * each value; the backend's name) and resolved: every hyper-parameter, given
 * or its default. Throws the constructor's coded errors, naming
 * `<where>: options`. The constructor starts here, and so does whatever
 * needs an optimizer's options without building one (the registry's
 * resolveOptions, which the TF.js bridge reads).
 */
export function resolveOptions<O>(spec: OptimizerSpec<O>, options: unknown, where: string = spec.name): { defaults: O; kernels: Backend } {
  const opts = checkOptions(`${where}: options`, options, [...Object.keys(spec.options), 'backend']);
  const kernels = getBackend(opts.backend ?? 'native', `${where}: options.backend`);
  return { defaults: resolveGroup(spec, opts, null, `${where}: options`), kernels };
}

function isThenable(value: unknown): value is Promise<void | StepPreHookResult> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** A hook's Promise as pipeline work: awaited by stepAsync, refused by step (which cannot wait). */
function awaitOnlyAsync<T>(promise: Promise<T>, name: string) {
  return {
    sync(): T {
      promise.catch(() => undefined); // refused unawaited: keep its rejection from being unhandled
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}: step: a step pre-hook returned a Promise; use stepAsync to run asynchronous hooks`);
    },
    async: () => promise,
  };
}
