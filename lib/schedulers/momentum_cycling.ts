/**
 * What CyclicLR and OneCycleLR share: besides the lr, they cycle each group's
 * momentum inversely to it (high momentum with a low lr, low with a high one),
 * writing `momentum` or `betas[0]`, whichever the group has.
 */
import { FieldReader } from './fields';
import { momentumSlots } from './param_groups';
import { LRScheduler } from './scheduler';
import { JsonObject } from './state_dict';

export type MomentumCyclingSettings = {
  cycleMomentum: boolean;
  /** The momentum at the lr's peak. */
  baseMomentum: number[];
  /** The momentum at the lr's trough. */
  maxMomentum: number[];
};

/** Momenta are in [0, 1]: SGD's momentum or Adam's beta1. */
const MOMENTUM = { min: 0, max: 1 };

/** Reads the momentum settings (the defaults differ between CyclicLR and OneCycleLR). */
export function readMomentumCycling(
  fields: FieldReader,
  groupCount: number,
  defaults: { baseMomentum: number; maxMomentum: number },
): MomentumCyclingSettings {
  return {
    cycleMomentum: fields.boolean('cycleMomentum', true),
    baseMomentum: fields.perGroupNumbers('baseMomentum', groupCount, MOMENTUM, defaults.baseMomentum),
    maxMomentum: fields.perGroupNumbers('maxMomentum', groupCount, MOMENTUM, defaults.maxMomentum),
  };
}

/** The lr and the momentum of every group at one step. */
export interface CyclePoint {
  lrs: number[];
  momenta: number[];
}

export abstract class MomentumCyclingScheduler<S extends JsonObject & MomentumCyclingSettings> extends LRScheduler<S> {
  protected constructor(kind: string, optimizer: unknown, options: FieldReader) {
    super(kind, optimizer, options);
    this.momentumSlots = this.slotsFor(this.settings);
  }

  /**
   * The lr and momentum of every group at `epoch` under `settings`: a function
   * of its arguments alone, because loading a state dict computes the momentum
   * to restore under settings not yet in force.
   */
  protected abstract pointAt(settings: S, epoch: number): CyclePoint;

  protected override computeLr(epoch: number): number[] {
    return this.pointAt(this.settings, epoch).lrs;
  }

  protected override computeMomentum(epoch: number): number[] | undefined {
    return this.momentumSlots === undefined ? undefined : this.pointAt(this.settings, epoch).momenta;
  }

  /** A fresh schedule also stores its momentum bounds in the groups, as PyTorch's `max_momentum` / `base_momentum`. */
  protected override groupBookkeeping(i: number): Record<string, number> {
    const keys = super.groupBookkeeping(i);
    if (this.lastEpoch === -1 && this.settings.cycleMomentum) {
      keys.maxMomentum = this.settings.maxMomentum[i];
      keys.baseMomentum = this.settings.baseMomentum[i];
    }
    return keys;
  }

  /** Loading also restores the groups' momentum at the saved step (the base restores their lr). */
  protected override checkState(fields: FieldReader, lastEpoch: number): () => void {
    const settings = this.readSettings(fields);
    const slots = this.slotsFor(settings);
    const momenta = slots !== undefined && lastEpoch >= 0 ? this.pointAt(settings, lastEpoch).momenta : undefined;
    return () => {
      this.settings = settings;
      this.momentumSlots = slots;
      if (momenta !== undefined) this.writeMomenta(momenta);
    };
  }

  private slotsFor(settings: S) {
    return settings.cycleMomentum ? momentumSlots(this.kind, 'cycleMomentum', this.optimizer.paramGroups) : undefined;
  }
}
