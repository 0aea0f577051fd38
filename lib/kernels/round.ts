/**
 * The JavaScript kernels compute in doubles; a float32 kernel in C++ rounds to
 * float after every operation. Wrapping every operation in `r` (Math.fround for
 * float32 tensors, the identity for float64) makes the JavaScript reference
 * round exactly where C++ does, so the two backends agree bit for bit:
 * +, −, ×, ÷ and √ of floats computed in double and rounded once to float give
 * the correctly rounded float result (double has more than 2·24 + 2 bits).
 */
import type { StateArray } from '../tensor';

/** Rounds a double as the kernel's element type does: Math.fround for float32, the identity for float64. */
export type Round = (x: number) => number;

function makeRound(single: boolean): Round {
  return (x) => (single ? Math.fround(x) : x);
}
const toFloat32 = makeRound(true);
const toFloat64 = makeRound(false);

/** The rounding of a param's element type (the type the kernels compute in). */
export function roundFor(t: StateArray): Round {
  return t instanceof Float32Array ? toFloat32 : toFloat64;
}
