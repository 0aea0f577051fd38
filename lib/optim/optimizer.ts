/**
 * What every optimizer shares (PyTorch's torch/optim/optimizer.py): param
 * groups whose keys override the defaults, per-param state, stateDict /
 * loadStateDict that refer to params by index, and the step pipeline:
 *
 *   validate everything → [global norm: one read pass] → init state →
 *   one kernel call per group (per distinct step count) over all its tensors.
 *
 * A synchronous step given the same tensors as the last one (the usual
 * training loop) skips the per-tensor work: the backend's plan holds the
 * resolved buffers (native/plan.cc) and only what can change between steps is
 * checked (plannedStillHolds). stepAsync always takes the full path: its
 * buffers are kept alive per call by the async worker, and an asynchronous
 * step is never small enough for the saving to show.
 *
 * A subclass only declares its hyper-parameters, its state buffers, which
 * kernel runs, and the per-step scalars (see OptimizerSpec); the arithmetic
 * lives in the kernels (native/kernels/*.h and lib/backend/js/*.ts).
 */
import { Backend, BackendName, UpdatePlan, getBackend } from '../backend';
import { ErrorCodes, makeError } from '../errors';
import { UPDATE_KERNELS, UpdateKind } from '../kernels';
import { NormPlan, clipCoefficient, normPlan, totalNorm, totalNormAsync } from '../norm';
import { Tensor, zerosLike } from '../tensor';
import { getNumThreads } from '../threads';
import {
  checkArray,
  checkBoolean,
  checkLike,
  checkNumber,
  checkObject,
  checkOptions,
  checkTensor,
  checkTensorList,
  describe,
  checkNoOverlap,
  overlaps,
} from '../validate';
import { OptionRules } from './options';

/** A param group: its params and its hyper-parameters (writable: schedulers change `lr`). */
export type ParamGroup<O> = O & { params: Tensor[]; [extra: string]: unknown };

/** What a user passes for a group: params plus any overrides of the defaults. */
export type ParamGroupInput<O> = { params: readonly Tensor[] } & Partial<O>;

export type ParamsInput<O> = readonly Tensor[] | readonly ParamGroupInput<O>[];

/** Per-param state: the step count and the buffers, under PyTorch's names in camelCase. */
export interface ParamState {
  step?: number;
  [buffer: string]: Tensor | number | undefined;
}

/** The gradients of a step: one per param of every group, in order; null skips that param (PyTorch's `grad is None`). */
export type Grads = ReadonlyArray<Tensor | null>;

export interface StepOptions {
  /** Multiplies every gradient inside the step's own pass (averaging, loss scaling). Default 1. */
  gradScale?: number;
  /** Clip by global norm inside the step: one extra read of the gradients, no extra write. */
  maxGradNorm?: number;
  /** The norm for maxGradNorm (any p > 0, or Infinity). Default 2. */
  normType?: number;
  /** With maxGradNorm: throw ERR_NON_FINITE (and change nothing) if the norm is NaN or infinite. */
  errorIfNonfinite?: boolean;
  /** Compute the norm and, if it is NaN or infinite, change nothing and report `skipped: true`. */
  skipIfNonfinite?: boolean;
}

export interface StepResult {
  /** The global norm of the (scaled) gradients, when the step computed it (maxGradNorm or skipIfNonfinite). */
  gradNorm: number | undefined;
  /** True when skipIfNonfinite found a non-finite gradient and the step changed nothing. */
  skipped: boolean;
}

/** A snapshot of an optimizer (PyTorch's state_dict): plain data, params referred to by index. */
export interface OptimizerStateDict {
  state: Record<number, Record<string, Tensor | number>>;
  paramGroups: Array<Record<string, unknown> & { params: number[] }>;
}

export interface OptimizerSpec<O> {
  /** The class name, for messages and checkpoints. */
  readonly name: string;
  readonly options: OptionRules<O>;
  /** Checks that involve several hyper-parameters (Nesterov needs momentum, ...). */
  checkGroup?(group: O, where: string): void;
  /** The state buffers a param of this group carries, in the kernel's slot order. */
  stateBuffers(group: O): readonly string[];
  /**
   * Every state buffer this optimizer may create under any options. A param
   * keeps a buffer when the option that needed it is switched off (momentum → 0,
   * amsgrad → false), so a state dict may hold any of these, whatever its groups say.
   */
  readonly buffers: readonly string[];
  /** The value a new state buffer starts at (0 unless said otherwise). */
  initialValue?(buffer: string, group: O): number;
  kernel(group: O): UpdateKind;
  /**
   * Writes the kernel's scalars for this group: `step` is the param's step count
   * after this step, `fresh` says the state buffers were created by this step.
   */
  scalars(group: O, step: number, fresh: boolean, gradScale: number, out: Float64Array): void;
}

export interface OptimizerOptions {
  /** Which kernels run the step: 'native' (default) or 'js' (the reference, for tests and baselines). */
  backend?: BackendName;
}

/** One kernel call of a step. */
interface KernelCall {
  kind: UpdateKind;
  buffers: Tensor[];
  scalars: Float64Array;
}

/** A step's options, validated. */
interface CheckedStepOptions {
  gradScale: number;
  norm: NormPlan | null;
  maxGradNorm: number | undefined;
  errorIfNonfinite: boolean;
  skipIfNonfinite: boolean;
}

/** What step(grads) without options means. */
const PLAIN_STEP: CheckedStepOptions = { gradScale: 1, norm: null, maxGradNorm: undefined, errorIfNonfinite: false, skipIfNonfinite: false };

/** A validated step, before anything is changed. */
interface StepPlan<O> extends CheckedStepOptions {
  /** Global index of each param that has a gradient, per group. */
  active: number[][];
  /**
   * Each group's hyper-parameters as validated when the step was planned: the
   * kernels use these, so an edit of paramGroups while a stepAsync is in flight
   * (which nothing can prevent) takes effect at the next step, never half-way.
   */
  hyper: O[];
  grads: Grads;
}

/**
 * A group's kernel call as the last synchronous step made it, for a step over
 * the very same typed arrays (see Optimizer.runPlanned).
 */
interface PlannedCall<O> {
  gi: number;
  /** The group's hyper-parameters as the step that uses the plan validated them. */
  hyper: O;
  kind: UpdateKind;
  /** The state buffer names of the group, in slot order. */
  buffers: readonly string[];
  /** Global indices of the params in the call, in order. */
  indices: number[];
  /** The call's flat buffer list: param, grad, state... per param. */
  tensors: Tensor[];
  /** Each param's length then: every buffer of the param must still have it. */
  lengths: number[];
  scalars: Float64Array;
  /** The backend's plan over `tensors`, made when a second step reuses them. */
  plan: UpdatePlan | null;
}

/** The kernel calls of a synchronous step and the gradients it was given. */
interface PlannedStep<O> {
  grads: Array<Tensor | null>;
  /** The gradients that are not null, in kernel-call order: what a global norm reads. */
  present: Tensor[];
  calls: PlannedCall<O>[];
}

const STEP_OPTIONS = ['gradScale', 'maxGradNorm', 'normType', 'errorIfNonfinite', 'skipIfNonfinite'] as const;

export abstract class Optimizer<O extends { lr: number }> {
  /** The param groups; each holds its params and hyper-parameters. */
  readonly paramGroups: ParamGroup<O>[] = [];
  /** state[i]: the state of the i-th param (counting through all groups in order); {} until its first step. */
  readonly state: ParamState[] = [];
  readonly defaults: Readonly<O>;
  /** The kernels in use: 'native' or 'js'. */
  readonly backend: BackendName;

  private readonly spec: OptimizerSpec<O>;
  private readonly kernels: Backend;
  /** Every param in global order, and which group it is in. */
  private readonly params: Tensor[] = [];
  /** Param indices by ArrayBuffer: the alias check of a step looks up only the params that share a gradient's buffer. */
  private readonly paramsByBuffer = new Map<ArrayBufferLike, number[]>();
  /**
   * Every state tensor by its ArrayBuffer (each has one of its own), so a step
   * can refuse a gradient that is one: the kernels would read it while writing it,
   * on another thread if it belongs to another param.
   */
  private readonly stateByBuffer = new Map<ArrayBufferLike, { index: number; key: string; tensor: Tensor }>();
  private inFlight = false;
  /**
   * Per group, the raw hyper-parameter values last validated and what they
   * resolved to: a step re-validates a group only when a value changed (a
   * scheduler writing lr), so the checks stay and cost a comparison.
   */
  private readonly validated: Array<{ raw: unknown[]; hyper: O } | undefined> = [];
  /** The names of the hyper-parameters (Object.keys of the option rules), listed once: every step compares them. */
  private readonly optionKeys: readonly string[];
  /** Per group, the flat buffer list and scalars of its last uniform kernel call, refilled in place by the next (no allocation per step). */
  private readonly callCache: Array<{ tensors: Tensor[]; scalars: Float64Array } | undefined> = [];
  /**
   * The calls of the last synchronous step, if every group's params shared
   * their step count: the next step given the same gradient tensors runs them
   * through backend plans without resolving or re-checking what cannot have
   * changed (see plannedStillHolds). Null after anything that replaces state or params.
   */
  private planned: PlannedStep<O> | null = null;

  protected constructor(spec: OptimizerSpec<O>, params: ParamsInput<O>, options: Partial<O> & OptimizerOptions | undefined) {
    this.spec = spec;
    const optionNames = Object.keys(spec.options);
    this.optionKeys = optionNames;
    const opts = checkOptions(`${spec.name}: options`, options, [...optionNames, 'backend']);
    this.kernels = getBackend(opts.backend ?? 'native', `${spec.name}: options.backend`);
    this.backend = this.kernels.name;
    this.defaults = this.resolveGroup(opts, null, `${spec.name}: options`);

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
      ? [this.checkGroupInput({ params: list }, `${spec.name}`, `${spec.name}: params`)]
      : list.map((g, i) => this.checkGroupInput(g, `${spec.name}: params[${i}]`));
    checkNoOverlap(`${spec.name}: params`, resolved.flatMap((g) => g.params));
    for (const group of resolved) this.addResolvedGroup(group);
  }

  /** Adds a param group (PyTorch's add_param_group): its keys override the defaults. */
  addParamGroup(group: ParamGroupInput<O>): void {
    this.assertIdle('addParamGroup');
    const resolved = this.checkGroupInput(group, `${this.spec.name}: addParamGroup: group`);
    checkNoOverlap(`${this.spec.name}: params`, [...this.params, ...resolved.params]);
    this.addResolvedGroup(resolved);
    this.planned = null;
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

  /** The number of params in all groups. */
  get paramCount(): number {
    return this.params.length;
  }

  /**
   * One optimizer step over every param that has a gradient. Validates
   * everything first: a call that throws has changed nothing.
   */
  step(grads: Grads, options?: StepOptions): StepResult {
    this.assertIdle('step');
    const opts = this.checkStepOptions(options);
    const threads = getNumThreads();
    const planned = this.planned;
    if (planned !== null && this.plannedStillHolds(planned, grads)) {
      const gradNorm = opts.norm ? totalNorm(this.kernels, planned.present, opts.norm, threads) * Math.abs(opts.gradScale) : undefined;
      const scale = this.effectiveScale(opts, gradNorm);
      if (scale === null) return { gradNorm, skipped: true };
      this.runPlanned(planned, scale, threads);
      return { gradNorm, skipped: false };
    }
    this.planned = null;
    const plan = this.planStep(grads, opts);
    const gradNorm = plan.norm ? totalNorm(this.kernels, this.presentGrads(plan), plan.norm, threads) * Math.abs(plan.gradScale) : undefined;
    const scale = this.effectiveScale(plan, gradNorm);
    if (scale === null) return { gradNorm, skipped: true };
    for (const call of this.commitStep(plan, scale)) this.kernels.update(call.kind, call.buffers, call.scalars, threads);
    this.planned = this.plannedFrom(plan);
    return { gradNorm, skipped: false };
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
    const plan = this.planStep(grads, this.checkStepOptions(options));
    const threads = getNumThreads();
    this.inFlight = true;
    try {
      const gradNorm = plan.norm
        ? (await totalNormAsync(this.kernels, this.presentGrads(plan), plan.norm, threads)) * Math.abs(plan.gradScale)
        : undefined;
      const scale = this.effectiveScale(plan, gradNorm);
      if (scale === null) return { gradNorm, skipped: true };
      for (const call of this.commitStep(plan, scale)) {
        await this.kernels.updateAsync(call.kind, call.buffers, call.scalars, threads);
      }
      return { gradNorm, skipped: false };
    } finally {
      this.inFlight = false;
    }
  }

  /** True while a stepAsync is running. */
  get busy(): boolean {
    return this.inFlight;
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
   * every state buffer. Rejected with ERR_STEP_IN_FLIGHT while a stepAsync runs:
   * the kernels are writing the state, so a copy then would be torn.
   */
  stateDict(): OptimizerStateDict {
    this.assertIdle('stateDict');
    let index = 0;
    const paramGroups = this.paramGroups.map((group) => {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(group)) {
        if (key !== 'params') out[key] = Array.isArray(value) ? [...value] : value;
      }
      out.params = group.params.map(() => index++);
      return out as Record<string, unknown> & { params: number[] };
    });
    const state: OptimizerStateDict['state'] = {};
    this.state.forEach((entry, i) => {
      const keys = Object.keys(entry);
      if (keys.length === 0) return;
      const copy: Record<string, Tensor | number> = {};
      for (const key of keys) {
        const value = entry[key]!;
        copy[key] = typeof value === 'number' ? value : (value.slice() as Tensor);
      }
      state[i] = copy;
    });
    return { state, paramGroups };
  }

  /**
   * Restores a snapshot taken by stateDict() of an optimizer of the same class
   * over params of the same shapes. Checks every count, dtype, length and
   * hyper-parameter first; a call that throws has changed nothing. The params
   * themselves are not touched (as in PyTorch); the buffers are copied.
   */
  loadStateDict(stateDict: OptimizerStateDict): void {
    this.assertIdle('loadStateDict');
    const where = `${this.spec.name}: loadStateDict`;
    const mismatch = (msg: string) => makeError(ErrorCodes.STATE_DICT_MISMATCH, `${where}: ${msg}`);
    const sd = checkObject(`${where}: stateDict`, stateDict);
    const savedGroups = checkArray(`${where}: stateDict.paramGroups`, sd.paramGroups);
    if (savedGroups.length !== this.paramGroups.length) {
      throw mismatch(`stateDict.paramGroups has ${savedGroups.length} groups, the optimizer ${this.paramGroups.length}`);
    }
    // 1. Hyper-parameters of every group, and the param indices.
    let index = 0;
    const newGroups = savedGroups.map((raw, gi) => {
      const name = `${where}: stateDict.paramGroups[${gi}]`;
      const saved = checkObject(name, raw);
      const indices = checkArray(`${name}.params`, saved.params);
      const live = this.paramGroups[gi].params;
      if (indices.length !== live.length) {
        throw mismatch(`stateDict.paramGroups[${gi}].params has ${indices.length} params, the optimizer's group ${live.length}`);
      }
      indices.forEach((value, k) => checkNumber(`${name}.params[${k}]`, value, { integer: true, min: index + k, max: index + k }));
      index += live.length;
      const hyper = this.resolveGroup(saved, null, name, true);
      const extras: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(saved)) {
        if (key !== 'params' && !(key in this.spec.options)) extras[key] = checkExtra(`${name}.${key}`, value);
      }
      return { hyper, extras };
    });
    // 2. State of every param: only known buffers, the param's dtype and length, an integer step.
    const savedState = checkObject(`${where}: stateDict.state`, sd.state);
    const newState: ParamState[] = this.state.map(() => ({}));
    for (const [key, raw] of Object.entries(savedState)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= this.params.length) {
        throw mismatch(`stateDict.state has an entry for param ${JSON.stringify(key)}, the optimizer has params 0..${this.params.length - 1}`);
      }
      const name = `${where}: stateDict.state[${i}]`;
      const entry = checkObject(name, raw);
      const allowed = this.spec.buffers;
      const restored: ParamState = {};
      for (const [buffer, value] of Object.entries(entry)) {
        if (buffer === 'step') {
          restored.step = checkNumber(`${name}.step`, value, { integer: true, min: 0 });
        } else if (allowed.includes(buffer)) {
          const t = checkTensor(`${name}.${buffer}`, value);
          checkLike(`${name}.${buffer}`, t, `params[${i}]`, this.params[i]);
          const copy = zerosLike(this.params[i]);
          copy.set(t);
          restored[buffer] = copy;
        } else {
          throw mismatch(`stateDict.state[${i}] has a buffer ${JSON.stringify(buffer)}; expected step${allowed.map((b) => ', ' + b).join('')}`);
        }
      }
      // A step creates its buffers and its count together: buffers without a count
      // would restart the bias corrections (and SGD's first-step copy) at step 1.
      if (restored.step === undefined && Object.keys(restored).length > 0) {
        throw mismatch(`stateDict.state[${i}] has state buffers but no step count`);
      }
      newState[i] = restored;
    }
    // 3. Nothing threw: apply.
    newGroups.forEach(({ hyper, extras }, gi) => {
      const group = this.paramGroups[gi] as Record<string, unknown>;
      for (const key of Object.keys(group)) if (key !== 'params' && !(key in this.spec.options)) delete group[key];
      Object.assign(group, hyper, extras);
    });
    this.stateByBuffer.clear();
    this.planned = null;
    newState.forEach((entry, i) => {
      this.state[i] = entry;
      for (const [key, value] of Object.entries(entry)) if (typeof value === 'object') this.registerState(i, key, value);
    });
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

  /** Every option of O, from `source` where given, else from `base` (the defaults), else the rule's default. */
  private resolveGroup(source: Record<string, unknown>, base: Readonly<O> | null, where: string, complete = false): O {
    const out: Record<string, unknown> = {};
    for (const [key, rule] of Object.entries(this.spec.options) as [string, OptionRules<O>[keyof O]][]) {
      if (source[key] !== undefined) out[key] = rule.check(`${where}.${key}`, source[key]);
      else if (complete) throw makeError(ErrorCodes.STATE_DICT_MISMATCH, `${where}: missing the hyper-parameter ${key}`);
      else out[key] = rule.copy(base ? (base as Record<string, never>)[key] : rule.default);
    }
    this.spec.checkGroup?.(out as O, where);
    return out as O;
  }

  private checkGroupInput(input: unknown, where: string, paramsName = `${where}.params`): ParamGroup<O> {
    if (!isGroupLike(input)) {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${where}: expected a param group { params, ...options }, got ${describe(input)}`);
    }
    const raw = checkObject(where, input);
    checkOptions(where, raw, ['params', ...Object.keys(this.spec.options)]);
    const params = checkTensorList(paramsName, raw.params);
    const hyper = this.resolveGroup(raw, this.defaults, where);
    return { ...hyper, params: [...params] } as ParamGroup<O>;
  }

  private addResolvedGroup(group: ParamGroup<O>): void {
    this.paramGroups.push(group);
    for (const p of group.params) {
      const indices = this.paramsByBuffer.get(p.buffer);
      if (indices) indices.push(this.params.length);
      else this.paramsByBuffer.set(p.buffer, [this.params.length]);
      this.params.push(p);
      this.state.push({});
    }
  }

  /** Validates a step's options (the first check of a step); changes nothing. */
  private checkStepOptions(options: StepOptions | undefined): CheckedStepOptions {
    if (options === undefined) return PLAIN_STEP;
    const name = this.spec.name;
    const opts = checkOptions(`${name}: step: options`, options, STEP_OPTIONS);
    const gradScale = opts.gradScale === undefined ? 1 : checkNumber(`${name}: step: options.gradScale`, opts.gradScale);
    const maxGradNorm =
      opts.maxGradNorm === undefined ? undefined : checkNumber(`${name}: step: options.maxGradNorm`, opts.maxGradNorm, { min: 0, allowInfinity: true });
    const errorIfNonfinite = opts.errorIfNonfinite === undefined ? false : checkBoolean(`${name}: step: options.errorIfNonfinite`, opts.errorIfNonfinite);
    const skipIfNonfinite = opts.skipIfNonfinite === undefined ? false : checkBoolean(`${name}: step: options.skipIfNonfinite`, opts.skipIfNonfinite);
    const wantsNorm = maxGradNorm !== undefined || skipIfNonfinite || errorIfNonfinite;
    const norm = wantsNorm ? normPlan(`${name}: step: options.normType`, opts.normType ?? 2) : null;
    if (!wantsNorm && opts.normType !== undefined) normPlan(`${name}: step: options.normType`, opts.normType);
    return { gradScale, norm, maxGradNorm, errorIfNonfinite, skipIfNonfinite };
  }

  /** Validates a step's gradients and the current hyper-parameters, after its options; changes nothing. */
  private planStep(grads: Grads, opts: CheckedStepOptions): StepPlan<O> {
    const name = this.spec.name;
    const list = checkArray(`${name}: step: grads`, grads);
    if (list.length !== this.params.length) {
      throw makeError(
        ErrorCodes.SHAPE_MISMATCH,
        `${name}: step: grads: expected ${this.params.length} gradients (one per param, null to skip), got ${list.length}`,
      );
    }
    const active: number[][] = [];
    const hyper: O[] = [];
    let i = 0;
    for (const group of this.paramGroups) {
      // Schedulers and users write hyper-parameters between steps: check them here too.
      hyper.push(this.checkedHyper(active.length));
      const indices: number[] = [];
      for (let k = 0; k < group.params.length; k++, i++) {
        const g = list[i];
        if (g === null) continue;
        const param = this.params[i];
        // The common case in a few comparisons: a typed array of the param's own
        // type and (non-zero, so attached) length. Anything else gets the full
        // checks and their messages.
        const plain = (g instanceof Float32Array || g instanceof Float64Array) && g.constructor === param.constructor && g.length === param.length && g.length !== 0;
        if (!plain) {
          const grad = checkTensor(`${name}: step: grads[${i}]`, g);
          this.checkAttached(i);
          checkLike(`${name}: step: grads[${i}]`, grad, `params[${i}]`, param);
        } else {
          this.checkAttached(i);
        }
        indices.push(i);
      }
      active.push(indices);
    }
    this.checkGradsDoNotAlias(list as Grads);
    return { ...opts, active, hyper, grads: list as Grads };
  }

  /**
   * A param or state buffer whose ArrayBuffer was transferred (postMessage to a
   * worker) is detached: say so, before anything changes, rather than report a
   * length mismatch or fail in the kernel after the step counts have advanced.
   */
  private checkAttached(i: number): void {
    // A detached view has length 0: only a zero length needs the full check.
    const state = this.state[i];
    let suspect = this.params[i].length === 0;
    for (const key in state) {
      const value = state[key];
      if (typeof value === 'object' && value.length === 0) suspect = true;
    }
    if (!suspect) return;
    checkTensor(`${this.spec.name}: step: params[${i}]`, this.params[i]);
    for (const [key, value] of Object.entries(this.state[i])) {
      if (typeof value !== 'number' && value !== undefined) checkTensor(`${this.spec.name}: step: state[${i}].${key}`, value);
    }
  }

  /** Group `gi`'s hyper-parameters, validated (resolveGroup) unless every value is the one validated last time. */
  private checkedHyper(gi: number): O {
    const group = this.paramGroups[gi] as Record<string, unknown>;
    const keys = this.optionKeys;
    const cached = this.validated[gi];
    if (cached && sameValues(group, keys, cached.raw)) return cached.hyper;
    const hyper = this.resolveGroup(group, this.defaults, `${this.spec.name}: paramGroups[${gi}]`);
    this.validated[gi] = { raw: keys.map((key) => (Array.isArray(group[key]) ? [...(group[key] as unknown[])] : group[key])), hyper };
    return hyper;
  }

  /** A gradient must not share memory with any param (the same buffer passed as both, say). */
  private checkGradsDoNotAlias(grads: Grads): void {
    for (let i = 0; i < grads.length; i++) {
      const g = grads[i];
      if (g === null) continue;
      for (const j of this.paramsByBuffer.get(g.buffer) ?? []) {
        if (overlaps(this.params[j], g)) {
          throw makeError(
            ErrorCodes.INVALID_ARG_VALUE,
            `${this.spec.name}: step: grads[${i}]: shares memory with params[${j}]; a gradient needs its own buffer`,
          );
        }
      }
      const owner = this.stateByBuffer.get(g.buffer);
      if (owner && overlaps(owner.tensor, g)) {
        throw makeError(
          ErrorCodes.INVALID_ARG_VALUE,
          `${this.spec.name}: step: grads[${i}]: shares memory with state[${owner.index}].${owner.key}; a gradient needs its own buffer`,
        );
      }
    }
  }

  private registerState(index: number, key: string, tensor: Tensor): void {
    this.stateByBuffer.set(tensor.buffer, { index, key, tensor });
  }

  private presentGrads(plan: StepPlan<O>): Tensor[] {
    return plan.active.flat().map((i) => plan.grads[i]!);
  }

  /** The scale the kernels apply, or null to skip the step; throws ERR_NON_FINITE when asked to. */
  private effectiveScale(plan: CheckedStepOptions, gradNorm: number | undefined): number | null {
    if (gradNorm === undefined) return plan.gradScale;
    if (!Number.isFinite(gradNorm)) {
      if (plan.errorIfNonfinite) {
        throw makeError(
          ErrorCodes.NON_FINITE,
          `${this.spec.name}: step: the total norm of order ${plan.norm!.p} of the gradients is ${gradNorm}; nothing was changed`,
        );
      }
      if (plan.skipIfNonfinite) return null;
    }
    return plan.maxGradNorm === undefined ? plan.gradScale : plan.gradScale * clipCoefficient(plan.maxGradNorm, gradNorm);
  }

  /** Creates missing state, advances step counts and lists the kernel calls. The first mutation of a step. */
  private commitStep(plan: StepPlan<O>, gradScale: number): KernelCall[] {
    const calls: KernelCall[] = [];
    plan.active.forEach((indices, gi) => {
      if (indices.length === 0) return;
      const group = plan.hyper[gi];
      const buffers = this.spec.stateBuffers(group);
      const kind = this.spec.kernel(group);
      const step = this.commonStep(indices, buffers);
      if (step !== null) {
        calls.push(this.uniformCall(gi, kind, group, indices, buffers, plan.grads, step + 1, gradScale));
        return;
      }
      // Params of a group usually share their step count; those that do not
      // (a param skipped with a null gradient earlier) get a call of their own.
      const batches = new Map<string, { step: number; fresh: boolean; tensors: Tensor[] }>();
      for (const i of indices) {
        const state = this.state[i];
        let fresh = false;
        for (const b of buffers) {
          if (state[b] === undefined) {
            const t = zerosLike(this.params[i]);
            const init = this.spec.initialValue?.(b, group) ?? 0;
            if (init !== 0) t.fill(init);
            state[b] = t;
            this.registerState(i, b, t);
            fresh = true;
          }
        }
        const step = (state.step ?? 0) + 1;
        state.step = step;
        const key = `${step}:${fresh}`;
        let batch = batches.get(key);
        if (!batch) batches.set(key, (batch = { step, fresh, tensors: [] }));
        batch.tensors.push(this.params[i], plan.grads[i]!);
        for (const b of buffers) batch.tensors.push(state[b] as Tensor);
      }
      for (const batch of batches.values()) {
        const scalars = new Float64Array(UPDATE_KERNELS[kind].scalarCount);
        this.spec.scalars(group, batch.step, batch.fresh, gradScale, scalars);
        calls.push({ kind, buffers: batch.tensors, scalars });
      }
    });
    return calls;
  }

  /**
   * The calls of the plain step just run, for the next one with the same
   * gradients; null if a group's params do not share their step count.
   */
  private plannedFrom(plan: StepPlan<O>): PlannedStep<O> | null {
    const calls: PlannedCall<O>[] = [];
    for (let gi = 0; gi < plan.active.length; gi++) {
      const indices = plan.active[gi];
      if (indices.length === 0) continue;
      const hyper = plan.hyper[gi];
      const buffers = this.spec.stateBuffers(hyper);
      if (this.commonStep(indices, buffers) === null) return null;
      const kind = this.spec.kernel(hyper);
      const tensors: Tensor[] = [];
      for (const i of indices) {
        tensors.push(this.params[i], plan.grads[i]!);
        for (const b of buffers) tensors.push(this.state[i][b] as Tensor);
      }
      const lengths = indices.map((i) => this.params[i].length);
      calls.push({ gi, hyper, kind, buffers, indices: [...indices], tensors, lengths, scalars: new Float64Array(UPDATE_KERNELS[kind].scalarCount), plan: null });
    }
    return { grads: [...plan.grads], present: this.presentGrads(plan), calls };
  }

  /**
   * Whether a step given `grads` can run the planned calls: false, having
   * changed nothing, if anything differs from the plan, and the full pipeline
   * runs instead.
   *
   * What it checks, and why that is every check of planStep: the gradients are
   * the very tensors planStep accepted last time (type, dtype and aliasing with
   * params and state cannot change for the same objects), every state buffer is
   * the one planned and every param shares one step count, every buffer still
   * has its planned length (a detached view has length 0; a view of a resized
   * buffer changes length), and each group's hyper-parameters are re-validated
   * as planStep does (checkedHyper: throws just as it would, before anything
   * changes). Nothing but the step's own norm reduction runs between these
   * checks and the synchronous kernel calls, and the backend checks each
   * buffer's length and address again itself.
   */
  private plannedStillHolds(planned: PlannedStep<O>, grads: Grads): boolean {
    if (!Array.isArray(grads) || grads.length !== planned.grads.length) return false;
    for (let i = 0; i < grads.length; i++) if (grads[i] !== planned.grads[i]) return false;
    const calls = planned.calls;
    let c = 0;
    for (let gi = 0; gi < this.paramGroups.length; gi++) {
      const hyper = this.checkedHyper(gi);
      if (c === calls.length || calls[c].gi !== gi) continue;
      const call = calls[c++];
      if (this.spec.kernel(hyper) !== call.kind || !sameNames(this.spec.stateBuffers(hyper), call.buffers)) return false;
      if (!this.callStillHolds(call)) return false;
      call.hyper = hyper;
    }
    return true;
  }

  /** Runs the planned calls (after plannedStillHolds) with the kernels' gradient scale `gradScale`, then advances the step counts. */
  private runPlanned(planned: PlannedStep<O>, gradScale: number, threads: number): void {
    const calls = planned.calls;
    for (const call of calls) {
      call.scalars.fill(0);
      this.spec.scalars(call.hyper, (this.state[call.indices[0]].step as number) + 1, false, gradScale, call.scalars);
      if (call.plan === null) call.plan = this.kernels.createPlan(call.kind, call.tensors);
    }
    for (const call of calls) this.kernels.updatePlanned(call.plan!, call.scalars, threads);
    for (const call of calls) {
      const step = (this.state[call.indices[0]].step as number) + 1;
      for (const i of call.indices) this.state[i].step = step;
    }
  }

  /** Every state buffer of the call is the planned one, every param shares the step count, every buffer has its planned length. */
  private callStillHolds(call: PlannedCall<O>): boolean {
    const { indices, buffers, tensors, lengths } = call;
    const step = this.state[indices[0]].step;
    const width = 2 + buffers.length;
    for (let t = 0, k = 0; t < indices.length; t++, k += width) {
      const state = this.state[indices[t]];
      if (state.step !== step) return false;
      for (let b = 0; b < buffers.length; b++) if (state[buffers[b]] !== tensors[k + 2 + b]) return false;
      const length = lengths[t];
      for (let j = k; j < k + width; j++) if (tensors[j].length !== length) return false;
    }
    return true;
  }

  /** The step count every param of `indices` shares, if all of them already have all their state buffers; else null. */
  private commonStep(indices: readonly number[], buffers: readonly string[]): number | null {
    const step = this.state[indices[0]].step;
    if (step === undefined) return null;
    for (const i of indices) {
      const state = this.state[i];
      if (state.step !== step) return null;
      for (const b of buffers) if (state[b] === undefined) return null;
    }
    return step;
  }

  /** The kernel call of a group whose params share a step count and have their state: the cached arrays, refilled. */
  private uniformCall(
    gi: number,
    kind: UpdateKind,
    group: O,
    indices: readonly number[],
    buffers: readonly string[],
    grads: Grads,
    step: number,
    gradScale: number,
  ): KernelCall {
    const scalarCount = UPDATE_KERNELS[kind].scalarCount;
    let cache = this.callCache[gi];
    if (!cache || cache.scalars.length !== scalarCount) cache = this.callCache[gi] = { tensors: [], scalars: new Float64Array(scalarCount) };
    const tensors = cache.tensors;
    tensors.length = indices.length * (2 + buffers.length);
    let k = 0;
    for (const i of indices) {
      const state = this.state[i];
      state.step = step;
      tensors[k++] = this.params[i];
      tensors[k++] = grads[i]!;
      for (const b of buffers) tensors[k++] = state[b] as Tensor;
    }
    cache.scalars.fill(0);
    this.spec.scalars(group, step, false, gradScale, cache.scalars);
    return { kind, buffers: tensors, scalars: cache.scalars };
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether every `keys[k]` of `group` is sameValue as `validated[k]` (a loop, not every(): this runs per group per step). */
function sameValues(group: Record<string, unknown>, keys: readonly string[], validated: readonly unknown[]): boolean {
  for (let k = 0; k < keys.length; k++) if (!sameValue(group[keys[k]], validated[k])) return false;
  return true;
}

/** Equal as hyper-parameter values: the same number, boolean or string, or arrays of equal elements. */
function sameValue(value: unknown, validated: unknown): boolean {
  if (!Array.isArray(validated)) return Object.is(value, validated);
  if (!Array.isArray(value) || value.length !== validated.length) return false;
  for (let i = 0; i < value.length; i++) if (!Object.is(value[i], validated[i])) return false;
  return true;
}

/** A param group is a plain object; arrays and typed arrays (which are objects too) are not. */
function isGroupLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/** Extra group keys (a scheduler's initialLr, ...) must be plain JSON-like data. */
function checkExtra(name: string, value: unknown): unknown {
  const ok = (v: unknown): boolean =>
    v === null ||
    typeof v === 'string' ||
    typeof v === 'boolean' ||
    (typeof v === 'number' && !Number.isNaN(v)) ||
    (Array.isArray(v) && v.every(ok));
  if (!ok(value)) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a number, string, boolean or an Array of them, got ${describe(value)}`);
  }
  return Array.isArray(value) ? JSON.parse(JSON.stringify(value)) : value;
}

