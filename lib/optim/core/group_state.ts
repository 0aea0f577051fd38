/**
 * A group's own values (spec.groupState: Schedule-Free's k, lrMax, weightSum
 * and trainMode), kept in the group object as PyTorch keeps them: read out
 * for a step that may be taken back, and checked wherever they come from (a
 * user's write between steps, a state dict).
 */
import { ErrorCodes, makeError } from '../../errors';
import { checkNumber, describe } from '../../validate';
import type { GroupState, GroupStateSpec, OptimizerSpec } from './spec';

/** A copy of the group's values of the spec's groupState. */
export function groupStateOf<O>(spec: OptimizerSpec<O>, group: object): GroupState {
  const out: GroupState = {};
  for (const value of spec.groupState ?? []) out[value.name] = (group as GroupState)[value.name];
  return out;
}

/** A groupState value of its declared type: a boolean, a count (an integer >= 0), or a number (not NaN). */
export function checkGroupValue(name: string, spec: GroupStateSpec, value: unknown): number | boolean {
  if (typeof spec.initial === 'boolean') {
    if (typeof value !== 'boolean') throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a boolean, got ${describe(value)}`);
    return value;
  }
  return spec.count === true ? checkNumber(name, value, { integer: true, min: 0 }) : checkNumber(name, value, { allowInfinity: true });
}
