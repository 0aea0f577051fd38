/**
 * The TypeScript twins of native/mpi/half.h: float32 to the 16-bit formats a
 * compressed all-reduce sends, rounded to nearest even, and back, exactly.
 * bfloat16 is the rounding of compact optimizer state (../compact/bfloat16.ts);
 * IEEE binary16 is here. The tests compare them with the addon's bit for bit.
 */
import { bf16RoundNearest } from '../compact/bfloat16';
import { CompressionCode } from './mpi_addon';

/**
 * The float32 bits `u` (unsigned) rounded to IEEE binary16 bits, to nearest
 * even: 65520 and above become infinities, magnitudes below 2^-14 subnormals
 * (steps of 2^-24); NaN stays a quiet NaN with its sign and leading payload bits.
 */
export function fp16RoundNearest(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const a = (u & 0x7fffffff) >>> 0;
  if (a > 0x7f800000) return sign | 0x7e00 | ((a >>> 13) & 0x3ff);
  if (a >= 0x477ff000) return sign | 0x7c00; // 65520 = halfway from 65504 (odd) to 2^16
  // Normal: re-bias the exponent (127 → 15), round the 13 dropped bits; a carry steps the exponent up.
  if (a >= 0x38800000) return sign | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13);
  if (a <= 0x33000000) return sign; // at most 2^-25, half of the smallest subnormal: to (even) zero
  // Subnormal: the value in units of 2^-24 is the 24-bit significand shifted right by 126 - exponent (14 to 24).
  const significand = (a & 0x7fffff) | 0x800000;
  const shift = 126 - (a >>> 23);
  const q = significand >>> shift;
  const rest = significand & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (q + (rest > half || (rest === half && (q & 1) === 1) ? 1 : 0));
}

/** The float32 bits of the binary16 value `h` (exact). */
export function fp16WidenBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  // Subnormal or zero: mantissa · 2^-24, normalised (the leading bit moved to the hidden place).
  if (mantissa === 0) return sign >>> 0;
  const lead = 31 - Math.clz32(mantissa); // 0 to 9
  return (sign | ((lead + 103) << 23) | ((mantissa << (23 - lead)) & 0x7fffff)) >>> 0;
}

/** `from` rounded to nearest even into `to` (16-bit patterns of `format`). */
export function encodeHalf(format: CompressionCode.Bf16 | CompressionCode.Fp16, from: Float32Array, to: Uint16Array): void {
  const bits = new Uint32Array(from.buffer, from.byteOffset, from.length);
  const round = format === CompressionCode.Bf16 ? bf16RoundNearest : fp16RoundNearest;
  for (let i = 0; i < bits.length; i++) to[i] = round(bits[i]);
}

/** The 16-bit patterns of `format` widened, exactly, into `to`. */
export function decodeHalf(format: CompressionCode.Bf16 | CompressionCode.Fp16, from: Uint16Array, to: Float32Array): void {
  const bits = new Uint32Array(to.buffer, to.byteOffset, to.length);
  for (let i = 0; i < from.length; i++) bits[i] = format === CompressionCode.Bf16 ? from[i] << 16 : fp16WidenBits(from[i]);
}
