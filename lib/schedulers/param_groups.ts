/**
 * What a scheduler needs of an optimizer, and the reads and writes it makes in
 * the optimizer's param groups. The contract is structural (no import of
 * lib/optim): any object with `paramGroups`, each group a plain object with a
 * writable `lr` and, for momentum cycling, a `momentum` number or a
 * `betas: [beta1, beta2]` pair.
 */
import { ErrorCodes, makeError } from '../errors';
import { checkArray, checkNumber, checkObject, describe } from '../validate';
import { NON_NEGATIVE } from './fields';

/** The optimizer side of the contract: any object whose param groups hold a writable `lr`. */
export interface SchedulableOptimizer {
  /** The param groups whose `lr` the scheduler writes. */
  paramGroups: Array<{
    /** The group's learning rate, written by the scheduler. */
    lr: number;
    [key: string]: unknown;
  }>;
}

/** A param group as a scheduler sees it: a writable `lr` and any other keys. */
export type ParamGroup = SchedulableOptimizer['paramGroups'][number];

/** Checks the optimizer's shape before a scheduler keeps it: at least one group, each with a finite lr >= 0. */
export function checkOptimizer(owner: string, optimizer: unknown): SchedulableOptimizer {
  const where = `${owner}: optimizer`;
  const opt = checkObject(where, optimizer);
  const groups = checkArray(`${where}.paramGroups`, opt.paramGroups);
  if (groups.length === 0) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${where}.paramGroups: expected at least one param group, got an empty Array`);
  }
  groups.forEach((group, i) => {
    const g = checkObject(`${where}.paramGroups[${i}]`, group);
    checkNumber(`${where}.paramGroups[${i}].lr`, g.lr, NON_NEGATIVE);
  });
  return optimizer as SchedulableOptimizer;
}

/**
 * A number a scheduler stored in a group earlier (`initialLr`, `maxLr`, ...),
 * required when resuming with `lastEpoch`: its absence means no scheduler ran
 * on this optimizer before, so there is nothing to resume.
 */
export function readStoredGroupNumber(owner: string, groups: readonly ParamGroup[], key: string, lastEpoch: number): number[] {
  return groups.map((group, i) => {
    const name = `${owner}: optimizer.paramGroups[${i}].${key}`;
    if (group[key] === undefined) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `${name}: resuming with lastEpoch = ${lastEpoch} needs the ${key} a scheduler stores in every param group, got undefined`,
      );
    }
    return checkNumber(name, group[key], NON_NEGATIVE);
  });
}

/**
 * Each group's base lr (PyTorch's `initial_lr`): the `initialLr` a scheduler
 * already stored in the group if there is one, as PyTorch's `setdefault` (so a
 * second scheduler on the same optimizer, as in SequentialLR, starts from the
 * same base), else the group's current lr. Resuming (`lastEpoch` >= 0)
 * requires the stored one.
 */
export function baseLrsOf(owner: string, groups: readonly ParamGroup[], lastEpoch: number): number[] {
  if (lastEpoch !== -1) return readStoredGroupNumber(owner, groups, 'initialLr', lastEpoch);
  return groups.map((group, i) =>
    group.initialLr === undefined ? group.lr : checkNumber(`${owner}: optimizer.paramGroups[${i}].initialLr`, group.initialLr, NON_NEGATIVE),
  );
}

/**
 * Where a group keeps the momentum a cycling scheduler drives: `betas[0]` for
 * Adam-like groups (PyTorch's `use_beta1`), `momentum` for SGD-like ones.
 * Decided per group, so one scheduler serves an optimizer whatever its kind.
 */
export type MomentumSlot = 'beta1' | 'momentum';

/** The slot of every group; a group with neither is an error naming the option that asked for cycling. */
export function momentumSlots(owner: string, optionName: string, groups: readonly ParamGroup[]): MomentumSlot[] {
  return groups.map((group, i) => {
    if (group.betas !== undefined) {
      const betas = group.betas;
      if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number')) {
        throw makeError(
          ErrorCodes.INVALID_ARG_TYPE,
          `${owner}: optimizer.paramGroups[${i}].betas: expected [beta1, beta2], got ${describe(betas)}`,
        );
      }
      return 'beta1';
    }
    if (typeof group.momentum === 'number') return 'momentum';
    throw makeError(
      ErrorCodes.INVALID_ARG_VALUE,
      `${owner}: ${optionName}: optimizer.paramGroups[${i}] has neither momentum nor betas to cycle ` +
        `(pass ${optionName}: false for an optimizer without momentum)`,
    );
  });
}

/** Writes a momentum value into its slot. betas is replaced by a new pair, never mutated: the optimizer may share it. */
export function writeMomentum(group: ParamGroup, slot: MomentumSlot, value: number): void {
  if (slot === 'beta1') {
    const betas = group.betas as readonly number[];
    group.betas = [value, betas[1]];
  } else {
    group.momentum = value;
  }
}
