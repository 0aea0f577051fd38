/**
 * The 8-bit code of compact optimizer state, the twin of
 * native/kernels/code8.h: a tiny float relative to the block's absmax. A
 * magnitude a = |x| / absmax is coded from the float32 bits of t = a + 2^-E
 * (its exponent and top 3 mantissa bits, rounded to nearest, counted from
 * 2^-E's): linear steps below 2^-E, 3 bits per octave above, up to 1
 * (decoded as t − 2^-E in float32: the largest signed value is 1 − 2^-15).
 *
 *   signed    a sign bit and 7 bits of magnitude, E = 15 (moments that change sign)
 *   unsigned  8 bits of magnitude, E = 31 (second moments, sums of squares)
 *
 * A code's table (the value of each of its 256 codes at absmax 1) is kept in
 * the state beside the codes and says which code they are: the signed one's
 * last value is negative.
 */

const MANTISSA = 3;
const SHIFT = 23 - MANTISSA;
const HALF = 1 << (SHIFT - 1);

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}

function floatOf(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/** The constants of one code (native Code8). */
export interface Code8 {
  readonly base: number;
  readonly largest: number;
  readonly magnitude: number;
  readonly sign: number;
  readonly offset: number;
}

function code8(exponents: number, signed: boolean): Code8 {
  return {
    base: (127 - exponents) << MANTISSA,
    largest: exponents << MANTISSA,
    magnitude: signed ? 0x7f : 0xff,
    sign: signed ? 0x80 : 0,
    offset: floatOf((127 - exponents) << 23),
  };
}

export const SIGNED_CODE: Code8 = code8(15, true);
export const UNSIGNED_CODE: Code8 = code8(31, false);

/** The code a slot's table describes. */
export function codeOfTable(table: Float32Array): Code8 {
  return table[255] < 0 ? SIGNED_CODE : UNSIGNED_CODE;
}

/** 1 / absmax, or 0 for an absmax that is 0, infinite or NaN (native inverse_of). */
export function inverseOf(absmax: number): number {
  return absmax > 0 && absmax < 3.4028234663852886e38 ? Math.fround(1 / absmax) : 0;
}

/** The code of x / absmax, given 1 / absmax (native Code8::encode). */
export function encode8(c: Code8, x: number, inverse: number): number {
  const y = Math.fround(x * inverse);
  const t = Math.fround(Math.abs(y) + c.offset);
  const steps = (((bitsOf(t) + HALF) >>> SHIFT) - c.base) >>> 0;
  return (steps < c.largest ? steps : c.largest) | (y < 0 ? c.sign : 0);
}

/** The value of each code at absmax 1: native Code8::decode(code, 1). */
export function codeTable(c: Code8): Float32Array {
  const table = new Float32Array(256);
  for (let code = 0; code < 256; code++) {
    const t = floatOf(((code & c.magnitude) + c.base) << SHIFT);
    table[code] = floatOf((bitsOf(Math.fround(t - c.offset)) | ((code & c.sign) << 24)) >>> 0);
  }
  return table;
}

/** The tables of the two codes: the state's shared code maps (lib/optim/code_maps.ts). */
export const SIGNED_TABLE: Float32Array = codeTable(SIGNED_CODE);
export const UNSIGNED_TABLE: Float32Array = codeTable(UNSIGNED_CODE);

/** The table of the code `table` describes (itself, for either code's own table). */
export function canonicalTable(table: Float32Array): Float32Array {
  return codeOfTable(table) === SIGNED_CODE ? SIGNED_TABLE : UNSIGNED_TABLE;
}
