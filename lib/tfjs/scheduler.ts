/**
 * fusedoptim's lr schedulers driving a TensorFlow.js training run. A schedule
 * is declared before the optimizer exists (`fused.scheduler(Class, options,
 * { per })`) and attached to one FusedOptimizer, whose single learning rate
 * it drives (every param group of the wrapped optimizer takes it, including
 * groups added later for new variables).
 *
 *   per: 'batch'  stepped by the optimizer after every applyGradients (so it
 *                 works with model.fit, fitDataset, trainOnBatch and minimize);
 *   per: 'epoch'  stepped at the end of every epoch: pass the schedule to
 *                 model.fit's callbacks (it is a TensorFlow.js callback), or
 *                 call step() yourself.
 *
 * As in PyTorch, the scheduler is stepped after the optimizer step, and its
 * constructor sets the lr of step 0 before the first optimizer step.
 */
import { ErrorCodes, makeError } from '../errors';
import { LRScheduler } from '../schedulers';
import type { SchedulableOptimizer } from '../schedulers';
import { checkFunction, checkOptions, checkString } from '../validate';

/** When a schedule steps: after every optimizer step ('batch') or at the end of every epoch ('epoch'). */
export type SchedulePer = 'batch' | 'epoch';

/** Any LRScheduler subclass: constructed as `new Class(optimizer, options)`. */
export type SchedulerClass<Opts> = new (optimizer: SchedulableOptimizer, options: Opts) => LRScheduler;

/** A schedule for a FusedOptimizer (from fused.scheduler); a tfjs-layers callback when it steps per epoch. */
export class FusedSchedule {
  /** When the schedule steps. */
  readonly per: SchedulePer;
  private readonly create: (target: SchedulableOptimizer) => LRScheduler;
  private live: LRScheduler | null = null;

  constructor(create: (target: SchedulableOptimizer) => LRScheduler, per: SchedulePer) {
    this.create = create;
    this.per = per;
  }

  /** The scheduler, once an optimizer took this schedule; else null. */
  get scheduler(): LRScheduler | null {
    return this.live;
  }

  /** Builds the scheduler over `target` (the optimizer's lr holder); once only. */
  attach(target: SchedulableOptimizer, owner: string): void {
    if (this.live !== null) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${owner}: options.scheduler: this schedule already drives another optimizer; make one per optimizer`);
    }
    this.live = this.create(target);
  }

  /** Advances the schedule one step (per-epoch schedules outside model.fit). */
  step(): void {
    if (this.live === null) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, 'fusedoptim/tfjs: schedule.step: the schedule is not attached to an optimizer yet');
    }
    this.live.step();
  }

  /** Called by the optimizer after each of its steps. */
  afterBatch(): void {
    if (this.per === 'batch') this.live?.step();
  }

  /**
   * TensorFlow.js callback hook: model.fit calls it at the end of every epoch.
   * A bound property, not a method: model.fit wraps a plain callback object
   * and calls its hooks with `this` set to the wrapper.
   */
  readonly onEpochEnd = async (): Promise<void> => {
    if (this.per === 'epoch') this.live?.step();
  };
}

/**
 * `fused.scheduler(WarmupCosineScheduler, { warmupSteps: 100, totalSteps: 2000 }, { per: 'batch' })`:
 * a schedule for FusedOptimizer's `scheduler` option. Every scheduler built on
 * LRScheduler fits (ReduceLROnPlateau, driven by a metric, does not).
 */
export function scheduler<Opts>(Class: SchedulerClass<Opts>, options: Opts, how?: { per?: SchedulePer }): FusedSchedule {
  const where = 'fusedoptim/tfjs: scheduler';
  checkFunction(`${where}: Class`, Class);
  if (!(Class.prototype instanceof LRScheduler)) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${where}: Class: expected a fusedoptim scheduler class (a subclass of LRScheduler), got ${Class.name || 'a function'}`);
  }
  const opts = checkOptions(`${where}: third argument`, how, ['per']);
  const per = opts.per === undefined ? 'batch' : checkString(`${where}: per`, opts.per, ['batch', 'epoch'] as const);
  // Built now over a stand-in, so bad options are reported here rather than at the first step.
  new Class({ paramGroups: [{ lr: 1 }] }, options);
  return new FusedSchedule((target) => new Class(target, options), per);
}
