/**
 * LRScheduler: the base of every scheduler driven by a step count (all but
 * ReduceLROnPlateau, which is driven by a metric), after PyTorch's
 * `torch.optim.lr_scheduler.LRScheduler`.
 *
 *   construction   checks everything, takes each group's base lr (`initialLr`,
 *                  stored in the group as PyTorch stores `initial_lr`), then
 *                  performs the initial step: the groups' lr is the schedule's
 *                  value at step 0 before the first optimizer step.
 *   step()         lastEpoch += 1; computes every group's lr (and momentum),
 *                  checks them, and only then writes them.
 *   stateDict()    plain JSON data: lastEpoch, the base and last lrs, and the
 *                  scheduler's settings and counters. Functions are not saved
 *                  (LambdaLR's lrLambda, CyclicLR's scaleFn), as in PyTorch:
 *                  the scheduler loading it must be constructed with them.
 *   loadStateDict  checks the state dict in full, then restores it, settings
 *                  included (as PyTorch's `__dict__.update`), and writes the
 *                  saved lrs back into the groups.
 *
 * Most schedulers compute the new lr from the group's current lr (PyTorch's
 * chainable `get_lr`), which is what lets ChainedScheduler compose them. Where
 * PyTorch also has a closed form (`_get_closed_form_lr`), it is used, as in
 * PyTorch, only when SequentialLR restarts a scheduler at a milestone.
 */
import { ErrorCodes, makeError } from '../errors';
import { checkNumber } from '../validate';
import { FieldReader, NON_NEGATIVE } from './fields';
import { MomentumSlot, SchedulableOptimizer, baseLrsOf, checkOptimizer, writeMomentum } from './param_groups';
import { JsonObject, JsonValue, SchedulerStateDict, checkSchedulerName, checkingStateDict } from './state_dict';

export type { ParamGroup, SchedulableOptimizer } from './param_groups';

/** Every scheduler built on LRScheduler accepts this option besides its own. */
export interface ResumeOptions {
  /**
   * The index of the last step taken before this scheduler was built (PyTorch's
   * `last_epoch`). -1 (the default) starts the schedule; a value >= 0 resumes it
   * and needs the `initialLr` a previous scheduler stored in every group.
   */
  lastEpoch?: number;
}

/** The settings of a scheduler that has none of its own to save. */
export type NoSettings = Record<string, never>;

/** How an advance of the schedule was asked for. */
type Advance = 'step' | 'initial' | 'jump';

/**
 * `S` is the scheduler's settings: what its options resolve to (per-group
 * lists expanded, defaults filled in), plain JSON data saved in the state dict
 * and read back with the same rules as the options.
 */
export abstract class LRScheduler<S extends JsonObject = JsonObject> {
  /** The optimizer whose param groups this scheduler sets the lr of. */
  readonly optimizer: SchedulableOptimizer;
  /** The index of the last step taken: 0 after construction, +1 per step() (PyTorch's `last_epoch`). */
  lastEpoch: number;
  /** Each group's base lr, the reference of the schedule (PyTorch's `base_lrs`). */
  baseLrs: number[];
  /**
   * The name the scheduler declares ("StepLR", ...): in messages, in the state dict and in checkpoints,
   * so state is loaded into the same kind of scheduler. Declared, not `constructor.name`, which a minifier renames.
   */
  readonly kind: string;
  /** Each group's lr after the last step, as getLastLr() returns it. */
  protected lastLr: number[];
  /** Where each group's momentum is, for the schedulers that cycle it (CyclicLR, OneCycleLR); else undefined. */
  protected momentumSlots: MomentumSlot[] | undefined;
  /** What the options resolved to: see `S` above. */
  protected settings: S;

  /**
   * Checks the optimizer, lastEpoch and the options, and reads the base lrs
   * and the settings; changes nothing. A subclass finishes its own fields, then
   * calls initialStep() last: that is where the groups are first written.
   */
  protected constructor(kind: string, optimizer: unknown, options: FieldReader) {
    this.kind = kind;
    this.optimizer = checkOptimizer(kind, optimizer);
    const lastEpoch = options.raw('lastEpoch');
    this.lastEpoch = checkNumber(options.name('lastEpoch'), lastEpoch === undefined ? -1 : lastEpoch, { integer: true, min: -1 });
    this.baseLrs = baseLrsOf(kind, this.optimizer.paramGroups, this.lastEpoch);
    this.lastLr = this.optimizer.paramGroups.map((group) => group.lr);
    this.settings = this.settingsFromOptions(options);
  }

  /** Advances the schedule by one step and writes the new lr into every group. */
  step(): void {
    this.advance(this.lastEpoch + 1, 'step');
  }

  /** The lr of each group after the last step (a copy). */
  getLastLr(): number[] {
    return this.lastLr.slice();
  }

  /** Everything needed to resume, as plain JSON data (functions excepted, see the class comment). */
  stateDict(): SchedulerStateDict {
    return {
      scheduler: this.kind,
      lastEpoch: this.lastEpoch,
      baseLrs: this.baseLrs.slice(),
      lastLr: this.lastLr.slice(),
      ...this.saveState(),
    };
  }

  /** Restores a stateDict() of the same class; a call that throws (ERR_STATE_DICT_MISMATCH) has changed nothing. */
  loadStateDict(stateDict: unknown): void {
    this.checkStateDict(stateDict, `${this.kind}: loadStateDict: stateDict`)();
  }

  // ---- What a scheduler defines --------------------------------------------------------------

  /**
   * The lr of every group at step `epoch` (PyTorch's `get_lr`); it must not
   * write anything. Chainable schedulers read the group's current lr.
   * `isInitialStep` is true for the step made at construction (PyTorch's
   * `_is_initial`): when resuming, that step must not move the lr one step ahead.
   * As in PyTorch, the base has no formula: a scheduler that steps through
   * computeLr overrides it (the composite schedulers override step() instead).
   */
  protected computeLr(epoch: number, isInitialStep: boolean): number[] {
    throw new Error(`${this.kind}: computeLr is not implemented`);
  }

  /** The lr of every group at `epoch` from the base lrs alone, where PyTorch has one (`_get_closed_form_lr`). */
  protected closedFormLr?(epoch: number): number[];

  /** The momentum of every group at `epoch`, for the schedulers that cycle it. */
  protected computeMomentum(epoch: number): number[] | undefined {
    return undefined;
  }

  /** Keys the initial step stores in group `i` besides its lr: `initialLr` unless the group has one (PyTorch's `setdefault`). */
  protected groupBookkeeping(i: number): Record<string, number> {
    return this.optimizer.paramGroups[i].initialLr === undefined ? { initialLr: this.baseLrs[i] } : {};
  }

  /**
   * Reads the settings out of options or out of a state dict, with the same
   * rules (`fields` names them right for either). Called by the base
   * constructor: it may use the optimizer and the base lrs, nothing else of `this`.
   */
  protected abstract readSettings(fields: FieldReader): S;

  /** The settings from the constructor's options; those of OneCycleLR are not the ones it saves, so it overrides this. */
  protected settingsFromOptions(options: FieldReader): S {
    return this.readSettings(options);
  }

  /** The scheduler's own fields of its state dict: its settings, plus whatever counters a subclass adds. */
  protected saveState(): Record<string, JsonValue> {
    return structuredClone(this.settings);
  }

  /**
   * Checks the scheduler's own fields of a state dict and returns what sets
   * them; it must not change anything itself. A subclass with more state than
   * its settings extends this.
   */
  protected checkState(fields: FieldReader, lastEpoch: number): () => void {
    const settings = this.readSettings(fields);
    return () => {
      this.settings = settings;
    };
  }

  // ---- Composition protocol: SequentialLR and ChainedScheduler drive their schedulers through these ----

  /** @internal The step made at construction (PyTorch's `_initial_step`); SequentialLR repeats it for its first scheduler. */
  initialStep(): void {
    this.advance(this.lastEpoch + 1, 'initial');
  }

  /** @internal Sets the schedule to `epoch` from the closed form if there is one (SequentialLR restarts a scheduler at 0). */
  stepTo(epoch: number): void {
    this.advance(epoch, 'jump');
  }

  /** @internal Takes back the initial step's count (SequentialLR: only its first scheduler may have started). */
  undoInitialStep(): void {
    this.lastEpoch -= 1;
  }

  /**
   * Checks a state dict in full without changing anything, and returns what
   * loads it; `path` names it in messages. loadStateDict is this plus the call;
   * composites and checkpoints check every part before loading any.
   */
  checkStateDict(stateDict: unknown, path: string): () => void {
    return checkingStateDict(() => {
      const fields = FieldReader.forStateDict(path, stateDict);
      checkSchedulerName(path, fields.raw('scheduler'), this.kind);
      const groupCount = this.optimizer.paramGroups.length;
      const lastEpoch = fields.number('lastEpoch', { integer: true, min: -1 });
      const baseLrs = fields.perGroupNumbers('baseLrs', groupCount, NON_NEGATIVE);
      const lastLr = fields.perGroupNumbers('lastLr', groupCount, NON_NEGATIVE);
      const loadOwn = this.checkState(fields, lastEpoch);
      return () => {
        this.lastEpoch = lastEpoch;
        this.baseLrs = baseLrs;
        this.lastLr = lastLr;
        loadOwn();
        // The groups get back the lr they had when saved, so a scheduler resumed on a
        // fresh optimizer continues exactly (PyTorch relies on the optimizer's own load).
        this.optimizer.paramGroups.forEach((group, i) => {
          group.lr = lastLr[i];
        });
      };
    });
  }

  // ---- Machinery ----------------------------------------------------------------------------

  private advance(epoch: number, how: Advance): void {
    this.checkGroupCount();
    const lrs =
      how === 'jump' && this.closedFormLr !== undefined ? this.closedFormLr(epoch) : this.computeLr(epoch, how === 'initial');
    this.commit(epoch, lrs, how === 'initial');
  }

  /**
   * Checks a step's values, then writes them (and, on the initial step, the
   * group bookkeeping): a step that throws has changed nothing.
   */
  protected commit(epoch: number, lrs: number[], isInitialStep: boolean): void {
    const momenta = this.computeMomentum(epoch);
    this.checkFinite(epoch, 'lr', lrs);
    if (momenta !== undefined) this.checkFinite(epoch, 'momentum', momenta);
    const groups = this.optimizer.paramGroups;
    if (isInitialStep) groups.forEach((group, i) => Object.assign(group, this.groupBookkeeping(i)));
    groups.forEach((group, i) => {
      group.lr = lrs[i];
    });
    if (momenta !== undefined) this.writeMomenta(momenta);
    this.lastEpoch = epoch;
    this.lastLr = lrs.slice();
  }

  /** Writes one momentum per group (momentum or betas[0]) for the schedulers that cycle it; else does nothing. */
  protected writeMomenta(momenta: readonly number[]): void {
    const slots = this.momentumSlots;
    if (slots === undefined) return;
    this.optimizer.paramGroups.forEach((group, i) => writeMomentum(group, slots[i], momenta[i]));
  }

  /** A group added after construction has no base lr: refuse rather than schedule some groups and not others. */
  protected checkGroupCount(): void {
    const count = this.optimizer.paramGroups.length;
    if (count !== this.baseLrs.length) {
      throw makeError(
        ErrorCodes.SHAPE_MISMATCH,
        `${this.kind}: the optimizer has ${count} param groups, the scheduler was built for ${this.baseLrs.length} ` +
          `(add param groups before constructing the scheduler)`,
      );
    }
  }

  private checkFinite(epoch: number, what: string, values: readonly number[]): void {
    values.forEach((value, i) => {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw makeError(
          ErrorCodes.NON_FINITE,
          `${this.kind}: step ${epoch}: the ${what} computed for param group ${i} is ${String(value)}; nothing was changed`,
        );
      }
    });
  }
}
