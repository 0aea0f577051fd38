/**
 * Cosine annealing (SGDR, Loshchilov & Hutter): the lr follows half a cosine
 * from its base down to etaMin, once (CosineAnnealingLR) or over and over with
 * warm restarts (CosineAnnealingWarmRestarts).
 */
import { checkNumber } from '../validate';
import { cosineAnneal } from './anneal';
import { COUNT, FieldReader, NON_NEGATIVE } from './fields';
import { JsonValue } from './state_dict';
import { LRScheduler, ResumeOptions, SchedulableOptimizer } from './scheduler';

export interface CosineAnnealingLROptions extends ResumeOptions {
  /** The number of steps from the base lr down to etaMin (integer >= 1). */
  TMax: number;
  /** The lowest lr (>= 0). Default 0. */
  etaMin?: number;
}

type CosineAnnealingLRSettings = { TMax: number; etaMin: number };

/**
 * Anneals the lr from its base to etaMin over TMax steps along a cosine
 * (PyTorch's CosineAnnealingLR). PyTorch defines it recursively, so that other
 * changes to the lr compose with it:
 *
 *   lr_t = etaMin + (lr_{t-1} − etaMin) · (1 + cos(π·t/TMax)) / (1 + cos(π·(t−1)/TMax))
 *   lr_t = lr_{t-1} + (baseLr − etaMin) · (1 − cos(π/TMax)) / 2     when t − 1 = (2k+1)·TMax
 *
 * (the second line is where the first divides by zero, at the bottom of the
 * cosine). With nothing else changing the lr it is the closed form
 *
 *   lr_t = etaMin + (baseLr − etaMin) · (1 + cos(π·t/TMax)) / 2
 *
 * which keeps going past TMax: the lr climbs back up (no restart; see
 * CosineAnnealingWarmRestarts for restarts).
 */
export class CosineAnnealingLR extends LRScheduler<CosineAnnealingLRSettings> {
  constructor(optimizer: SchedulableOptimizer, options: CosineAnnealingLROptions) {
    super('CosineAnnealingLR', optimizer, FieldReader.forOptions('CosineAnnealingLR', options, ['TMax', 'etaMin', 'lastEpoch']));
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): CosineAnnealingLRSettings {
    return { TMax: fields.number('TMax', COUNT), etaMin: fields.number('etaMin', NON_NEGATIVE, 0) };
  }

  protected override computeLr(epoch: number, isInitialStep: boolean): number[] {
    const { TMax, etaMin } = this.settings;
    const groups = this.optimizer.paramGroups;
    // The initial step leaves the lr alone: at step 0 it is the base; when resuming, it is already step lastEpoch's.
    if (isInitialStep) return groups.map((group) => group.lr);
    if ((epoch - 1 - TMax) % (2 * TMax) === 0) {
      const rise = (1 - Math.cos(Math.PI / TMax)) / 2;
      return groups.map((group, i) => group.lr + (this.baseLrs[i] - etaMin) * rise);
    }
    const ratio = (1 + Math.cos((Math.PI * epoch) / TMax)) / (1 + Math.cos((Math.PI * (epoch - 1)) / TMax));
    return groups.map((group) => ratio * (group.lr - etaMin) + etaMin);
  }

  protected override closedFormLr(epoch: number): number[] {
    const { TMax, etaMin } = this.settings;
    return this.baseLrs.map((base) => cosineAnneal(base, etaMin, epoch / TMax));
  }
}

export interface CosineAnnealingWarmRestartsOptions extends ResumeOptions {
  /** The length of the first cycle, in steps (integer >= 1). */
  T0: number;
  /** Each cycle is TMult times longer than the one before (integer >= 1). Default 1. */
  TMult?: number;
  /** The lowest lr (>= 0). Default 0. */
  etaMin?: number;
}

type CosineAnnealingWarmRestartsSettings = { T0: number; TMult: number; etaMin: number };

/** Where an epoch falls: in a cycle of length Ti, Tcur steps after its start. */
interface CyclePosition {
  Ti: number;
  Tcur: number;
}

/**
 * SGDR with warm restarts (PyTorch's CosineAnnealingWarmRestarts): the lr
 * anneals from its base to etaMin along a cosine over a cycle of Ti steps, then
 * jumps back to the base; the first cycle has T0 steps, each next one TMult times more:
 *
 *   lr = etaMin + (baseLr − etaMin) · (1 + cos(π·Tcur/Ti)) / 2
 *
 * step() advances Tcur by one, restarting when it reaches Ti; step(epoch) jumps
 * to any epoch >= 0, fractional ones included (step(epoch + i / itersPerEpoch)
 * after every batch), and a later step() continues from there, as in PyTorch.
 */
export class CosineAnnealingWarmRestarts extends LRScheduler<CosineAnnealingWarmRestartsSettings> {
  /** Set by every step, the initial one included. */
  private position!: CyclePosition;

  constructor(optimizer: SchedulableOptimizer, options: CosineAnnealingWarmRestartsOptions) {
    super(
      'CosineAnnealingWarmRestarts',
      optimizer,
      FieldReader.forOptions('CosineAnnealingWarmRestarts', options, ['T0', 'TMult', 'etaMin', 'lastEpoch']),
    );
    this.initialStep();
  }

  protected readSettings(fields: FieldReader): CosineAnnealingWarmRestartsSettings {
    return {
      T0: fields.number('T0', COUNT),
      TMult: fields.number('TMult', COUNT, 1),
      etaMin: fields.number('etaMin', NON_NEGATIVE, 0),
    };
  }

  /** Advances one step, or, given `epoch` (>= 0, may be fractional), jumps to it. */
  override step(epoch?: number): void {
    if (epoch === undefined) {
      const { Ti, Tcur } = this.position;
      // As PyTorch: one step on from the current position, even a fractional one left by step(epoch).
      const next = Tcur + 1 >= Ti ? { Ti: Ti * this.settings.TMult, Tcur: (Tcur + 1) % Ti } : { Ti, Tcur: Tcur + 1 };
      this.moveTo(this.lastEpoch + 1, next, false);
    } else {
      checkNumber(`${this.kind}: step: epoch`, epoch, { min: 0 });
      this.moveTo(Math.floor(epoch), this.positionAt(epoch), false);
    }
  }

  /**
   * The step at construction: step 0, or, when resuming, step lastEpoch + 1
   * (PyTorch gets the cycle of a resumed step right only within the first two
   * cycles; this computes it from the epoch, like step(epoch)).
   */
  override initialStep(): void {
    const epoch = this.lastEpoch + 1;
    this.moveTo(epoch, this.positionAt(epoch), true);
  }

  override stepTo(epoch: number): void {
    this.step(epoch);
  }

  private moveTo(lastEpoch: number, position: CyclePosition, isInitialStep: boolean): void {
    this.checkGroupCount();
    const { etaMin } = this.settings;
    const lrs = this.baseLrs.map((base) => cosineAnneal(base, etaMin, position.Tcur / position.Ti));
    this.commit(lastEpoch, lrs, isInitialStep);
    this.position = position;
  }

  /** The cycle an epoch falls in: cycle n (from 0) starts at T0·(TMult^n − 1)/(TMult − 1) and lasts T0·TMult^n. */
  private positionAt(epoch: number): CyclePosition {
    const { T0, TMult } = this.settings;
    if (epoch < T0) return { Ti: T0, Tcur: epoch };
    if (TMult === 1) return { Ti: T0, Tcur: epoch % T0 };
    const cycleStart = (n: number) => (T0 * (TMult ** n - 1)) / (TMult - 1);
    let n = Math.floor(Math.log((epoch / T0) * (TMult - 1) + 1) / Math.log(TMult));
    // The logarithm can round to the wrong side of a cycle boundary; the boundaries themselves are exact.
    while (cycleStart(n + 1) <= epoch) n += 1;
    while (n > 0 && cycleStart(n) > epoch) n -= 1;
    return { Ti: T0 * TMult ** n, Tcur: epoch - cycleStart(n) };
  }

  protected override saveState(): Record<string, JsonValue> {
    return { ...super.saveState(), Ti: this.position.Ti, Tcur: this.position.Tcur };
  }

  protected override checkState(fields: FieldReader, lastEpoch: number): () => void {
    const loadSettings = super.checkState(fields, lastEpoch);
    const position = { Ti: fields.number('Ti', COUNT), Tcur: fields.number('Tcur', NON_NEGATIVE) };
    return () => {
      loadSettings();
      this.position = position;
    };
  }
}
