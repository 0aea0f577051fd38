/**
 * Schedulers made of schedulers of the same optimizer: one after another
 * (SequentialLR) or all at every step (ChainedScheduler).
 */
import { ErrorCodes, makeError } from '../errors';
import { checkArray, describe } from '../validate';
import { FieldReader } from './fields';
import { checkOptimizer } from './param_groups';
import { ReduceLROnPlateau } from './plateau';
import { LRScheduler, NoSettings, SchedulableOptimizer } from './scheduler';
import { JsonObject, JsonValue } from './state_dict';

/** At least one scheduler, each an LRScheduler of `optimizer` (by default the first one's), none twice. */
function checkSchedulers(owner: string, value: unknown, optimizer: SchedulableOptimizer | undefined): LRScheduler[] {
  const name = `${owner}: schedulers`;
  const list = checkArray(name, value);
  if (list.length === 0) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}: expected at least one scheduler, got an empty Array`);
  }
  list.forEach((scheduler, i) => {
    if (scheduler instanceof ReduceLROnPlateau) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}[${i}]: ReduceLROnPlateau cannot be composed (its step() needs a metric)`);
    }
    if (!(scheduler instanceof LRScheduler)) {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}[${i}]: expected an LRScheduler, got ${describe(scheduler)}`);
    }
  });
  const schedulers = list as LRScheduler[];
  const target = optimizer ?? schedulers[0].optimizer;
  schedulers.forEach((scheduler, i) => {
    if (scheduler.optimizer !== target) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}[${i}]: schedules another optimizer than ${owner}`);
    }
    const first = schedulers.indexOf(scheduler);
    if (first !== i) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}[${i}]: the same scheduler as ${name}[${first}] (it would step twice)`);
    }
  });
  return schedulers;
}

/** What both composites share: their schedulers, and state dicts that nest theirs. */
abstract class CompositeScheduler<S extends JsonObject> extends LRScheduler<S> {
  /** The schedulers this one is made of, in order. */
  protected readonly schedulers: LRScheduler[];

  protected constructor(kind: string, optimizer: SchedulableOptimizer, options: FieldReader, schedulers: LRScheduler[]) {
    super(kind, optimizer, options);
    this.schedulers = schedulers;
  }

  /** Takes back the initial steps of every scheduler inside, however deep (PyTorch's `recursive_undo`). */
  override undoInitialStep(): void {
    this.schedulers.forEach((scheduler) => scheduler.undoInitialStep());
  }

  protected override saveState(): Record<string, JsonValue> {
    return { ...super.saveState(), schedulers: this.schedulers.map((scheduler) => scheduler.stateDict()) };
  }

  /** Checks the saved states of the schedulers inside it too; the load runs only if all of them pass. */
  protected override checkState(fields: FieldReader, lastEpoch: number): () => void {
    const loadSettings = super.checkState(fields, lastEpoch);
    const states = fields.array('schedulers');
    if (states.length !== this.schedulers.length) {
      throw makeError(
        ErrorCodes.STATE_DICT_MISMATCH,
        `${fields.name('schedulers')}: expected ${this.schedulers.length} scheduler states, got ${states.length}`,
      );
    }
    const loads = this.schedulers.map((scheduler, i) => scheduler.checkStateDict(states[i], `${fields.name('schedulers')}[${i}]`));
    return () => {
      loadSettings();
      loads.forEach((load) => load());
    };
  }
}

/** The options of SequentialLR. */
export interface SequentialLROptions {
  /** The schedulers, in the order they take over; all of this optimizer. */
  schedulers: LRScheduler[];
  /** The steps at which the next scheduler takes over: one fewer than schedulers, strictly increasing integers >= 1. */
  milestones: number[];
}

type SequentialLRSettings = { milestones: number[] };

/**
 * Runs schedulers one after another (PyTorch's SequentialLR): schedulers[0]
 * until milestones[0], then schedulers[1], restarted at its step 0 (from its
 * closed form, where it has one), and so on. Constructing it puts the lr back
 * to the base lrs and takes back the initial step every scheduler made when it
 * was built, then makes the first one's initial step again: the lr is
 * schedulers[0]'s value at step 0.
 */
export class SequentialLR extends CompositeScheduler<SequentialLRSettings> {
  constructor(optimizer: SchedulableOptimizer, options: SequentialLROptions) {
    const fields = FieldReader.forOptions('SequentialLR', options, ['schedulers', 'milestones']);
    const schedulers = checkSchedulers('SequentialLR', fields.raw('schedulers'), checkOptimizer('SequentialLR', optimizer));
    super('SequentialLR', optimizer, fields, schedulers);
    this.checkMilestoneCount(fields, this.settings.milestones);
    this.optimizer.paramGroups.forEach((group, i) => {
      group.lr = this.baseLrs[i];
    });
    this.undoInitialStep();
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): SequentialLRSettings {
    return { milestones: fields.increasingIntegers('milestones', { min: 1 }) };
  }

  override step(): void {
    const epoch = this.lastEpoch + 1;
    const index = this.indexAt(epoch);
    const scheduler = this.schedulers[index];
    if (index > 0 && this.settings.milestones[index - 1] === epoch) scheduler.stepTo(0);
    else scheduler.step();
    this.lastEpoch = epoch;
    this.lastLr = scheduler.getLastLr();
  }

  override initialStep(): void {
    this.schedulers[0].initialStep();
    this.lastEpoch = 0;
    this.lastLr = this.schedulers[0].getLastLr();
  }

  /** Sets the schedule to `epoch`: the scheduler in charge then, at its own step count (used when nested). */
  override stepTo(epoch: number): void {
    const index = this.indexAt(epoch);
    const start = index > 0 ? this.settings.milestones[index - 1] : 0;
    this.schedulers[index].stepTo(epoch - start);
    this.lastEpoch = epoch;
    this.lastLr = this.schedulers[index].getLastLr();
  }

  protected override checkState(fields: FieldReader, lastEpoch: number): () => void {
    this.checkMilestoneCount(fields, this.readSettings(fields).milestones);
    return super.checkState(fields, lastEpoch);
  }

  /** Which scheduler is in charge at `epoch`: the number of milestones passed (PyTorch's bisect_right). */
  private indexAt(epoch: number): number {
    return this.settings.milestones.filter((milestone) => milestone <= epoch).length;
  }

  private checkMilestoneCount(fields: FieldReader, milestones: readonly number[]): void {
    if (milestones.length !== this.schedulers.length - 1) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `${fields.name('milestones')}: expected ${this.schedulers.length - 1} milestones (one fewer than schedulers), ` +
          `got ${milestones.length}`,
      );
    }
  }
}

/**
 * Steps every scheduler at each step, in order, each changing the lr the one
 * before left (PyTorch's ChainedScheduler): chainable schedulers compose, e.g.
 * ConstantLR warmup · ExponentialLR decay. Constructing it changes nothing:
 * each scheduler already made its initial step. A step that throws in any
 * scheduler puts all of them and the groups back as they were.
 *
 * As PyTorch: `new ChainedScheduler(schedulers, optimizer?)`, the optimizer
 * defaulting to the schedulers'.
 */
export class ChainedScheduler extends CompositeScheduler<NoSettings> {
  constructor(schedulers: LRScheduler[], optimizer?: SchedulableOptimizer) {
    const kind = 'ChainedScheduler';
    const list = checkSchedulers(kind, schedulers, optimizer === undefined ? undefined : checkOptimizer(kind, optimizer));
    super(kind, list[0].optimizer, FieldReader.forOptions(kind, undefined, []), list);
    this.lastEpoch = 0;
  }

  protected readSettings(): NoSettings {
    return {};
  }

  override step(): void {
    this.allOrNothing(() => this.schedulers.forEach((scheduler) => scheduler.step()));
    this.lastEpoch += 1;
    this.lastLr = this.groupLrs();
  }

  override initialStep(): void {
    this.allOrNothing(() => this.schedulers.forEach((scheduler) => scheduler.initialStep()));
    this.lastEpoch = 0;
    this.lastLr = this.groupLrs();
  }

  override stepTo(epoch: number): void {
    this.allOrNothing(() => this.schedulers.forEach((scheduler) => scheduler.stepTo(epoch)));
    this.lastEpoch = epoch;
    this.lastLr = this.groupLrs();
  }

  private groupLrs(): number[] {
    return this.optimizer.paramGroups.map((group) => group.lr);
  }

  /**
   * Runs `stepAll`; if a scheduler throws after others have stepped, restores
   * every scheduler and every group key to what it was, then rethrows.
   */
  private allOrNothing(stepAll: () => void): void {
    const schedulerStates = this.schedulers.map((scheduler) => scheduler.stateDict());
    const groupsBefore = this.optimizer.paramGroups.map((group) => ({ ...group }));
    try {
      stepAll();
    } catch (err) {
      this.schedulers.forEach((scheduler, i) => scheduler.loadStateDict(schedulerStates[i]));
      this.optimizer.paramGroups.forEach((group, i) => {
        for (const key of Object.keys(group)) if (!(key in groupsBefore[i])) delete group[key];
        Object.assign(group, groupsBefore[i]);
      });
      throw err;
    }
  }
}
