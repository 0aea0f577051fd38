/**
 * The MPI addon's 16-bit conversions against their TypeScript twins
 * (lib/distributed/half.ts), on probes that reach every rounding case: used by
 * test/distributed.overlap.test.ts in its own process and in children that
 * force each instruction-set path (FUSEDOPTIM_ISA).
 */
import { decodeHalf, encodeHalf, fp16WidenBits } from '../../lib/distributed/half';
import { CompressionCode, MpiAddon } from '../../lib/distributed/mpi_addon';

/** Float32 bit patterns that probe the roundings: specials, every binary16 and bfloat16 boundary and tie, and a spread of others. */
export function halfProbes(): Uint32Array {
  const out: number[] = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, 0x7fbfffff, 0x00000001, 0x007fffff, 0x7f7fffff];
  for (let h = 0; h < 0x10000; h++) {
    // Each binary16 value, the ties on both sides of it, and their float32 neighbours.
    const at = fp16WidenBits(h);
    const up = fp16WidenBits(h + 1 < 0x10000 ? h + 1 : h);
    const tie = ((at + up) / 2) >>> 0;
    out.push(at, at + 1, at - 1, tie, tie + 1, tie - 1);
    // bfloat16: its ties sit at 0x8000 in the low half.
    out.push(((h << 16) | 0x8000) >>> 0, ((h << 16) | 0x7fff) >>> 0, ((h << 16) | 0x8001) >>> 0);
  }
  for (let k = 0; k < 200_000; k++) out.push(Math.imul(k, 0x9e3779b1) >>> 0);
  return Uint32Array.from(out.map((u) => u >>> 0));
}

export const HALF_FORMATS = [
  ['bf16', CompressionCode.Bf16],
  ['fp16', CompressionCode.Fp16],
] as const;

/**
 * Where the addon's conversions of `format` differ from the twin's: the first probe rounded
 * otherwise (an odd count of them, so vector loops end in a tail), or the widening of every
 * 16-bit pattern; null when they agree bit for bit.
 */
export function halfDifference(addon: MpiAddon, format: CompressionCode.Bf16 | CompressionCode.Fp16): string | null {
  const bits = halfProbes();
  const values = new Float32Array(bits.buffer);
  const native = new Uint16Array(values.length);
  const twin = new Uint16Array(values.length);
  addon.encodeHalf(format, values, native);
  encodeHalf(format, values, twin);
  const k = native.findIndex((h, i) => h !== twin[i]);
  if (k >= 0) return `0x${bits[k].toString(16)}: native 0x${native[k].toString(16)}, twin 0x${twin[k].toString(16)}`;
  const every = Uint16Array.from({ length: 0x10000 - 1 }, (_, h) => h);
  const wideNative = new Float32Array(every.length);
  const wideTwin = new Float32Array(every.length);
  addon.decodeHalf(format, every, wideNative);
  decodeHalf(format, every, wideTwin);
  return Buffer.from(wideNative.buffer).equals(Buffer.from(wideTwin.buffer)) ? null : 'the widening of some 16-bit pattern';
}
