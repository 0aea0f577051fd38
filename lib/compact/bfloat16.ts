/**
 * bfloat16 state in the reference backend, with the rounding of
 * native/kernels/bfloat16.h: a bfloat16 is the upper 16 bits of a float32, so
 * widening is a shift, and storing rounds the float32's bits to nearest, ties
 * to even (or stochastically, given 16 random bits); NaN stays a quiet NaN.
 */

/** The float32 bits `u` (as an unsigned 32-bit number) rounded to bfloat16, to nearest even. */
export function bf16RoundNearest(u: number): number {
  if ((u & 0x7fffffff) >>> 0 > 0x7f800000) return ((u >>> 16) | 0x0040) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The float32 bits `u` rounded to bfloat16 up with probability (discarded bits) / 2^16, given 16 random bits. */
export function bf16RoundStochastic(u: number, noise: number): number {
  if ((u & 0x7fffffff) >>> 0 > 0x7f800000) return ((u >>> 16) | 0x0040) & 0xffff;
  return ((u + (noise & 0xffff)) >>> 16) & 0xffff;
}

/** A Float32Array of the values of the bfloat16 patterns in `stored` (exact). */
export function widenBf16(stored: Uint16Array): Float32Array {
  const out = new Float32Array(stored.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < stored.length; i++) bits[i] = stored[i] << 16;
  return out;
}

/** Stores `values` into `stored` as bfloat16, rounded by `round(bits, index)`. */
export function storeBf16(values: Float32Array, stored: Uint16Array, round: (bits: number, index: number) => number): void {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) stored[i] = round(bits[i], i);
}

/** Rounds every float32 of `values` to nearest even into `stored`. */
export function storeBf16Nearest(values: Float32Array, stored: Uint16Array): void {
  storeBf16(values, stored, bf16RoundNearest);
}
