/**
 * FusedOptimizer: a tf.Optimizer whose step is a fusedoptim optimizer's, so
 * model.compile / model.fit / fitDataset / trainOnBatch / minimize train with
 * fusedoptim's kernels, clipping and schedulers.
 *
 * Variables: trainable ones only (others are skipped, as frozen), in the
 * order the gradients first list them (model.fit lists the model's trainable
 * weights in layer order), which is also the order their state is saved and,
 * as with TensorFlow.js's own optimizers, matched by when loaded. Not by
 * name: a model built twice in one process gets new layer numbers, and
 * `dense_Dense9` / `dense_Dense10` sort the other way round than
 * `dense_Dense11` / `dense_Dense12`. The first step makes one param group of
 * the variables it sees; a variable first seen later (a model that grows)
 * gets a param group of its own with the optimizer's options and the current lr.
 *
 * A step: every check (names, variables, dtypes, shapes, gradients) → every
 * variable's param prepared (param_slot.ts; changes no tensor) → ONE fusedoptim
 * step over all params (clipping inside it) → write-back. A step that throws
 * leaves every variable and the optimizer state as they were.
 *
 * Modes (an optimizer whose registry capabilities say `modes`: Schedule-Free).
 * Training is what applyGradients does, so the bridge is in train mode: the
 * first step builds the optimizer and puts it there, and the variables hold
 * the point where gradients are taken (y). eval() moves the optimizer's
 * params to the point the model is evaluated at (x) and writes them into the
 * variables; train() moves them back. A step in eval mode throws
 * ERR_NOT_IN_TRAIN_MODE, as the optimizer's own does. Before the first step
 * the bridge holds no params (it learns the variables from the gradients):
 * with no state, nothing needs to move and train() and eval() set the mode
 * the first step starts in; state from setWeights brings its own mode, and
 * to switch it before any step (a model saved in eval mode, loaded to train
 * on) train() and eval() take the variables: model.fit takes the first
 * gradients before applyGradients could move them. For every other
 * optimizer train() and eval() do nothing: its variables are the model's
 * weights for training and evaluation alike.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ErrorCodes, isFusedOptimError, makeError } from '../errors';
import { Optimizer, modesOf } from '../optim/core/optimizer';
import type { OptimizerStateDict } from '../optim/core/optimizer';
import { StepOptions, checkStepOptions } from '../optim/core/step_checks';
import { OPTIMIZERS, entryOfClass } from '../optim/registry';
import type { OptimizerCapabilities } from '../optim/registry';
import type { GroupState } from '../optim/core/spec';
import type { SchedulableOptimizer } from '../schedulers';
import { checkFunction, checkObject, checkOptions, describe } from '../validate';
import { valuesOf } from './backends';
import { ParamSlot } from './param_slot';
import { FusedSchedule } from './scheduler';
import { DecodedState, NamedTensor, decodeState, encodeGroups, encodeState } from './weights';

const NAME = 'FusedOptimizer';

/** A fusedoptim optimizer of any options (each has an lr): what `FusedOptimizer.optimizer` holds. */
export type AnyFusedOptimizer = Optimizer<{
  /** The learning rate: the one hyper-parameter every optimizer has, and what a schedule drives. */
  lr: number;
}>;

/** Any fusedoptim optimizer class: `new Class(params, options)`. */
export type FusedOptimizerClass = new (params: Float32Array[], options?: never) => AnyFusedOptimizer;

/** The classes a saved model's optimizer config may name (getConfig / fromConfig): every step optimizer of the registry. */
const CLASSES: Record<string, FusedOptimizerClass> = Object.fromEntries(
  OPTIMIZERS.filter((e) => !e.capabilities.closure).map((e) => [e.name, e.class as unknown as FusedOptimizerClass]),
);

/** How the wrapper steps: fused clipping and a schedule. */
export interface FusedOptimizerOptions {
  /**
   * Clip the gradients by their global norm inside the step (PyTorch's clip_grad_norm_).
   * As there, one NaN gradient element makes the norm NaN and every variable NaN
   * (see StepOptions.maxGradNorm; the wrapper does not skip such steps).
   */
  maxGradNorm?: number;
  /** The norm for maxGradNorm (default 2). */
  normType?: number;
  /** A schedule from fused.scheduler(...) driving the lr. */
  scheduler?: FusedSchedule;
}

/** A tf.Optimizer whose every step is one fusedoptim step over all the model's variables. */
export class FusedOptimizer extends tf.Optimizer {
  /** The name the optimizer is registered under with tf.serialization. */
  static className = NAME;

  /** The wrapped fusedoptim class and its options, as given. */
  readonly optimizerClass: FusedOptimizerClass;
  /** The options the wrapped optimizer is built with. */
  readonly optimizerOptions: Readonly<Record<string, unknown>>;
  /** The schedule driving the lr, or null. */
  readonly schedule: FusedSchedule | null;

  /**
   * What the class can do, from the registry: `shapes` (Adafactor's: the
   * variables' shapes are given to it), `modes` (Schedule-Free's train and eval).
   */
  private readonly capabilities: OptimizerCapabilities;
  /** The class's name in the registry, and the values each of its groups keeps (spec.groupState: Schedule-Free's k, ..., trainMode). */
  private readonly declared: { readonly name: string; readonly groupValues: readonly string[] };
  /**
   * Train mode (true) or eval mode, for a class with modes: the wrapped
   * optimizer's once it exists, else the mode its first step brings it to.
   * Always true for a class without modes.
   */
  private trainMode = true;
  /** Passed to every step; undefined: a plain step. */
  private readonly stepOptions: StepOptions | undefined;
  /** The one lr every group takes; what a schedule drives. */
  private readonly lrHolder: SchedulableOptimizer;
  private inner: AnyFusedOptimizer | null = null;
  private readonly slots: ParamSlot[] = [];
  private readonly slotOf = new Map<string, number>();
  /**
   * State from setWeights before the first step, installed when the params
   * exist; until then getWeights gives it back as it came (a model loaded
   * and saved again before any step keeps its optimizer's state).
   */
  private pendingState: DecodedState | null = null;

  constructor(optimizerClass: FusedOptimizerClass, options: Record<string, unknown> = {}, fusedOptions: FusedOptimizerOptions = {}) {
    super();
    checkFunction(`${NAME}: optimizerClass`, optimizerClass);
    const className = optimizerClass.name || describe(optimizerClass);
    if (!(optimizerClass.prototype instanceof Optimizer)) {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${NAME}: optimizerClass: expected a fusedoptim optimizer class (AdamW, SGD, ...), got ${className}`);
    }
    // The class's declaration, from the registry: a registered class, or a user's subclass of one.
    const entry = entryOfClass(optimizerClass);
    if (entry === undefined || entry.resolveOptions === null) {
      throw makeError(
        ErrorCodes.INVALID_ARG_TYPE,
        `${NAME}: optimizerClass: ${className} is neither an optimizer of fusedoptim's registry (lib/optim/index.ts) nor a subclass of one; ` +
          'the bridge reads its options and capabilities from there',
      );
    }
    const opts = checkObject(`${NAME}: options`, options);
    if (opts.shapes !== undefined) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${NAME}: options.shapes: each variable's own shape is given to the optimizer; leave shapes out`);
    }
    // Checked now, as the class's constructor will check them at the first step; and the default lr read.
    const resolved = entry.resolveOptions(opts);
    const fused = checkOptions(`${NAME}: third argument`, fusedOptions, ['maxGradNorm', 'normType', 'scheduler']);
    const step: StepOptions = {};
    if (fused.maxGradNorm !== undefined) step.maxGradNorm = fused.maxGradNorm as number;
    if (fused.normType !== undefined) step.normType = fused.normType as number;
    checkStepOptions(NAME, step);
    this.stepOptions = Object.keys(step).length > 0 ? step : undefined;
    if (fused.scheduler !== undefined && !(fused.scheduler instanceof FusedSchedule)) {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${NAME}: scheduler: expected what fused.scheduler(...) returns, got ${describe(fused.scheduler)}`);
    }
    this.optimizerClass = optimizerClass;
    this.optimizerOptions = Object.freeze({ ...opts });
    this.capabilities = entry.capabilities;
    this.declared = { name: entry.name, groupValues: (entry.spec?.groupState ?? []).map((value) => value.name) };
    this.lrHolder = { paramGroups: [{ lr: resolved.lr as number }] };
    this.schedule = (fused.scheduler as FusedSchedule | undefined) ?? null;
    this.schedule?.attach(this.lrHolder, NAME);
  }

  /** The lr of the next step (a schedule's, when one drives it). */
  get lr(): number {
    return this.lrHolder.paramGroups[0].lr;
  }

  /** Sets the lr of the next step (a schedule overwrites it at its next step). */
  set lr(value: number) {
    this.lrHolder.paramGroups[0].lr = value; // checked by the wrapped optimizer at the step
  }

  /** The wrapped fusedoptim optimizer, once the first step created it (its state, stateDict, hooks). */
  get optimizer(): AnyFusedOptimizer | null {
    return this.inner;
  }

  /** The variables' names in the optimizer's param order. */
  get variableNames(): string[] {
    return this.slots.map((s) => s.name);
  }

  /** How each variable's values reach the optimizer (see backends.ts), by name. */
  writePaths(): Record<string, string> {
    return Object.fromEntries(this.slots.map((s) => [s.name, s.path]));
  }

  /**
   * True in train mode. An optimizer with modes (Schedule-Free) is in train
   * mode from the first step unless eval() (or state loaded by setWeights)
   * put it in eval mode; any other optimizer is always in train mode.
   */
  get training(): boolean {
    return this.trainMode;
  }

  /**
   * Train mode: for an optimizer with modes (Schedule-Free), moves its params
   * to where gradients are taken (y) and writes them into the variables;
   * nothing if already there. Call it after eval() before training again.
   * For any other optimizer, does nothing.
   *
   * `variables` (a model's `trainableWeights`, or tf.Variables) are needed
   * only before the first step, when state from setWeights is in eval mode:
   * the optimizer learns its variables from the gradients, and these must
   * move before any gradient is taken. They become its params as that step's
   * would (in this order, matched to the state by position); without them
   * that case throws ERR_INVALID_ARG_VALUE. Before the first step with no such
   * state, nothing needs to move: train() and eval() set the mode the first
   * step starts in.
   */
  train(variables?: readonly TrainableVariable[]): void {
    this.setMode(true, variables, `${NAME}: train`);
  }

  /**
   * Eval mode: for an optimizer with modes (Schedule-Free), moves its params
   * to the point the model is evaluated at (x) and writes them into the
   * variables, so model.evaluate / predict / save see x; train() moves them
   * back. A step in eval mode throws ERR_NOT_IN_TRAIN_MODE. For any other
   * optimizer, does nothing. `variables`: as train()'s, for state from
   * setWeights in train mode before the first step.
   */
  eval(variables?: readonly TrainableVariable[]): void {
    this.setMode(false, variables, `${NAME}: eval`);
  }

  private setMode(train: boolean, variables: readonly TrainableVariable[] | undefined, where: string): void {
    if (!this.capabilities.modes) return;
    if (variables !== undefined) {
      const given = checkedVariables(variables, where);
      for (const v of given) this.checkKnownSize(v, where);
      this.addParams(given.filter((v) => !this.slotOf.has(v.name)), where);
      for (const v of given) this.slots[this.slotOf.get(v.name)!].bind(v);
    }
    const pending = this.pendingState;
    if (this.inner === null && pending !== null && pending.groups.length > 0 && pending.groups[0].trainMode !== train) {
      const [held, verb] = train ? ['x', 'train'] : ['y', 'eval'];
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `${where}: the state given to setWeights is in ${train ? 'eval' : 'train'} mode: its variables hold ${held} and must move ` +
          `before any gradient is taken, but the optimizer learns which variables are its params only from its first step's gradients; ` +
          `pass them, in the order the state was saved in: ${verb}(model.trainableWeights)`,
      );
    }
    this.trainMode = train;
    this.syncMode();
  }

  /** A variable registered again under a known name (a rebuilt model) must fit the param kept for it. */
  private checkKnownSize(variable: tf.Variable, where: string): void {
    const known = this.slotOf.get(variable.name);
    if (known !== undefined && this.slots[known].param.length !== variable.size) {
      throw makeError(
        ErrorCodes.SHAPE_MISMATCH,
        `${where}: ${JSON.stringify(variable.name)}: the variable now has ${variable.size} elements, ${this.slots[known].param.length} when the optimizer first saw it`,
      );
    }
  }

  /**
   * Brings the wrapped optimizer (if it exists) to `trainMode`, the variables
   * moving with its params: every param prepared (changing no tensor), the
   * optimizer switched, every param written back. A variable disposed since is
   * skipped (one registered again under its name brings its own values to the
   * next step, as at any step).
   */
  private syncMode(): void {
    const inner = this.capabilities.modes ? modesOf(this.inner) : null;
    if (inner === null || inner.training === this.trainMode) return;
    const live = this.slots.filter((slot) => !slot.disposed);
    for (const slot of live) slot.prepare();
    if (this.trainMode) inner.train();
    else inner.eval();
    for (const slot of live) slot.writeBack();
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const where = `${NAME}: applyGradients`;
    const given = checkedGradients(variableGradients, where);
    for (const g of given) this.checkKnownSize(g.variable, where);
    // Variables not seen before, in the order given.
    this.addParams(given.filter((g) => !this.slotOf.has(g.variable.name)).map((g) => g.variable), where);
    const inner = this.inner!;
    const grads: (Float32Array | null)[] = new Array(this.slots.length).fill(null);
    const stepped = given.map((g) => {
      const index = this.slotOf.get(g.variable.name)!;
      grads[index] = g.values;
      this.slots[index].bind(g.variable);
      return this.slots[index];
    });
    // Nothing visible changes before the step: prepare() only brings the params up to date.
    for (const slot of stepped) slot.prepare();
    inner.lr = this.lr;
    inner.step(grads, this.stepOptions);
    for (const slot of stepped) slot.writeBack();
    this.incrementIterations();
    this.schedule?.afterBatch();
  }

  /**
   * Params for `variables`: the optimizer itself on the first step (with any
   * state from setWeights, checked against them, and in the bridge's mode),
   * else a new param group.
   * Kept even if the step then throws: the new params hold the variables'
   * values and no state, so nothing anyone sees has changed.
   */
  private addParams(variables: tf.Variable[], where: string): void {
    if (variables.length === 0) return;
    const slots = variables.map((v) => new ParamSlot(v));
    const params = slots.map((s) => s.param);
    const shapes = this.capabilities.shapes ? { shapes: slots.map((s) => s.shape) } : {};
    const created = this.inner === null;
    if (!created) {
      this.inner!.addParamGroup({ params, ...shapes });
    } else {
      const inner = new this.optimizerClass(params, { ...this.optimizerOptions, ...shapes } as never);
      if (this.pendingState !== null) {
        const from = `${where}: the state given to setWeights`;
        try {
          inner.loadStateDict(this.stateDictFor(inner, this.pendingState, from));
        } catch (err) {
          // Say where the state came from: setWeights accepted it before any param existed to check it against.
          throw isFusedOptimError(err) && !err.message.startsWith(from) ? makeError(err.code, `${from}: ${err.message}`) : err;
        }
      }
      this.inner = inner;
      this.pendingState = null;
    }
    for (const slot of slots) {
      this.slotOf.set(slot.name, this.slots.length);
      this.slots.push(slot);
    }
    // A new optimizer with modes starts in eval mode (with no z yet, nothing moves to put it in train
    // mode); state from setWeights is in the mode it was saved in, which is the bridge's since.
    if (created) this.syncMode();
  }

  /**
   * The state as TensorFlow.js weights: `iter`, then the values each param
   * group keeps (`paramGroups[<g>]/<name>`, for an optimizer that keeps any:
   * Schedule-Free's k, ..., trainMode), then `<variable>/<state>` for every
   * variable (weights.ts has the encoding).
   */
  override async getWeights(): Promise<NamedTensor[]> {
    const iter = await this.saveIterations();
    const where = `${NAME}: getWeights`;
    if (this.inner !== null) {
      const { state, paramGroups } = this.inner.stateDict();
      const groups = paramGroups.map((group) => Object.fromEntries(this.declared.groupValues.map((name) => [name, group[name] as number | boolean])));
      return [iter, ...encodeGroups(groups), ...encodeState(this.variableNames, this.slots.map((s) => s.shape), state, where)];
    }
    // Not stepped yet: the state setWeights gave, under the names it was saved with (matched by position when loaded).
    const pending = this.pendingState;
    return pending === null ? [iter] : [iter, ...encodeGroups(pending.groups), ...encodeState(pending.names, pending.shapes, pending.params, where)];
  }

  /** Restores state that getWeights returned (checked before anything changes). */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const where = `${NAME}: setWeights`;
    const decoded = await decodeState(weightValues, where);
    if (this.inner !== null) {
      this.inner.loadStateDict(this.stateDictFor(this.inner, decoded, where));
      // The variables are not moved (as loadStateDict leaves params): the state says which point they hold.
      const modes = this.capabilities.modes ? modesOf(this.inner) : null;
      if (modes !== null) this.trainMode = modes.training;
    } else {
      this.pendingState = decoded;
      const saved = decoded.groups[0]?.trainMode;
      if (this.capabilities.modes && typeof saved === 'boolean') this.trainMode = saved;
    }
    this.iterations_ = decoded.iterations;
  }

  /**
   * Saved state (per-param state in saved order, each group's values) as a
   * state dict of `inner`, params matched by position; the groups'
   * hyper-parameters are the live ones (a model's optimizer options come from
   * its config). Weights without group values keep the live groups' values,
   * unless the class keeps some and the weights hold state that needs them.
   */
  private stateDictFor(inner: AnyFusedOptimizer, saved: DecodedState, where: string): OptimizerStateDict {
    const { params, groups } = saved;
    const mismatch = (message: string) => makeError(ErrorCodes.STATE_DICT_MISMATCH, `${where}: ${message}`);
    if (params.length !== inner.paramCount) throw mismatch(`state for ${params.length} variables, the optimizer has ${inner.paramCount}`);
    const live = inner.stateDict();
    const state: OptimizerStateDict['state'] = {};
    params.forEach((p, i) => {
      if (Object.keys(p).length > 0) state[i] = p;
    });
    const { name, groupValues } = this.declared;
    if (groups.length === 0) {
      if (groupValues.length > 0 && Object.keys(state).length > 0) {
        throw mismatch(`the weights hold state but no values of its param groups (paramGroups[0]/${groupValues[0]}, ...), which every ${name} group keeps`);
      }
      return { state, paramGroups: live.paramGroups };
    }
    if (groups.length !== live.paramGroups.length) throw mismatch(`values for ${groups.length} param groups, the optimizer has ${live.paramGroups.length}`);
    const paramGroups = live.paramGroups.map((group, gi) => {
      const values: GroupState = groups[gi];
      for (const key of Object.keys(values)) if (!groupValues.includes(key)) throw mismatch(`paramGroups[${gi}]/${key}: ${name} keeps no group value ${key}`);
      for (const key of groupValues) if (!(key in values)) throw mismatch(`paramGroups[${gi}] lacks ${key}, which every ${name} group keeps`);
      return { ...group, ...values };
    });
    return { state, paramGroups };
  }

  override getConfig(): tf.serialization.ConfigDict {
    const name = Object.keys(CLASSES).find((k) => CLASSES[k] === this.optimizerClass);
    if (name === undefined) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${NAME}: getConfig: ${this.optimizerClass.name} is not one of ${Object.keys(CLASSES).join(', ')}; only those are saved with a model`);
    }
    // `name` is the one key TensorFlow.js's loader leaves as it is (it camel-cases other strings).
    return { name, options: { ...this.optimizerOptions } as tf.serialization.ConfigDict, ...this.stepOptions };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    const name = String(config.name);
    const Class = CLASSES[name];
    if (Class === undefined) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${NAME}: fromConfig: unknown optimizer ${JSON.stringify(name)} (expected one of ${Object.keys(CLASSES).join(', ')})`);
    }
    const step: FusedOptimizerOptions = {};
    if (config.maxGradNorm !== undefined) step.maxGradNorm = config.maxGradNorm as number;
    if (config.normType !== undefined) step.normType = config.normType as number;
    return new (cls as unknown as typeof FusedOptimizer)(Class, (config.options ?? {}) as Record<string, unknown>, step) as unknown as T;
  }

  override dispose(): void {
    super.dispose();
    this.inner = null;
    this.pendingState = null;
    this.slots.length = 0;
    this.slotOf.clear();
  }
}

tf.serialization.registerClass(FusedOptimizer);

/** A variable as train() and eval() take it: a tf.Variable, or a tfjs-layers LayerVariable (a model's `trainableWeights`). */
export type TrainableVariable =
  | tf.Variable
  | {
      /** The tf.Variable that holds the weight's values (a LayerVariable's). */
      read(): tf.Tensor;
    };

/** The variables given to train() / eval(), checked as a step checks its gradients' variables (frozen and empty ones skipped). */
function checkedVariables(input: unknown, where: string): tf.Variable[] {
  if (!Array.isArray(input)) throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${where}: variables: expected an Array of tf.Variable (or a model's trainableWeights), got ${describe(input)}`);
  const seen = new Set<string>();
  const out: tf.Variable[] = [];
  input.forEach((entry: unknown, i) => {
    const read = (entry as { read?: unknown } | null)?.read;
    const variable = entry instanceof tf.Variable ? entry : typeof read === 'function' ? (read.call(entry) as unknown) : entry;
    if (!(variable instanceof tf.Variable)) {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${where}: variables[${i}]: expected a tf.Variable or a LayerVariable, got ${describe(entry)}`);
    }
    const at = `${where}: variables[${i}] (${JSON.stringify(variable.name)})`;
    if (variable.isDisposed) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${at}: the variable is disposed`);
    if (seen.has(variable.name)) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${at}: given twice`);
    seen.add(variable.name);
    if (!variable.trainable || variable.size === 0) return;
    if (variable.dtype !== 'float32') throw makeError(ErrorCodes.DTYPE_MISMATCH, `${at}: fusedoptim steps float32 variables, got a ${variable.dtype} one`);
    out.push(variable);
  });
  return out;
}

/** A step's gradients, checked: the variable and float32 values of each gradient given (null ones and frozen variables skipped). */
function checkedGradients(input: unknown, where: string): { variable: tf.Variable; values: Float32Array }[] {
  if (typeof input !== 'object' || input === null) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${where}: expected { name: tensor } or [{ name, tensor }], got ${describe(input)}`);
  }
  const pairs: [string, unknown][] = Array.isArray(input)
    ? input.map((entry, i) => {
        const e = entry as { name?: unknown; tensor?: unknown } | null;
        if (typeof e !== 'object' || e === null || typeof e.name !== 'string') {
          throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${where}: [${i}]: expected { name: string, tensor }, got ${describe(entry)}`);
        }
        return [e.name, e.tensor];
      })
    : Object.entries(input);
  const registered = tf.engine().registeredVariables;
  const seen = new Set<string>();
  const out: { variable: tf.Variable; values: Float32Array }[] = [];
  for (const [name, tensor] of pairs) {
    const at = `${where}: ${JSON.stringify(name)}`;
    if (seen.has(name)) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${at}: given twice`);
    seen.add(name);
    if (tensor === null || tensor === undefined) continue; // no gradient (minimize passes these for frozen variables)
    if (!(tensor instanceof tf.Tensor)) throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${at}: expected a tf.Tensor gradient, got ${describe(tensor)}`);
    if (tensor.isDisposed) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${at}: the gradient is disposed`);
    const variable = Object.prototype.hasOwnProperty.call(registered, name) ? registered[name] : undefined;
    if (variable === undefined) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${at}: no variable of that name is registered (was it disposed?)`);
    }
    if (!variable.trainable) continue;
    if (variable.dtype !== 'float32' || tensor.dtype !== 'float32') {
      throw makeError(ErrorCodes.DTYPE_MISMATCH, `${at}: fusedoptim steps float32 variables with float32 gradients, got a ${variable.dtype} variable and a ${tensor.dtype} gradient`);
    }
    if (!tf.util.arraysEqual(variable.shape, tensor.shape)) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `${at}: the gradient's shape [${tensor.shape}] differs from the variable's [${variable.shape}]`);
    }
    if (variable.size === 0) continue;
    const values = valuesOf(tensor);
    if (values === null) throw makeError(ErrorCodes.DTYPE_MISMATCH, `${at}: the backend gave no float32 values of the gradient`);
    out.push({ variable, values });
  }
  return out;
}
