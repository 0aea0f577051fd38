/**
 * The numeric value of each element of a safetensors tensor, for every dtype the format defines:
 * what `fusedoptim inspect` computes statistics from. Elements are little-endian and read through
 * a DataView, so the bytes may sit at any offset of any buffer (a view into a file).
 *
 *   F64 F32        IEEE 754 binary64 / binary32
 *   F16            IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits
 *   BF16           the top 16 bits of a binary32
 *   F8_E5M2        1 sign, 5 exponent (bias 15), 2 mantissa bits: the top byte of a binary16
 *   F8_E4M3        1 sign, 4 exponent (bias 7), 3 mantissa bits, no infinities; S.1111.111 is NaN
 *                  (the "fn" variant, PyTorch's float8_e4m3fn)
 *   I8..I64 U8..U64 two's complement / unsigned integers (64-bit ones rounded to the nearest double)
 *   BOOL           0 or 1 (any non-zero byte is true)
 */
import { ErrorCodes, makeError } from '../errors';
import { DTYPE_SIZES } from './safetensors';

/** Reads element `i` of a tensor's bytes as a number. */
export type ElementReader = (view: DataView, i: number) => number;

const scratch = new DataView(new ArrayBuffer(4));

/** binary16 bits to a number (also F8_E5M2, whose byte is the top half of a binary16). */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (0x400 + mantissa) * 2 ** (exponent - 25);
}

function e4m3ToNumber(byte: number): number {
  const sign = byte & 0x80 ? -1 : 1;
  const exponent = (byte >> 3) & 0xf;
  const mantissa = byte & 0x7;
  if (exponent === 0xf && mantissa === 0x7) return NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -9;
  return sign * (8 + mantissa) * 2 ** (exponent - 10);
}

function bf16ToNumber(bits: number): number {
  scratch.setUint32(0, bits << 16, true);
  return scratch.getFloat32(0, true);
}

const READERS: Readonly<Record<string, ElementReader>> = {
  F64: (v, i) => v.getFloat64(i * 8, true),
  F32: (v, i) => v.getFloat32(i * 4, true),
  F16: (v, i) => halfToNumber(v.getUint16(i * 2, true)),
  BF16: (v, i) => bf16ToNumber(v.getUint16(i * 2, true)),
  F8_E5M2: (v, i) => halfToNumber(v.getUint8(i) << 8),
  F8_E4M3: (v, i) => e4m3ToNumber(v.getUint8(i)),
  I64: (v, i) => Number(v.getBigInt64(i * 8, true)),
  U64: (v, i) => Number(v.getBigUint64(i * 8, true)),
  I32: (v, i) => v.getInt32(i * 4, true),
  U32: (v, i) => v.getUint32(i * 4, true),
  I16: (v, i) => v.getInt16(i * 2, true),
  U16: (v, i) => v.getUint16(i * 2, true),
  I8: (v, i) => v.getInt8(i),
  U8: (v, i) => v.getUint8(i),
  BOOL: (v, i) => (v.getUint8(i) === 0 ? 0 : 1),
};

/** The reader of a dtype's elements. Throws ERR_INVALID_ARG_VALUE for a name the format does not define. */
export function elementReader(dtype: string): ElementReader {
  if (!Object.hasOwn(READERS, dtype)) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `dtype: expected one of ${Object.keys(READERS).join(', ')}, got ${JSON.stringify(dtype)}`);
  }
  return READERS[dtype];
}

/** The number of elements in `bytes` of `dtype`. */
export function elementCount(dtype: string, bytes: Uint8Array): number {
  return bytes.length / DTYPE_SIZES[dtype];
}
